"""`eval` under torchrun (gloo on the CPU): the videos split between 2 or 3 processes give every value of the
one-process run (to 1e-12 relative, in practice bit for bit) for distribution metrics on random-init
extractors, paired and weight-free metrics, with their intervals and per-video values; a kill -9 of one
rank leaves no torn cache and no leaderboard row, and the rerun gives the same values; a bad video stops
every rank with its message, not a hang."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from torchrun_kill import kill_rank_at

from ffbench.distributed import TIMEOUT_ENV
from ffbench.video import write_video

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "HF_HUB_OFFLINE": "1",
       "FFBENCH_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", TIMEOUT_ENV: "60",
       "FFBENCH_METRICS": "eval_tiny_protocols"}  # the network inputs at 64x64 / 75x75
# every family: FVD/KVD (I3D), FID/IS (Inception), paired, the diagnostics and fvmd-flow (optical flow)
METRICS = "fvd,kvd,fid,is,psnr,ssim,l1,motion,colour-drift,flicker,fvmd-flow"
# I3D clips in blocks of 2 videos: 5 go to 2 processes as {0, 1, 4} and {2, 3}, to 3 as {0, 1}, {2, 3},
# {4}; Inception frames, paired and weight-free metrics video by video: {0, 2, 4}, {1, 3} and {0, 3}, ...
COMMON = ("--metric", METRICS, "--method", "m", "--dataset", "toy", "--i3d", "random", "--inception",
          "random", "--recal-items", "4", "--bootstrap", "25", "--batch-size", "2",
          "--threads", "1")
VARYING = {"time", "source_run", "fake", "real", "git_commit"}  # the same in every run, or when it ran


def walker(seed: int, frames: int = 19, h: int = 48, w: int = 64) -> np.ndarray:
    """A textured square walking across a gradient background, its speed and texture from `seed`."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.repeat(np.stack([xx * 3, yy * 4, np.full_like(xx, 90)], -1).astype(np.uint8)[None], frames, 0)
    patch = rng.integers(0, 255, (14, 14, 3), dtype=np.uint8)
    for t in range(frames):
        x = 2 + (seed + (1 + seed % 3) * t) % (w - 16)
        out[t, 10 + seed % 5:24 + seed % 5, x:x + 14] = patch
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dist-eval")
    for side, offset in (("real", 0), ("fake", 11)):  # 19 frames: FVD's 16-frame clips start at 0 to 3
        (root / side).mkdir()
        for i in range(5):
            write_video(root / side / f"v{i}.mp4", walker(i + offset), 8)
    return {"real": root / "real", "fake": root / "fake", "root": root}


def _command(n: int, real: Path, fake: Path, out: Path, *extra: str) -> list[str]:
    launch = [sys.executable, "-m", "ffbench.cli"] if n == 1 else \
        [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}", "--standalone", "-m",
         "ffbench.cli"]
    return [*launch, "eval", "--real", str(real), "--fake", str(fake), *COMMON, "--leaderboard-dir",
            str(out / "board"), "--cache-dir", str(out / "cache"), "--weights-dir", str(out / "weights"),
            *extra]


def _eval(n: int, folders, out: Path, expect: int = 0, real: Path | None = None,
          fake: Path | None = None, *extra: str) -> subprocess.CompletedProcess:
    cmd = _command(n, real or folders["real"], fake or folders["fake"], out, *extra)
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=150)
    assert proc.returncode == expect, proc.stdout[-3000:] + proc.stderr[-4000:]
    return proc


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        return {(r["metric"], r.get("variant", "")) if "variant" in r else r["metric"]: r
                for r in csv.DictReader(fh)}


def _store(board: Path) -> dict[tuple, str]:
    """(metric, video, side) -> value of the per-video store (what the paired "better than" reads)."""
    (path,) = (board / "per_video").glob("*.csv")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    key = [k for k in rows[0] if k not in VARYING | {"value", "real_value"}]
    return {tuple(r[k] for k in key): (r["value"], r.get("real_value", "")) for r in rows}


