"""`generate` under torchrun (gloo on the CPU): the test ids split between 2 or 3 processes give the files one
process writes, byte for byte; a kill -9 of one rank leaves whole videos only and a rerun resumes to the same
bytes; a bad image that only rank 1 reads stops every rank with its message, not a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from pixel_shards import write_data
from test_fashionflow_helpers import tiny_pipeline
from torchrun_kill import kill_rank_at

from ffbench.cli import main
from ffbench.distributed import TIMEOUT_ENV, group_timeout, share, single_process
from ffbench.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "HF_HUB_OFFLINE": "1",
       "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", TIMEOUT_ENV: "60"}


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("dist"), {"test": 5}, frames=6) / "shards" / "test"


STATIC = ("--model", "static", "--frames", 4, "--no-progress")


@pytest.fixture(scope="module")
def static_one(split, tmp_path_factory):
    """The one-process set the torchrun runs are compared with."""
    out = tmp_path_factory.mktemp("one") / "samples"
    _one(split, *STATIC, "-o", out)
    return out


def _torchrun(n: int, *args) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}", "--standalone",
            "-m", "ffbench.cli", "generate", *map(str, args)]


def _run(n: int, *args, expect: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(_torchrun(n, *args), env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == expect, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def _one(*args) -> None:
    result = CliRunner().invoke(main, ["generate", *map(str, args)])
    assert result.exit_code == 0, result.output


def _videos(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.mp4"))}


def _record(folder: Path) -> dict:
    return json.loads((folder / "generation.json").read_text())


def test_the_share_rule_and_the_timeout_setting(monkeypatch):
    from ffbench.distributed import DistInfo

    names = ["c", "a", "e", "b", "d"]
    for n in (1, 2, 3):
        parts = [share(names, DistInfo(r, n, r, torch.device("cpu"))) for r in range(n)]
        assert sorted(sum(parts, [])) == sorted(names)  # every id once, on exactly one rank
        assert parts[0] == sorted(names)[::n]  # rank r takes the sorted ids r, r + N, ...
    assert share(names, single_process()) == sorted(names)
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert group_timeout().total_seconds() == 1800
    monkeypatch.setenv(TIMEOUT_ENV, "90")
    assert group_timeout().total_seconds() == 90
    for bad in ("0", "soon", "-5"):
        monkeypatch.setenv(TIMEOUT_ENV, bad)
        with pytest.raises(UserError, match=f"{TIMEOUT_ENV}='{bad}'.*seconds"):
            group_timeout()


def test_two_processes_write_the_files_of_one(split, static_one, tmp_path):
    proc = _run(2, split, *STATIC, "-o", tmp_path / "two")
    assert _videos(tmp_path / "two") == _videos(static_one) and len(_videos(static_one)) == 5
    one, two = _record(static_one), _record(tmp_path / "two")
    assert (one.pop("processes"), two.pop("processes")) == (1, 2) and one == two
    assert proc.stdout.count("static: wrote 5 videos") == 1  # the summary on rank 0 only
    assert "by 2 processes" in proc.stdout
    assert not (tmp_path / "two" / ".generate-resume.json").exists()


def test_three_processes_sample_fashionflow_as_one(tmp_path):
    torch.manual_seed(0)
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path / "pipeline")
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("d", "a", "c", "b"):  # shares of 2, 1 and 1 videos
        Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(images / f"{name}.png")
    args = (images, "--checkpoint", tmp_path / "pipeline", "--frames", 3, "--steps", 2, "--seed", 5,
            "--no-progress")
    _one(*args, "-o", tmp_path / "one")
    _run(3, *args, "-o", tmp_path / "three")
    assert _videos(tmp_path / "three") == _videos(tmp_path / "one") and len(_videos(tmp_path / "one")) == 4
    one, three = _record(tmp_path / "one"), _record(tmp_path / "three")
    assert (one.pop("processes"), three.pop("processes")) == (1, 3) and one == three


def test_a_killed_rank_leaves_whole_videos_and_the_rerun_gives_the_same_bytes(split, static_one, tmp_path):
    args = (split, *STATIC)
    out = tmp_path / "killed"
    # each rank stops after its first video; rank 1 dies there and torchrun stops rank 0 (SIGTERM)
    status, _, _ = kill_rank_at(_torchrun(2, *args, "-o", out), ENV, "between-videos", ready_seconds=90)
    assert status != 0
    # rank 0 took test0, test2, test4 and rank 1 test1, test3: the first of each is whole and in place
    assert sorted(p.name for p in out.iterdir()) == [".generate-resume.json", "test0.mp4", "test1.mp4"]
    kept = {name: (out / name).stat().st_mtime_ns for name in ("test0.mp4", "test1.mp4")}
    (out / ".test3.mp4.tmp-123").write_bytes(b"half a video")  # what a kill during a write leaves
    _one(*args, "-o", out)  # the same command on one process finishes the set
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept  # kept, not regenerated
    assert sorted(p.name for p in out.iterdir()) == ["generation.json"] + [f"test{i}.mp4" for i in range(5)]
    assert _videos(out) == _videos(static_one)


def test_a_bad_image_only_rank_1_reads_stops_every_rank_with_its_message(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "c"):
        Image.new("RGB", (24, 32), (200, 40, 40)).save(images / f"{name}.png")
    (images / "b.png").write_bytes(b"not a png")  # sorted index 1: rank 1's share alone
    out = tmp_path / "out"
    start = time.monotonic()
    proc = _run(2, images, "--model", "static", "--frames", 2, "--no-progress", "-o", out, expect=1)
    assert time.monotonic() - start < 60  # stopped, not waiting for the group's timeout
    output = proc.stdout + proc.stderr
    message = f"Error: image {str(images / 'b.png')!r} cannot be read as an image"
    assert output.count(message) == 1, output  # every rank stopped; rank 0 printed it, rank 1 quietly
    assert [line for line in output.splitlines() if line.startswith("Error:")] == [output[output.index(
        message):].splitlines()[0]]  # and nothing else
    assert not out.exists()  # nothing was written


def test_the_group_gets_the_timeout_and_each_process_its_device(monkeypatch):
    import torch.distributed as dist

    from ffbench.distributed import init_distributed

    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: calls.append(kw))
    monkeypatch.setenv(TIMEOUT_ENV, "42")
    for var, value in (("WORLD_SIZE", "3"), ("RANK", "2"), ("LOCAL_RANK", "1")):
        monkeypatch.setenv(var, value)
    info = init_distributed("cpu")
    assert (info.rank, info.world_size, info.local_rank, info.device) == (2, 3, 1, torch.device("cpu"))
    assert calls == [{"backend": "gloo", "timeout": group_timeout()}]
    assert group_timeout().total_seconds() == 42
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var)
    calls.clear()
    assert init_distributed("cpu") == single_process() and calls == []  # no torchrun: no group


def test_two_images_for_one_video_name_are_refused(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.png", "a.jpg", "b.png"):
        Image.new("RGB", (24, 32)).save(images / name)
    result = CliRunner().invoke(main, ["generate", str(images), "--model", "static", "-o",
                                       str(tmp_path / "o")])
    assert result.exit_code == 1 and "a.jpg and a.png would both be written to a.mp4" in result.output
    assert not (tmp_path / "o").exists()
