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
from ffbench.report.page import Section, flag_spans, page, table_html, video_cell
from ffbench.report.sources import (
    MethodVideos,
    ReportInputError,
    method_folders,
    read_method,
    read_real,
    real_source,
)

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


def _table_flags(rows: pd.DataFrame, family: str) -> list[str]:
    flags = []
    if rows["extractor_sha256"].astype(str).str.startswith("random-init").any():
        flags.append("random-init extractor: compares methods within this table only")
    if family == "distribution":
        ns = sorted({int(float(n)) for n in rows["n_fake"] if str(n) not in ("", "nan")})
        if ns and min(ns) < N_BIAS_BELOW:
            flags.append(f"N bias: {'/'.join(map(str, ns))} videos (< {N_BIAS_BELOW}); the value depends on "
                         "N, compare only rows of equal N")
    for text in rows.get("flags", []):
        for flag in str(text).split(";"):
            if flag.strip() and flag.strip() not in flags:
                flags.append(flag.strip())
    return flags


def _family(row: pd.Series) -> str:
    from ffbench.leaderboard import _family as leaderboard_family

    return leaderboard_family(row)


def _say(message: str, progress: bool) -> None:
    if progress:
        print(f"report: {message}", file=sys.stderr, flush=True)


def _leaderboard_sections(df: pd.DataFrame) -> list[Section]:
    from ffbench.leaderboard import families, leaderboard_tables

    sections = []
    groups = _latest_groups(df)
    n = 0
    for kind, heading in families().items():
        tables = leaderboard_tables(df, family=kind)
        if not tables:
            continue
        section = Section(f"leaderboard-{kind}", heading)
        kind_groups = [rows for _, rows in groups if _family(rows.iloc[0]) == kind]
        for (title, table), rows in zip(tables, kind_groups, strict=True):
            n += 1
            section.body.append(f"<h3>{escape(title)}</h3>")
            flags = _table_flags(rows, kind)
            if flags:
                section.body.append(f"<p>{flag_spans(flags)}</p>")
            section.body.append(table_html(table, f"table-{n}"))
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
                        "frame; the contact sheet below shows frames 0, 3, 7, 11 and 15.</p>")
    scores: dict[str, list[tuple[str, float, float]]] = {m.name: [] for m in methods}
    for i, vid in enumerate(ids):
        _say(f"video {i + 1}/{len(ids)}: {vid}", progress)
        cells = []
        media.copy_video(real[vid], tmp / "videos" / "real" / f"{vid}.mp4")
        cells.append(video_cell(f"videos/real/{vid}.mp4", "real"))
        real_frames = media.decode(real[vid])
        rows = [("real", real_frames)]
        for m in methods:
            src = m.videos.get(vid)
            if src is None:
                cells.append(video_cell(None, m.name))
                rows.append((m.name, None))
                continue
            rel = f"videos/{_slug(m.name)}/{vid}.mp4"
            media.copy_video(src, tmp / rel)
            cells.append(video_cell(rel, m.name))
            fake = media.decode(src)
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
    from ffbench.leaderboard import read_leaderboard

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
        sections = _leaderboard_sections(df)
        published = _published_section(df)
        if published is not None:
            sections.append(published)
        _say("plots", progress)
        plot_section, n_plots = _plot_section(df, tmp / "plots")
        sections.append(plot_section)
        players, worst, n_videos = _video_sections(real_items, sets, ids, tmp, progress)
        sections += [worst, players]
        method_lines = [f"<b>{escape(m.name)}</b>: {len(m.videos)} videos from {escape(str(m.folder))} "
                        f"{flag_spans(m.flags)}" for m in sets]
        intro = [f"Dataset <b>{escape(datasets[0])}</b>; real set {escape(str(real_path))}; written "
                 f"{datetime.now(UTC).isoformat(timespec='seconds')} by ffbench {escape(__version__)}.",
                 *method_lines]
        html = page(f"ffbench report: {datasets[0]}", intro, sections)
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
