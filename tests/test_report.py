"""`ffbench report`: built from what `ffbench eval` recorded, checked as files and in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
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
    links = [part.split('"')[0] for part in html.split('src="')[1:]]
    assert links and all(not link.startswith(("/", "file:", "http")) for link in links)
    assert all((moved / link).is_file() for link in links)
    assert len(list((report_dir / "videos" / "real").glob("*.mp4"))) == 3
    assert len(list(report_dir.glob("sheets/*.png"))) == 3


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


def test_the_report_renders_in_chromium_without_errors(report_dir):
    from browser import open_page

    with open_page(report_dir / "index.html") as driver:
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        assert len(driver.find_elements("css selector", "table.leaderboard")) >= 3
        videos = driver.find_elements("css selector", "video")
        assert len(videos) == 9  # 3 test videos x (real, static, shaky)
        state = driver.execute_script(
            "const vs = [...document.querySelectorAll('video')];"
            "return Promise.all(vs.map(v => v.readyState >= 1 ? 1 : new Promise(r => {"
            "  v.addEventListener('loadedmetadata', () => r(1)); v.addEventListener('error', () => r(0));"
            "  setTimeout(() => r(v.readyState >= 1 ? 1 : 0), 15000); })));")
        assert state == [1] * len(videos)
        images = driver.execute_script(
            "return [...document.images].map(i => "
            "[i.getAttribute('src'), i.complete && i.naturalWidth > 0]);")
        assert images and all(ok for _, ok in images), images