def _same(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a == b
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-12 * max(abs(x), abs(y))


def _assert_same_board(one: Path, many: Path) -> None:
    rows_one, rows_many = _rows(one / "toy.csv"), _rows(many / "toy.csv")
    assert set(rows_one) == set(METRICS.split(",")) == set(rows_many)
    for metric, row in rows_one.items():
        for column, value in row.items():
            if column in VARYING:
                continue
            if column == "detail":  # JSON: per-seed values, curves, real / ratio intervals
                assert row[column] == rows_many[metric][column], (metric, column)
                continue
            assert _same(value, rows_many[metric][column]), (metric, column, value, rows_many[metric][column])
    store_one, store_many = _store(one), _store(many)
    assert store_one.keys() == store_many.keys() and len(store_one) > 0
    for key, (value, real) in store_one.items():
        assert _same(value, store_many[key][0]) and _same(real, store_many[key][1]), key


@pytest.fixture(scope="module")
def baseline(folders, tmp_path_factory) -> Path:
    """The one-process run (no torchrun) every torchrun run is compared with."""
    out = tmp_path_factory.mktemp("one")
    proc = _eval(1, folders, out)
    assert "appended 11 rows" in proc.stdout
    return out / "board"


def test_three_processes_give_every_value_of_one(folders, baseline, tmp_path):
    proc = _eval(3, folders, tmp_path)
    assert proc.stdout.count("appended 11 rows") == 1  # rank 0 alone reports and writes
    assert proc.stdout.count("m on toy:") == 1
    _assert_same_board(baseline, tmp_path / "board")
    caches = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert caches and all(name.endswith(".npz") and ".tmp" not in name for name in caches)


def test_a_killed_rank_leaves_no_torn_file_and_two_processes_rerun_to_the_values_of_one(folders, baseline,
                                                                                        tmp_path):
    # the feature caches are written by the pause point; rank 1 dies there and torchrun stops rank 0
    status, _, _ = kill_rank_at(_command(2, folders["real"], folders["fake"], tmp_path), ENV,
                                "eval-distribution-done")
    assert status != 0
    assert not (tmp_path / "board").exists()  # no row, no per-video store
    cache = sorted((tmp_path / "cache").iterdir())
    assert cache and all(p.suffix == ".npz" and ".tmp" not in p.name for p in cache)
    for p in cache:  # every file is whole
        with np.load(p, allow_pickle=False) as data:
            assert data.files
    stamps = {p.name: p.stat().st_mtime_ns for p in cache if p.name.startswith("features-")}
    proc = _eval(2, folders, tmp_path)  # the same command again
    assert {name: (tmp_path / "cache" / name).stat().st_mtime_ns for name in stamps} == stamps  # reused
    assert proc.stdout.count("appended 11 rows") == 1
    _assert_same_board(baseline, tmp_path / "board")
    # the features two processes cached are the ones one process computes: a fresh pair of processes
    # without the cache gives the same values too (the 3-process test also runs without one)


def test_a_video_only_rank_1_reads_stops_every_rank_with_its_message(folders, tmp_path):
    # Real v1 is unreadable; there is no generated v1 (FVD needs no pairs), so the folder check passes and
    # the BatchNorm re-estimation reads v0 alone: v1 is read by rank 1 only, in its block {1}.
    real = tmp_path / "real"
    real.mkdir()
    for i in (0, 2):
        (real / f"v{i}.mp4").write_bytes((folders["real"] / f"v{i}.mp4").read_bytes())
    (real / "v1.mp4").write_bytes(b"not a video")
    fake = tmp_path / "fake"
    fake.mkdir()
    for i in (0, 2):
        (fake / f"v{i}.mp4").write_bytes((folders["fake"] / f"v{i}.mp4").read_bytes())
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m",
           "ffbench.cli", "eval", "--real", str(real), "--fake", str(fake), "--metric", "fvd", "--method",
           "m", "--i3d", "random", "--recal-items", "1", "--batch-size", "1", "--bootstrap", "0", "--threads",
           "1", "--leaderboard-dir", str(tmp_path / "board"), "--cache-dir", str(tmp_path / "cache")]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=150)
    assert time.monotonic() - start < 60  # stopped, not waiting for the group's timeout
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-4000:]
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(real / "v1.mp4") in errors[0], output[-4000:]  # printed once, by rank 0
    assert "Traceback" not in proc.stdout
    assert not (tmp_path / "board").exists()
    assert not list((tmp_path / "cache").glob("features-*"))  # no features of a set that was not read


def test_a_fake_video_of_another_size_stops_every_rank_with_one_message(folders, tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    for i in range(5):
        frames = walker(i + 11, w=64 if i != 3 else 48)  # v3: rank 1's block {2, 3}
        write_video(fake / f"v{i}.mp4", frames, 8)
    proc = _eval(2, folders, tmp_path, 1, None, fake)
    output = proc.stdout + proc.stderr
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "v3" in output, output[-4000:]
    assert not (tmp_path / "board").exists() and not (tmp_path / "cache").exists()


def test_each_process_reads_its_blocks_and_makes_the_batches_of_one(folders):
    import torch

    from ffbench.distributed import DistInfo, owns
    from ffbench.metrics.features import iter_inputs
    from ffbench.metrics.protocols import PROTOCOLS
    from ffbench.metrics.sources import open_source

    assert [i for i in range(7) if owns(i, DistInfo(1, 2, 1, torch.device("cpu")), 2)] == [2, 3, 6]
    assert all(owns(i, None, 3) for i in range(7))
    source = open_source(folders["real"])
    cpu = torch.device("cpu")
    for protocol in (PROTOCOLS["fvd"].replace(size=(32, 32), frames=12),
                     PROTOCOLS["fid"].replace(size=(8, 8))):
        one = [(b.block, b.videos, b.x) for b in iter_inputs(source, protocol, 3, 2)]
        for n in (2, 3):
            parts = [b for r in range(n)
                     for b in iter_inputs(source, protocol, 3, 2, info=DistInfo(r, n, r, cpu))]
            parts.sort(key=lambda b: b.block)  # stable: a block's batches keep their order
            assert [(b.block, b.videos) for b in parts] == [(b, v) for b, v, _ in one]
            # the same clips (starts seeded by the index in the whole list), in the same batches
            assert all(torch.equal(b.x, x) for b, (_, _, x) in zip(parts, one, strict=True))
