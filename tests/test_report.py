"""`ffbench report`: built from what `ffbench eval` recorded, checked as files and in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from pixel_shards import write_data

from ffbench.cli import main
from ffbench.video import read_video, write_video


def _run(args: list[str]) -> str:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    """Three real test videos; `static` (generated) and `shaky` (the real videos plus noise) scored by
    `ffbench eval` on paired and weight-free metrics into one leaderboard."""
    root = tmp_path_factory.mktemp("report")
    write_data(root / "data", {"test": 3}, frames=12)
    split = root / "data" / "shards" / "test"
    _run(["generate", str(split), "--model", "static", "-o", str(root / "static"), "--no-progress"])
    shaky = root / "shaky"
    shaky.mkdir()
    rng = np.random.default_rng(0)
    for mp4 in sorted((root / "static").glob("*.mp4")):
        from ffbench.datasets.shards import iter_split_entries

        real = dict(iter_split_entries(split, "mp4"))[mp4.stem]
        frames = read_video(real)[:12].astype(np.int16)
        noisy = np.clip(frames + rng.integers(-30, 31, frames.shape), 0, 255).astype(np.uint8)
        write_video(shaky / mp4.name, noisy, fps=30)
    (shaky / "generation.json").write_text(json.dumps({"model": "shaky", "flags": ["hand-made for a test"]}))
    for method in ("static", "shaky"):
        _run(["eval", "--metric", "psnr,l1,motion,colour-drift", "--real", str(split), "--fake",
              str(root / method), "--method", method, "--leaderboard-dir", str(root / "leaderboard"),
              "--dataset", "tiny", "--cache-dir", str(root / "cache")])
    return root


@pytest.fixture(scope="module")
def report_dir(evaluated) -> Path:
    out = evaluated / "report"
    _run(["report", "--leaderboard-dir", str(evaluated / "leaderboard"), "-o", str(out), "--no-progress"])
    return out


def test_the_report_is_one_self_contained_folder(report_dir, evaluated):
    html = (report_dir / "index.html").read_text(encoding="utf-8")
    for title in ("Paired metrics", "Diagnostics", "worst videos", "Plots", "Published results"):
        assert title in html, title
    assert "hand-made for a test" in html  # a method's flags travel from generation.json to the page
    # every relative link points into the folder, and the folder still works once moved
    moved = evaluated / "moved-report"
    shutil.copytree(report_dir, moved)
    links = [part.split('"')[0] for key in ('src="', 'poster="') for part in html.split(key)[1:]]
    assert links and all(not link.startswith(("/", "file:", "http")) for link in links)
    assert all((moved / link).is_file() for link in links)
    posters = [part.split('"')[0] for part in html.split('poster="')[1:]]
    assert len(posters) == 9 and all((report_dir / p).with_suffix(".mp4").is_file() for p in posters)
    assert len(list((report_dir / "videos" / "real").glob("*.mp4"))) == 3
    assert len(list(report_dir.glob("sheets/*.png"))) == 3


def test_the_reports_better_than_is_the_leaderboards_paired_verdict(evaluated, report_dir):
    """The report reads the per-video store as `ffbench leaderboard` does: same titles, same rule (the
    paired difference, not the interval overlap the report used before it read the store)."""
    from html import escape

    board = _run(["leaderboard", "--dir", str(evaluated / "leaderboard"), "--dataset", "tiny"])
    titles = [line[4:] for line in board.splitlines() if line.startswith("### ") and " on tiny" in line]
    paired = [t for t in titles if t.startswith(("PSNR", "L1"))]
    assert len(paired) == 2 and all("paired difference on the shared test ids" in t for t in paired)
    html = (report_dir / "index.html").read_text(encoding="utf-8")
    for title in titles:
        assert f"<h3>{escape(title)}" in html, title
    summary = html.split('id="summary"')[1].split("</section>")[0]
    assert "PSNR, L1: better than = paired difference on the shared test ids" in summary


def _summary_rows(evaluated: Path) -> pd.DataFrame:
    """Three made-up methods on the fixture's PSNR and L1 protocols, with intervals that set them apart:
    PSNR good > mid > bad, L1 (lower is better) bad < mid < good; `bad` carries a privileged-input flag
    on every row, every PSNR row a short-videos flag."""
    from ffbench.leaderboard import read_leaderboard

    df = read_leaderboard(evaluated / "leaderboard", "tiny")
    base = {m: df[(df["method"] == "static") & (df["metric"] == m)].iloc[-1] for m in ("psnr", "l1")}
    values = {"psnr": {"good": 30.0, "mid": 25.0, "bad": 20.0},
              "l1": {"good": 0.03, "mid": 0.02, "bad": 0.01}}
    rows = []
    for metric, by_method in values.items():
        for method, value in by_method.items():
            flags = ["short videos: 12 frames used (3 videos)"] if metric == "psnr" else []
            if method == "bad":
                flags.append("privileged-input: ground-truth flow")
            width = value / 50
            rows.append({**base[metric].to_dict(), "method": method, "value": value, "ci_low": value - width,
                         "ci_high": value + width, "flags": "; ".join(flags)})
    return pd.DataFrame(rows)


def test_the_summary_marks_the_best_the_beaten_and_each_flag_once(evaluated):
    from ffbench.report.flags import FlagIndex
    from ffbench.report.summary import summary_section

    section = summary_section(_summary_rows(evaluated), None, ["good", "mid", "bad"], FlagIndex())
    html = "".join(section.body)
    table = html.split("<tbody>")[1].split("</tbody>")[0]
    head = html.split("<thead>")[1].split("</thead>")[0]
    cells = {row.split("</span> ")[1].split("<")[0]: row.split("<td>")[1:] for row in table.split("<tr>")[1:]}
    assert list(cells) == ["good", "mid", "bad"]  # rows in the given order, lettered A, B, C
    psnr, l1 = ({m: c[i] for m, c in cells.items()} for i in (0, 1))
    # the registry's direction: PSNR higher, L1 lower is better
    assert psnr["good"].startswith("<b>30</b>") and l1["bad"].startswith("<b>0.01</b>")
    assert "<b>" not in psnr["bad"] + psnr["mid"] + l1["good"] + l1["mid"]
    assert "&gt;all</sup>" in psnr["good"] and "&gt;all</sup>" in l1["bad"]
    assert "&gt;C</sup>" in psnr["mid"] and "&gt;A</sup>" in l1["mid"]
    assert "beats" not in psnr["bad"] + l1["good"]
    # a flag of every PSNR row: one mark on the PSNR column; a flag of every row of `bad`: one on its row
    assert head.count('class="fn"') == 1 and "short videos" in head.split("L1")[0]
    bad_row = table.split("<tr>")[3]
    assert bad_row.split("</th>")[0].count("privileged-input") == 1
    assert "privileged-input" not in bad_row.split("</th>")[1] and 'class="fn"' not in "".join(psnr.values())
    legend = html.split('<ol class="flags">')[1]
    assert legend.count("<li") == 2 and legend.count("privileged-input: ground-truth flow") == 1
    assert "short videos: 12 frames used" in legend and "(here: 3 videos)" in legend


def test_flags_of_one_kind_share_a_number_and_an_interval_reason_stays_whole():
    from ffbench.report.flags import FlagIndex, split_flags

    cell = ("random-init; no interval: N<=dim (16<=400 distinct rows): singular; compare methods by their "
            "paired difference; privileged-input: ground-truth flow")
    assert split_flags(cell) == [
        "random-init",
        "no interval: N<=dim (16<=400 distinct rows): singular; compare methods by their paired difference",
        "privileged-input: ground-truth flow"]
    index = FlagIndex()
    first = index.marks(["N<=dim (16<=400): biased", "upsampled: 64x48 (bilinear)"])
    second = index.marks(["N<=dim (256<=2048): biased"])
    assert ">[1]<" in first and ">[2]<" in first and second.endswith(">[1]</sup>")
    assert 'title="N&lt;=dim (256&lt;=2048): biased"' in second  # the cell's own text on hover
    legend = index.legend(index.numbers())
    assert len(legend) == 2 and "16&lt;=400, 256&lt;=2048" in legend[0] and "(bilinear)" in legend[1]


def test_worst_videos_are_ranked_by_paired_psnr(report_dir):
    html = (report_dir / "index.html").read_text(encoding="utf-8")
    worst = html.split('id="worst"')[1].split("</section>")[0]
    for method in ("static", "shaky"):
        block = worst.split(f"<h3>{method}</h3>")[1].split("</table>")[0]
        values = [float(cell.split("</td>")[0]) for cell in block.split("<td>")[1:] if cell[:1].isdigit()
                  and "." in cell.split("</td>")[0] and float(cell.split("</td>")[0]) > 1]
        assert values == sorted(values) and len(values) == 3


def test_a_missing_videos_folder_is_named(evaluated, tmp_path):
    result = CliRunner().invoke(main, ["report", "--leaderboard-dir", str(evaluated / "leaderboard"), "-o",
                                       str(tmp_path / "r"), "--method", f"static={tmp_path / 'nowhere'}"])
    assert result.exit_code == 1
    assert "nowhere" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob(".r.tmp-*"))


def test_the_report_renders_in_chromium_in_reading_order_with_posters(report_dir):
    from browser import SCREEN, open_page

    with open_page(report_dir / "index.html") as driver:
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        assert len(driver.find_elements("css selector", "table.leaderboard")) >= 3
        # the answer first: summary table, then the videos, then the plots, then the details and full tables
        tops = driver.execute_script(
            "return ['summary', 'videos', 'plots', 'details', 'leaderboard-paired', 'worst'].map(id => "
            "document.getElementById(id).getBoundingClientRect().top);")
        assert tops == sorted(tops) and len(set(tops)) == len(tops), tops
        table = driver.execute_script("const r = document.getElementById('summary-table')"
                                      ".getBoundingClientRect(); return [r.top, r.bottom, innerHeight];")
        assert table[2] == SCREEN[1] and 0 <= table[0] < table[1] <= SCREEN[1], table  # on the first screen
        videos = driver.find_elements("css selector", "video")
        assert len(videos) == 9  # 3 test videos x (real, static, shaky)
        # nothing loads until played; every player has a still that loads
        players = driver.execute_script(
            "return [...document.querySelectorAll('video')].map(v => [v.getAttribute('preload'), "
            "v.getAttribute('poster'), v.readyState]);")
        assert all(p == "none" and poster and ready == 0 for p, poster, ready in players), players
        posters = driver.execute_script(
            "return Promise.all([...document.querySelectorAll('video')].map(v => new Promise(r => {"
            "  const i = new Image(); i.onload = () => r([v.poster, i.naturalWidth]);"
            "  i.onerror = () => r([v.poster, 0]); i.src = v.poster; })));")
        assert len(posters) == 9 and all(width > 0 for _, width in posters), posters
        state = driver.execute_script(
            "const vs = [...document.querySelectorAll('video')]; vs.forEach(v => { v.preload = 'metadata'; "
            "v.load(); });"
            "return Promise.all(vs.map(v => v.readyState >= 1 ? 1 : new Promise(r => {"
            "  v.addEventListener('loadedmetadata', () => r(1)); v.addEventListener('error', () => r(0));"
            "  setTimeout(() => r(v.readyState >= 1 ? 1 : 0), 15000); })));")
        assert state == [1] * len(videos)
        images = driver.execute_script(
            "return [...document.images].map(i => "
            "[i.getAttribute('src'), i.complete && i.naturalWidth > 0]);")
        assert images and all(ok for _, ok in images), images
