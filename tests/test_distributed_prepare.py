"""`prepare` under torchrun (gloo on the CPU): 2 and 3 processes write the manifests, shards, skipped.csv and
cached per-video samples of one process, byte for byte; a kill -9 of one rank mid-encoder-stage leaves whole
samples only and a rerun on 2 processes or on 1 gives the same bytes; a user error that only rank 1 meets
stops every rank with its message, not a hang."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_prepare import CLI_SMALL, SMALL
from torchrun_kill import kill_rank_at

from ffbench.datasets.prepare import PrepareOptions, prepare
from ffbench.distributed import TIMEOUT_ENV

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "HF_HUB_OFFLINE": "1",
       "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", TIMEOUT_ENV: "60"}


@pytest.fixture(scope="module")
def one(tmp_path_factory) -> Path:
    """The one-process prepare every torchrun run is compared with (the suite's smallest synthetic set)."""
    data = tmp_path_factory.mktemp("one") / "data"
    prepare(data, PrepareOptions(**SMALL))
    return data


def _torchrun(n: int, data: Path) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}", "--standalone",
            "-m", "ffbench.cli", "prepare", "--synthetic", "--quiet", "--out", str(data), *CLI_SMALL]


def _run(n: int, data: Path, expect: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(_torchrun(n, data), env=ENV, capture_output=True, text=True, timeout=150)
    assert proc.returncode == expect, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def _shards(data: Path) -> dict[str, bytes]:
    """Every file under DATA/shards: manifests, shards, skipped.csv and the cached per-video samples."""
    root = data / "shards"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _samples(data: Path, split: str) -> list[Path]:
    return sorted((data / "shards" / ".work").glob(f"*/{split}/*.tar"))


def _without_shards(one: Path, dest: Path) -> Path:
    """A copy of the reference with its sources and tiny VAE but no samples, shards or manifests: a run on
    it starts at the encoder stage."""
    shutil.copytree(one, dest)
    shutil.rmtree(dest / "shards")
    return dest


def test_two_processes_prepare_the_bytes_of_one(one, tmp_path):
    data = tmp_path / "two"
    proc = _run(2, data)  # from nothing: rank 0 renders, verifies, trains the tiny VAE; both encode
    ref = _shards(one)
    assert _shards(data) == ref and len(_samples(one, "train")) == 8
    assert sum(name.endswith("manifest.json") for name in ref) == 2  # the manifests were compared too
    for split in ("train", "test"):  # every shard's recorded sha256 is the one-process run's
        two, ref_manifest = (json.loads((d / "shards" / split / "manifest.json").read_text())
                             for d in (data, one))
        assert two["shards"] == ref_manifest["shards"] and all(len(s["sha256"]) == 64 for s in two["shards"])
    vae = sorted((one / "encoders" / "vae").glob("*.safetensors"))  # rank 0 trained the same tiny VAE
    assert vae and [p.read_bytes() for p in vae] == [(data / "encoders/vae" / p.name).read_bytes()
                                                     for p in vae]
    firsts = [line for line in proc.stdout.splitlines() if line.startswith("prepared ")]
    assert len(firsts) == 1 and firsts[0].startswith(f"prepared {data} in")  # the summary: rank 0 only
    assert "by 2 processes" in proc.stdout
    assert "process 1: train 4 encoded, 0 cached, 0 skipped; test 1 encoded" in proc.stdout
    assert json.loads((data / "prepare.json").read_text()) == {"torch_threads": 1}


def test_three_processes_gather_every_skip_and_write_the_bytes_of_one(one, tmp_path):
    # a video rank 2 alone encodes (sorted index 2) is recorded unreadable in the cache, as the encoder stage
    # records one it cannot decode: its reason must reach rank 0's manifest and skipped.csv
    skipped = _samples(one, "train")[2]
    runs = {}
    for n in (1, 3):
        data = _without_shards(one, tmp_path / f"n{n}")
        work = data / "shards" / ".work" / skipped.parent.parent.name / "train"
        work.mkdir(parents=True)
        marker = work / skipped.name.replace(".tar", ".skip.json")
        marker.write_text(json.dumps({"reason": "unreadable: x"}))
        runs[n] = data
    prepare(runs[1], PrepareOptions(**SMALL))
    proc = _run(3, runs[3])
    assert _shards(runs[3]) == _shards(runs[1])
    manifest = json.loads((runs[3] / "shards" / "train" / "manifest.json").read_text())
    assert manifest["skipped"] == {"synth_train_0002": "unreadable: x"} and manifest["samples"] == 7
    csv = (runs[3] / "shards" / "train" / "skipped.csv").read_text()
    assert "synth_train_0002,videos/synth_train_0002.mp4,unreadable: x" in csv
    assert "by 3 processes" in proc.stdout and "skipped synth_train_0002: unreadable: x" in proc.stdout
    assert "process 2: train 1 encoded, 0 cached, 1 skipped" in proc.stdout
    # and every sample the three wrote is the reference's, byte for byte
    assert {p.name: p.read_bytes() for p in _samples(runs[3], "train")} == {
        p.name: p.read_bytes() for p in _samples(one, "train") if p != skipped}


def test_a_killed_rank_leaves_whole_samples_and_reruns_on_two_or_one_give_the_same_bytes(one, tmp_path):
    data = _without_shards(one, tmp_path / "killed")
    # each rank stops after its first sample; rank 1 dies mid-encoder-stage, torchrun stops rank 0
    status, _, err = kill_rank_at(_torchrun(2, data), ENV, "between-samples", ready_seconds=90)
    assert status != 0
    # rank 0 says what was finished, as one process does when it is stopped
    assert "SIGTERM while building the train samples: prepare of" in err, err[-3000:]
    assert not list((data / "shards").glob("*/manifest.json")) and not list((data / "shards").glob("*/*.tar"))
    ref = {p.name: p.read_bytes() for p in _samples(one, "train")}
    kept = {p.name: p.read_bytes() for p in _samples(data, "train")}
    # rank 0 wrote synth_train_0000 and rank 1 synth_train_0001: whole, the reference's bytes
    assert sorted(kept) == sorted(ref)[:2] and all(kept[name] == ref[name] for name in kept)
    work = _samples(data, "train")[0].parent
    (work / f".{sorted(ref)[3]}.tmp-123").write_bytes(b"half a sample")  # what a kill during a write leaves
    stamps = {p.name: p.stat().st_mtime_ns for p in _samples(data, "train")}
    again = shutil.copytree(data, tmp_path / "again-on-one")
    _run(2, data)  # the same command resumes
    assert _shards(data) == _shards(one)
    assert {p.name: p.stat().st_mtime_ns for p in _samples(data, "train") if p.name in stamps} == stamps
    prepare(again, PrepareOptions(**SMALL))  # and so does one process
    assert _shards(again) == _shards(one)


def test_a_user_error_only_rank_1_meets_stops_every_rank_with_its_message(one, tmp_path):
    data = _without_shards(one, tmp_path / "blocked")
    sample = _samples(one, "train")[1]  # sorted index 1: rank 1's share alone
    blocker = data / "shards" / ".work" / sample.parent.parent.name / "train" / sample.name
    blocker.mkdir(parents=True)  # a folder where rank 1 must write its sample
    start = time.monotonic()
    env = {**ENV, TIMEOUT_ENV: "400"}  # a rank left waiting would sit out these 400 s
    proc = subprocess.run(_torchrun(2, data), env=env, capture_output=True, text=True, timeout=450)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert time.monotonic() - start < 200  # stopped at once (even on a busy machine), not at the timeout
    output = proc.stdout + proc.stderr
    message = f"Error: {blocker} is in the way of the cached sample of train video 'synth_train_0001'"
    assert output.count(message) == 1, output  # rank 0 printed it; rank 1 stopped quietly
    assert [line for line in output.splitlines() if line.startswith("Error:")] == [
        output[output.index(message):].splitlines()[0]]
    assert not list((data / "shards").glob("*/manifest.json"))
    assert not (data / ".prepare.lock").exists() or (one / ".prepare.lock").exists()  # not left by this run
