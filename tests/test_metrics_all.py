"""`ffbench eval --metric all` offline: every metric runs, LPIPS is skipped with its reason (not an error
that stops the others), random-init rows say so, and the leaderboard CSV keeps its documented columns."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ffbench.commands.evaluate import evaluate as eval_command
from ffbench.leaderboard import COLUMNS
from ffbench.metrics.protocols import METRICS, PROTOCOLS
from ffbench.video import write_video


def walker(seed: int, frames: int = 16, h: int = 48, w: int = 64) -> np.ndarray:
    """A textured square walking across a gradient background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.stack([xx * 3, yy * 4, np.full_like(xx, 90)], -1).astype(np.uint8)
    patch = rng.integers(0, 255, (14, 14, 3), dtype=np.uint8)
    out = np.repeat(bg[None], frames, 0)
    for t in range(frames):
        x = 4 + seed + 2 * t
        out[t, 12:26, x:x + 14] = patch
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("all")
    real, fake = root / "real", root / "fake"
    real.mkdir()
    fake.mkdir()
    for i in range(4):
        write_video(real / f"v{i}.mp4", walker(i), 30)
        write_video(fake / f"v{i}.mp4", walker(i + 7), 30)
    return {"real": real, "fake": fake}


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No weights anywhere and downloads off; the network protocols at reduced input sizes."""
    monkeypatch.setenv("FFBENCH_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("FFBENCH_CACHE", str(tmp_path / "ffbench-cache"))
    small = {k: p.replace(size=(64, 64) if p.network == "i3d" else (75, 75)) if p.size else p
             for k, p in PROTOCOLS.items()}
    monkeypatch.setattr("ffbench.metrics.evaluate.PROTOCOLS", small)
    return tmp_path


def test_all_runs_every_metric_offline_and_skips_lpips_with_its_reason(folders, offline):
    board = offline / "board"
    args = ["--metric", "all", "--real", str(folders["real"]), "--fake", str(folders["fake"]), "--method",
            "mine", "--i3d", "random", "--i3d-vfid", "random", "--inception", "random", "--leaderboard-dir",
            str(board), "--dataset", "toy", "--weights-dir", str(offline / "weights"), "--no-cache",
            "--recal-items", "4", "--bootstrap", "20", "--threads", "1"]
    result = CliRunner().invoke(eval_command, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "skipped lpips: lpips: vgg16-397923af.pth" in out and "offline" in out
    assert "random-init: randomly initialised extractors" in out
    with (board / "toy.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS  # the columns the report reads, in their documented order
        rows = {r["metric"]: r for r in reader}
    assert set(rows) == set(METRICS) - {"lpips"}
    networks = {"fvd", "fvd-stylegan-v", "fvd-cdfvd", "kvd", "vfid", "fid", "is"}
    for metric, row in rows.items():
        label = "random-init" if metric in networks else "weight-free"
        assert row["extractor_sha256"].startswith(label), (metric, row["extractor_sha256"])
        assert np.isfinite(float(row["value"])), metric
        # A biased statistic at this N (3 videos) may have no valid interval: both bounds empty then.
        none = row["ci_low"] == row["ci_high"] == ""
        assert none or float(row["ci_low"]) <= float(row["ci_high"]), metric
        assert not none or row["family"] == "distribution", metric
    assert {rows[m]["family"] for m in ("psnr", "ssim", "l1")} == {"paired"}
    diagnostics = ("motion", "colour-drift", "saturation-drift", "detail-drift", "flicker")
    assert {rows[m]["family"] for m in diagnostics} == {"diagnostic"}
    assert "adaptation" in rows["fvmd-flow"]["flags"]
    # In the printed table every network row is labelled random-init.
    table = [line for line in out.splitlines() if line[:17].rstrip() in METRICS and line[16:17] == " "]
    assert len(table) == len(rows)
    for line in table:
        assert ("random-init" in line) == (line[:17].rstrip() in networks), line


def test_lpips_by_name_offline_is_one_error_naming_the_file(folders, offline):
    args = ["--metric", "psnr,lpips", "--real", str(folders["real"]), "--fake", str(folders["fake"]),
            "--method", "mine", "--no-leaderboard", "--no-cache", "--threads", "1"]
    result = CliRunner().invoke(eval_command, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "vgg16-397923af.pth" in result.output and "--lpips-vgg" in result.output
