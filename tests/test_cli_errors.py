"""Issue 9, Deliver 3: every command turns expected failures into one message naming the file or option,
exit status 1, no traceback, and nothing temporary or partial left behind.

Read-only folders: the tests run as root, where chmod does not stop writes, so they use /sys/kernel (a
sysfs folder nobody may create files in, root included). A full disk is /dev/full (writes fail with
ENOSPC) behind the write probe, or an fsync that fails with ENOSPC in the middle of the work.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
from pathlib import Path

import pytest
from world import TRAIN_ARGS, cli

READ_ONLY = Path("/sys/kernel")  # exists, is a folder, refuses new files (EACCES) even to root
LEFTOVERS = re.compile(r"\.tmp|\.part$|ffbench-write-test|\.old$")


def leftovers(root: Path) -> list[str]:
    """Temporary or partial files and folders under `root`."""
    return [str(p) for p in root.rglob("*") if LEFTOVERS.search(p.name)]


def assert_clean_failure(result, *names: object, root: Path | None = None) -> None:
    """Exit 1, one message without a traceback that names each of `names`, no temporaries under root."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an uncaught exception
    assert "Traceback" not in result.output
    assert sum(line.startswith("Error:") for line in result.output.splitlines()) == 1, result.output
    for name in names:
        assert str(name) in result.output, (name, result.output)
    if root is not None:
        assert leftovers(root) == []


@pytest.fixture()
def image(cpu_world, tmp_path) -> Path:
    from ffbench.datasets.shards import iter_split_entries

    _, png = next(iter_split_entries(cpu_world.data / "shards" / "test", "cond.png"))
    path = tmp_path / "person.png"
    path.write_bytes(png)
    return path


def _command(kind: str, world, out: Path, image: Path) -> list[object]:
    """A command whose output location is `out` (a folder, or for generate a file inside it)."""
    return {
        "prepare --out": ["prepare", "--source", world.source, "--vae", world.vae, "--out", out],
        "train --out": ["train", "fashionflow", "--shards", world.data, "--out", out, *TRAIN_ARGS],
        "generate -o": ["generate", image, "--checkpoint", world.pipeline, "-o", out / "video.mp4"],
        "eval --leaderboard-dir": ["eval", "--metric", "fvd", "--real", world.data, "--fake",
                                   world.source / "videos", "--method", "m", "--i3d", "random", "--no-cache",
                                   "--leaderboard-dir", out],
        "eval --cache-dir": ["eval", "--metric", "fvd", "--real", world.data, "--fake",
                             world.source / "videos", "--method", "m", "--i3d", "random", "--no-leaderboard",
                             "--cache-dir", out],
    }[kind]


OUTPUTS = ["prepare --out", "train --out", "generate -o", "eval --leaderboard-dir", "eval --cache-dir"]


@pytest.mark.parametrize("kind", OUTPUTS)
def test_a_read_only_output_folder_fails_at_once(kind, cpu_world, image, tmp_path):
    assert READ_ONLY.is_dir() and not os.access(READ_ONLY, os.W_OK) or os.geteuid() == 0
    result = cli(*_command(kind, cpu_world, READ_ONLY, image))
    assert_clean_failure(result, READ_ONLY, kind.split()[-1], "cannot be written", root=tmp_path)


@pytest.mark.parametrize("kind", OUTPUTS)
def test_a_file_where_the_output_folder_should_be(kind, cpu_world, image, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    result = cli(*_command(kind, cpu_world, blocker, image))
    assert_clean_failure(result, blocker, root=tmp_path)
    assert "not a folder" in result.output or "is a file" in result.output
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.parametrize("kind", OUTPUTS)
def test_a_full_disk_fails_before_the_work(kind, cpu_world, image, tmp_path, monkeypatch):
    import ffbench.errors

    real_mkstemp = ffbench.errors.mkstemp

    def probe_on_a_full_disk(folder, prefix=""):
        fd, path = real_mkstemp(folder, prefix=prefix)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), path  # the kernel answers every write with ENOSPC

    monkeypatch.setattr(ffbench.errors, "mkstemp", probe_on_a_full_disk)
    out = tmp_path / "out"
    result = cli(*_command(kind, cpu_world, out, image))
    assert_clean_failure(result, out, "disk is full", root=tmp_path)


def _fsync_fails_for(monkeypatch, fragment: str) -> None:
    """os.fsync raises ENOSPC (as on a full disk) for files whose path contains `fragment`."""
    real = os.fsync

    def fsync(fd):
        if fragment in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_disk_that_fills_up_during_prepare_names_the_file_and_the_rerun_finishes(cpu_world, tmp_path,
                                                                                   monkeypatch):
    out = tmp_path / "data"
    args = ["prepare", "--source", cpu_world.source, "--vae", cpu_world.vae, "--out", out, "--threads", "1",
            "--quiet"]
    with monkeypatch.context() as m:
        _fsync_fails_for(m, "/shards/.work/")
        result = cli(*args)
    assert_clean_failure(result, "disk is full", root=tmp_path)
    assert re.search(r"/shards/\.work/\S+/train/synth_train_0000--\w+\.tar", result.output), result.output
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert (out / "shards" / "train" / "manifest.json").read_bytes() == \
        (cpu_world.data / "shards" / "train" / "manifest.json").read_bytes()


