"""Build the report folder from a leaderboard (see the package docstring)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path

import pandas as pd

from ffbench import __version__
from ffbench.report import media, plots
from ffbench.report.flags import FlagIndex, split_flags
from ffbench.report.page import Section, page, table_html, video_cell
from ffbench.report.sources import (
    MethodVideos,
    ReportInputError,
    method_folders,
    read_method,
    read_real,
    real_source,
)
from ffbench.report.summary import summary_section

# datetime.UTC is Python 3.11+: this name keeps the module importable on 3.10.
UTC = timezone.utc

WORST = 5
# FVD, KVD, FID and their kin are biased by the number of samples: below this they are flagged.
N_BIAS_BELOW = 2048


@dataclass
class ReportResult:
    index: Path
    methods: list[str]
    videos: int
    plots: int
    sheets: int


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "method"


def _latest_groups(df: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    """One group per leaderboard table (dataset, metric, protocol, extractor), the newest row per method."""
    keys = ["dataset", "metric", "protocol", "extractor_sha256"]
    out = []
    for key, group in df.groupby(keys, sort=True):
        out.append((key, group.sort_values("time").groupby("method", sort=False).tail(1)))
    return out


def _table_notes(rows: pd.DataFrame, family: str) -> list[str]:
    """Notes the report adds to a whole table (the rows' own flags are in its flags column)."""
    if family != "distribution":
        return []
    ns = sorted({int(float(n)) for n in rows["n_fake"] if str(n) not in ("", "nan")})
    if ns and min(ns) < N_BIAS_BELOW:
        return [f"N bias ({'/'.join(map(str, ns))} videos < {N_BIAS_BELOW}): the value depends on N, compare "
                "only rows of equal N"]
    return []


def _family(row: pd.Series) -> str:
    from ffbench.leaderboard import _family as leaderboard_family

    return leaderboard_family(row)


def _say(message: str, progress: bool) -> None:
    if progress:
        print(f"report: {message}", file=sys.stderr, flush=True)


def _leaderboard_sections(df: pd.DataFrame, store: pd.DataFrame | None, index: FlagIndex,
                          features=None) -> list[Section]:
    """The full tables, one section per family; each row's flags become marks of `index`."""
    from ffbench.leaderboard import families, leaderboard_tables

    sections = []
    groups = _latest_groups(df)
    n = 0
    for kind, heading in families().items():
        tables = leaderboard_tables(df, family=kind, store=store, features=features)
        if not tables:
            continue
        section = Section(f"leaderboard-{kind}", heading)
        kind_groups = [rows for _, rows in groups if _family(rows.iloc[0]) == kind]
        for (title, table), rows in zip(tables, kind_groups, strict=True):
            n += 1
            marks = index.marks(_table_notes(rows, kind))
            section.body.append(f"<h3>{escape(title)}{marks}</h3>")
            if "flags" in table.columns:
                table = table.assign(flags=[index.marks(split_flags(f)) for f in table["flags"]])
            section.body.append(table_html(table, f"table-{n}", raw=("flags",)))
        sections.append(section)
    return sections


def _plot_section(df: pd.DataFrame, folder: Path) -> tuple[Section, int]:
    section = Section("plots", "Plots: every metric with its 95% interval; diagnostics over the video")
    count = 0
    bars, curves = [], []
    for (dataset, metric, _protocol, sha), rows in _latest_groups(df):
        kind = _family(rows.iloc[0])
        diagnostic = kind == "diagnostic"
        label = " (random-init)" if str(sha).startswith("random-init") else ""
        title = f"{metric}{label} on {dataset}" + (": generated / real" if diagnostic else "")
        name = f"{_slug(metric)}-{count}.png"
        plots.bar_chart(rows, title, folder / name, diagnostic)
        bars.append(f'<img src="plots/{name}" alt="{escape(title)}">')
        count += 1
        if diagnostic and plots.curve_plot(rows, metric, folder / f"curve-{name}") is not None:
            curves.append(f'<img src="plots/curve-{name}" alt="{escape(metric)} over the video">')
            count += 1
    section.body.append('<div class="plots">' + "".join(bars) + "</div>")
    if curves:
        section.body.append("<h3>Curves over the video: each method beside the real videos (dashed)</h3>")
        section.body.append('<div class="plots">' + "".join(curves) + "</div>")
    return section, count


def _video_sections(real: dict, methods: list[MethodVideos], ids: list[str], tmp: Path,
                    progress: bool) -> tuple[Section, Section, int]:
    players = Section("videos", "Videos: the real test video and every method, side by side")
    players.body.append('<p class="note">Each row: the real video, then every method from the same first '
                        "frame (a still of the middle contact-sheet frame until played); the contact sheet "
                        "below shows frames 0, 3, 7, 11 and 15.</p>")
    scores: dict[str, list[tuple[str, float, float]]] = {m.name: [] for m in methods}
    for i, vid in enumerate(ids):
        _say(f"video {i + 1}/{len(ids)}: {vid}", progress)
        cells = []
        media.copy_video(real[vid], tmp / "videos" / "real" / f"{vid}.mp4")
        real_frames = media.decode(real[vid])
        media.write_poster(real_frames, tmp / "videos" / "real" / f"{vid}.png")
        cells.append(video_cell(f"videos/real/{vid}.mp4", "real", f"videos/real/{vid}.png"))
        rows = [("real", real_frames)]
        for m in methods:
            src = m.videos.get(vid)
            if src is None:
                cells.append(video_cell(None, m.name))
                rows.append((m.name, None))
                continue
            rel = f"videos/{_slug(m.name)}/{vid}"
            media.copy_video(src, tmp / f"{rel}.mp4")
            fake = media.decode(src)
            media.write_poster(fake, tmp / f"{rel}.png")
            cells.append(video_cell(f"{rel}.mp4", m.name, f"{rel}.png"))
            rows.append((m.name, fake))
            psnr, l1 = media.paired_psnr_l1(fake, real_frames)
            scores[m.name].append((vid, psnr, l1))
        sheet = media.contact_sheet(rows, media.sheet_frames(len(real_frames)))
        sheet.save(tmp / "sheets" / f"{vid}.png")
        players.body.append(f'<h3 id="video-{escape(vid)}">{escape(vid)}</h3>')
        players.body.append(f'<table class="players"><tr>{"".join(cells)}</tr></table>')
        players.body.append(f'<img src="sheets/{escape(vid)}.png" alt="contact sheet of {escape(vid)}">')
    worst = Section("worst", f"The {WORST} worst videos of each method by paired PSNR (frames 1..F-1)")
    for m in methods:
        ranked = sorted(scores[m.name], key=lambda s: s[1] if math.isfinite(s[1]) else -math.inf)[:WORST]
        if not ranked:
            continue
        table = pd.DataFrame({
            "video": [f'<a href="#video-{escape(v)}">{escape(v)}</a>' for v, _, _ in ranked],
            "PSNR (dB)": [f"{p:.2f}" for _, p, _ in ranked],
            "L1": [f"{x:.4f}" for _, _, x in ranked],
        })
        worst.body.append(f"<h3>{escape(m.name)}</h3>")
        worst.body.append(table.to_html(index=False, escape=False, border=0, classes="worst"))
    return players, worst, len(ids)


def _flags_list(index: FlagIndex, in_summary: list[int]) -> str:
    """Every flag explained once: those of the summary under it, the rest here."""
    rest = [n for n in index.numbers() if n not in in_summary]
    head = "<h3>Flags</h3>"
    if in_summary:
        marks = "Mark [1] is" if len(in_summary) == 1 else f"Marks [1]-[{in_summary[-1]}] are"
        head += (f'<p class="note">{marks} explained under the '
                 "summary table; hover a mark for its cell's exact text.</p>")
    if not rest:
        return head
    return head + '<ol class="flags">' + "".join(index.legend(rest)) + "</ol>"


def _published_section(df: pd.DataFrame) -> Section | None:
    try:
        from ffbench.published import comparison_table
    except ImportError:
        return None
    section = Section("published", "Published results on UBC Fashion, beside ours where comparable")
    table = comparison_table(df)
    section.body.append('<p class="note">A published number stands next to ours only where the protocol, '
                        "the task and the data are the same and our extractor is the real one; the last "
                        "column says why not otherwise.</p>")
    section.body.append(table_html(table, "table-published"))
    return section


def build_report(leaderboard: str | Path, out: str | Path, dataset: str | None = None,
                 real: str | Path | None = None, methods: dict[str, str | Path] | None = None,
                 max_videos: int | None = None, base: str | Path | None = None,
                 progress: bool = True) -> ReportResult:
    """Write `out/index.html` and its files from the rows of `leaderboard` (a CSV or a folder of them).

    `real` and `methods` ({name: folder}) replace the folders the rows name; relative folders in the rows
    are taken from `base` (default: the current directory, where `ffbench eval` ran). `max_videos` limits
    the test videos shown (default: all).
    """
    from ffbench.feature_store import FeatureStore
    from ffbench.leaderboard import read_leaderboard
    from ffbench.per_video_store import read_store

    base = Path(base) if base is not None else Path.cwd()
    out = Path(out)
    try:
        df = read_leaderboard(leaderboard, dataset)
    except ValueError as err:
        raise ReportInputError(str(err)) from err
    datasets = sorted(set(df["dataset"]))
    if len(datasets) > 1:
        raise ReportInputError(f"{leaderboard} holds {len(datasets)} datasets ({', '.join(datasets)}); pass "
                               "--dataset NAME for one report per dataset")
    try:  # the per-video values that make "better than" the leaderboard's paired verdict
        store = read_store(leaderboard, datasets[0])
    except (OSError, ValueError) as err:
        raise ReportInputError(f"the per-video store beside {leaderboard} cannot be read ({err}); move "
                               "its per_video/ folder aside to fall back to the interval rule") from err
    # the distribution metrics' kept features: their paired verdicts, as `ffbench leaderboard` gives them
    features = FeatureStore(Path(leaderboard).parent if Path(leaderboard).is_file() else Path(leaderboard))
    overrides = {k: Path(v) for k, v in (methods or {}).items()}
    real_path = real_source(df, base, Path(real) if real is not None else None)
    sets = [read_method(name, folder, flags) for name, folder, flags in method_folders(df, base, overrides)]
    real_items = read_real(real_path)
    ids = sorted(vid for vid in real_items if any(vid in m.videos for m in sets))
    if not ids:
        raise ReportInputError(f"no generated video has the id of a real video in {real_path}; were they "
                               "generated from this real set?")
    ids = ids[:max_videos] if max_videos else ids

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for sub in ("plots", "sheets", "videos"):
            (tmp / sub).mkdir(parents=True)
        _say(f"{len(sets)} methods, {len(ids)} test videos, {len(df)} leaderboard rows", progress)
        index = FlagIndex()  # one number per kind of flag on the whole page, the summary's first
        summary = summary_section(df, store, [m.name for m in sets], index, features)
        in_summary = index.numbers()
        players, worst, n_videos = _video_sections(real_items, sets, ids, tmp, progress)
        _say("plots", progress)
        plot_section, n_plots = _plot_section(df, tmp / "plots")
        details = Section("details", "Details: the full tables, protocols, published results and flags")
        tables = _leaderboard_sections(df, store, index, features)
        published = _published_section(df)
        details.body += [f'<p class="note"><b>{escape(m.name)}</b>: {len(m.videos)} videos from '
                         f"{escape(str(m.folder))}{index.marks(m.flags)}</p>" for m in sets]
        details.body.append(_flags_list(index, in_summary))
        sections = [summary, players, plot_section, details, *tables,
                    *([published] if published is not None else []), worst]
        intro = [f"Dataset <b>{escape(datasets[0])}</b>; real set {escape(str(real_path))}; "
                 f"{len(sets)} methods, {n_videos} test videos; written "
                 f"{datetime.now(UTC).isoformat(timespec='seconds')} by ffbench {escape(__version__)}."]
        nav = {"summary": "summary", "videos": "videos", "plots": "plots", "details": "details",
               **{s.anchor: s.anchor.replace("leaderboard-", "") + " tables" for s in tables},
               **({"published": "published"} if published is not None else {}), "worst": "worst videos"}
        html = page(f"ffbench report: {datasets[0]}", intro, sections, nav)
        (tmp / "index.html").write_text(html, encoding="utf-8")
        (tmp / "report.json").write_text(json.dumps({
            "dataset": datasets[0], "real": str(real_path), "methods": {m.name: str(m.folder) for m in sets},
            "videos": ids}, indent=2), encoding="utf-8")
        if out.exists():  # a folder cannot be renamed onto a non-empty one: move the old one aside first
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ReportResult(out / "index.html", [m.name for m in sets], n_videos, n_plots, n_videos)