def test_a_disk_that_fills_up_at_a_checkpoint_leaves_no_partial_checkpoint(cpu_world, tmp_path, monkeypatch):
    _fsync_fails_for(monkeypatch, ".checkpoint-")
    out = tmp_path / "run"
    result = cli("train", "fashionflow", "--shards", cpu_world.data, "--out", out, *TRAIN_ARGS)
    assert_clean_failure(result, out / ".checkpoint-1.tmp", "disk is full", root=tmp_path)
    assert not (out / "checkpoint-1").exists()


def test_training_reads_a_read_only_dataset_without_writing_to_it(cpu_world):
    # The world's data folder has no lock files (as a copied or shared dataset): training used to create
    # encoders/clip.lock after all its work, a traceback on a read-only dataset. It now writes nothing.
    assert cpu_world.train.exit_code == 0, cpu_world.train.output
    assert cpu_world.data_after_train == cpu_world.data_before_train
    assert (cpu_world.pipeline / "model_index.json").is_file()


def test_a_file_that_is_not_a_tar_among_the_shards(cpu_world, image, tmp_path):
    shards = tmp_path / "shards"
    shutil.copytree(cpu_world.data / "shards" / "test", shards)
    bad = shards / "a-broken.tar"  # sorts first: read before anything else
    bad.write_bytes(b"<html>not a tar</html>" * 40)
    result = cli("generate", shards, "--checkpoint", cpu_world.pipeline, "-o", tmp_path / "samples")
    assert_clean_failure(result, bad, "not a readable tar", root=tmp_path)
    result = cli("eval", "--metric", "fvd", "--real", shards, "--fake", cpu_world.source / "videos",
                 "--method", "m", "--i3d", "random", "--no-cache", "--no-leaderboard", "--recal-items", "1")
    assert_clean_failure(result, bad, "not a readable tar", root=tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_a_damaged_checkpoint_under_resume(damage, cpu_world, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cpu_world.run, run)
    weights = run / "checkpoint-1" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"PK\x03\x04" + data[:4000])
    result = cli("train", "fashionflow", "--shards", cpu_world.data, "--out", run, *TRAIN_ARGS, "--steps",
                 "2", "--resume")
    assert_clean_failure(result, weights, "without --resume", root=tmp_path)
    assert weights.read_bytes() != data and not (run / "checkpoint-2").exists()


def test_a_corrupt_pipeline_config_names_the_file_and_the_field(cpu_world, image, tmp_path):
    pipe = tmp_path / "pipeline"
    shutil.copytree(cpu_world.pipeline, pipe)
    config = pipe / "vae" / "config.json"
    config.write_text(config.read_text().replace('"latent_channels": 4', '"latent_channels": "x"'))
    result = cli("generate", image, "--checkpoint", pipe, "-o", tmp_path / "v.mp4")
    assert_clean_failure(result, config, "'latent_channels'", root=tmp_path)
    config.write_text(config.read_text()[:100])
    result = cli("generate", image, "--checkpoint", pipe, "-o", tmp_path / "v.mp4")
    assert_clean_failure(result, config, "not valid JSON", root=tmp_path)
    assert not (tmp_path / "v.mp4").exists()


def test_device_cuda_without_a_gpu(cpu_world, image, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = cli("generate", image, "--checkpoint", cpu_world.pipeline, "-o", tmp_path / "v.mp4", "--device",
                 "cuda")
    assert_clean_failure(result, "--device cuda", "no CUDA GPU", root=tmp_path)
    result = cli("eval", "--metric", "fvd", "--real", cpu_world.data, "--fake", cpu_world.source / "videos",
                 "--method", "m", "--i3d", "random", "--no-cache", "--no-leaderboard", "--device", "cuda:0")
    assert_clean_failure(result, "--device cuda:0", "no CUDA GPU", root=tmp_path)
    assert not (tmp_path / "v.mp4").exists()


def test_prepare_with_no_source_and_no_network(tmp_path, monkeypatch):
    from ffbench.datasets import sources

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/fashion_train.txt"
    official_lists(monkeypatch, {"train": url})
    monkeypatch.setattr(sources.time, "sleep", lambda seconds: None)  # no back-off waits in a test
    result = cli("prepare", "--out", tmp_path / "data", "--quiet")
    assert_clean_failure(result, url, "--urls", "--synthetic", root=tmp_path)


def test_prepare_with_an_empty_url_list(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("# my videos\n\n")
    result = cli("prepare", "--urls", urls, "--out", tmp_path / "data", "--quiet")
    assert_clean_failure(result, urls, "lists no videos", root=tmp_path)
    assert "tiny VAE" not in result.output


def test_an_unexpected_exception_keeps_its_traceback(tmp_path, monkeypatch):
    # Bugs stay visible: the error path only turns expected failures into messages.
    import ffbench.datasets.prepare

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(ffbench.datasets.prepare, "verify", bug)
    result = cli("prepare", "--verify", "--out", tmp_path)
    assert result.exit_code == 1 and isinstance(result.exception, ZeroDivisionError)


def official_lists(monkeypatch, lists: dict[str, str]) -> None:
    """Point the default dataset's published lists at `lists` ({split: URL}) for one test."""
    from ffbench.datasets import spec

    splits = tuple(spec.SplitSpec(s, f"fashion_{s}.txt", url=u) for s, u in lists.items())
    monkeypatch.setitem(spec.DATASETS, spec.DEFAULT_DATASET,
                        spec.DatasetSpec(spec.DEFAULT_DATASET, splits, test_split=splits[-1].name))
