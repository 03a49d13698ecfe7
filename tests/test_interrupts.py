"""SIGINT and SIGTERM in `generate` and `eval` (issue 25, point 6): a non-zero exit (130 / 143), a line
saying what was finished, no empty folder, no half-written video under its final name, and a rerun of
the same command that finishes an interrupted set.

Two cases run the CLI in a subprocess (a real signal, a real exit status): `FFBENCH_PAUSE_AT` makes it stop
at a named point and say so on stderr, so the signal lands where the test means it to, without guessed
sleeps. The other points run in this process (a subprocess costs about 10 s of imports on a busy machine):
the same pause hook sends the signal to the process itself, and the same handlers receive it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pixel_shards import write_data

from ffbench.cli import main
from ffbench.interrupts import PAUSE_ENV

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("pixels"), {"test": 3}, frames=10) / "shards" / "test"


def _run_until(args: list[str], point: str, sig: int) -> tuple[int, str]:
    """Run `ffbench ARGS` until it pauses at `point`, send `sig`, return (exit code, stderr)."""
    env = {**os.environ, PAUSE_ENV: point, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ffbench.cli", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = []
    try:
        for line in proc.stderr:  # ends when the process does: a missing pause point fails below
            seen.append(line)
            if f"paused at {point}" in line:
                proc.send_signal(sig)
                break
        rest = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(seen) + rest
    assert f"paused at {point}" in err, err
    return proc.returncode, err


def _signal_at(monkeypatch, point: str, sig: int) -> None:
    """In-process: make `pause_point(point)` send `sig` to this process (its handler raises out of the
    sleep)."""
    from ffbench import interrupts

    def pause(name: str) -> None:
        if name == point:
            os.kill(os.getpid(), sig)
            time.sleep(5)
            raise AssertionError(f"{signal.Signals(sig).name} was not handled at {point}")

    monkeypatch.setattr(interrupts, "pause_point", pause)


def _generate(split: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", str(split), "--model", "static", "-o", str(out), "--frames", "4", "--no-progress",
            "--threads", "1", *extra]


@pytest.mark.parametrize("point, sig", [("before-output", signal.SIGTERM),
                                        ("before-first-video", signal.SIGINT),
                                        ("writing-video", signal.SIGTERM)])
def test_generate_interrupted_before_the_first_video_leaves_no_folder(split, tmp_path, monkeypatch, point,
                                                                      sig):
    _signal_at(monkeypatch, point, sig)
    out = tmp_path / "new" / "samples"
    result = CliRunner().invoke(main, _generate(split, out, "--gif"))
    assert result.exit_code == 128 + sig, result.output
    assert f"generate interrupted by {signal.Signals(sig).name} before" in result.output
    assert "run the same command" in result.output and result.exception.__class__ is SystemExit
    assert not (tmp_path / "new").exists()  # neither the folder nor the parent this run made
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_generate_interrupted_while_writing_leaves_no_partial_video(split, tmp_path, monkeypatch):
    _signal_at(monkeypatch, "writing-video", signal.SIGINT)
    out = tmp_path / "samples"
    out.mkdir()  # an existing folder is left as it was
    result = CliRunner().invoke(main, _generate(split, out, "--gif"))
    assert result.exit_code == 130, result.output
    assert f"before the first video was finished: nothing was written to {out}" in result.output
    assert list(out.iterdir()) == []  # no temporary file, no half video, no resume file


def test_generate_interrupted_between_videos_resumes(split, tmp_path):
    out = tmp_path / "samples"
    code, err = _run_until(_generate(split, out, "--gif"), "between-videos", signal.SIGINT)
    assert code == 130, err
    assert f"wrote 1 of 3 videos to {out}" in err and "run the same command again" in err, err
    names = sorted(p.name for p in out.iterdir())
    assert names == [".generate-resume.json", "test0.gif", "test0.mp4"], names  # no generation.json
    first = (out / "test0.mp4").stat()

    result = CliRunner().invoke(main, _generate(split, out, "--gif"))  # the same command finishes the set
    assert result.exit_code == 0, result.output
    assert (out / "test0.mp4").stat().st_mtime_ns == first.st_mtime_ns  # kept, not regenerated
    assert sorted(p.name for p in out.iterdir()) == ["generation.json", "test0.gif", "test0.mp4",
                                                     "test1.gif", "test1.mp4", "test2.gif", "test2.mp4"]
    fresh = tmp_path / "fresh"
    assert CliRunner().invoke(main, _generate(split, fresh)).exit_code == 0
    for name in ("test0.mp4", "test2.mp4"):  # the resumed set is the one an uninterrupted run writes
        assert (out / name).read_bytes() == (fresh / name).read_bytes()


def test_generate_with_other_settings_does_not_resume(split, tmp_path, monkeypatch):
    out = tmp_path / "samples"
    with monkeypatch.context() as patch:
        _signal_at(patch, "between-videos", signal.SIGTERM)
        result = CliRunner().invoke(main, _generate(split, out))
    assert result.exit_code == 143 and f"wrote 1 of 3 videos to {out}" in result.output, result.output
    before = (out / "test0.mp4").stat().st_mtime_ns
    result = CliRunner().invoke(main, _generate(split, out, "--seed", "1"))
    assert result.exit_code == 0, result.output
    assert (out / "test0.mp4").stat().st_mtime_ns != before  # another seed: regenerated
    assert not (out / ".generate-resume.json").exists() and (out / "generation.json").is_file()


class _Swallower:
    """A stand-in model that interrupts itself while sampling and swallows the exception, as a library
    with a broad `except BaseException` would."""

    size, num_frames, max_frames, fps = (64, 48), 4, None, 15.0
    settings: dict = {}
    flags: list = []
    calls = 0

    def __call__(self, cond, num_frames, generator, real=None):
        import torch

        _Swallower.calls += 1
        if _Swallower.calls == 1:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):  # the handler runs at the next bytecode
                    pass
            except BaseException:  # noqa: BLE001 - the point of the test
                pass
        return torch.zeros(1, 3, num_frames, 64, 48)


def test_generate_a_swallowed_signal_still_stops_the_run(split, tmp_path, monkeypatch):
    from ffbench.models.registry import _REGISTRY, ModelEntry

    _Swallower.calls = 0
    # In place of `static` for this test: --model's choices are fixed when the CLI is imported.
    monkeypatch.setitem(_REGISTRY, "static", ModelEntry(name="static", description="test stand-in",
                                                        load=lambda folder, device: _Swallower(),
                                                        needs_checkpoint=False))
    out = tmp_path / "samples"
    result = CliRunner().invoke(main, ["generate", str(split), "--model", "static", "-o", str(out),
                                       "--no-progress"])
    assert result.exit_code == 130, result.output
    assert f"wrote 1 of 3 videos to {out}" in result.output
    assert _Swallower.calls == 1 and not (out / "generation.json").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


@pytest.fixture(scope="module")
def fake(split, tmp_path_factory):
    out = tmp_path_factory.mktemp("fake") / "samples"
    result = CliRunner().invoke(main, ["generate", str(split), "--model", "static", "-o", str(out),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    return out


def _eval(split: Path, fake: Path, tmp_path: Path) -> list[str]:
    return ["eval", "--metric", "psnr,motion", "--real", str(split), "--fake", str(fake),
            "--method", "static", "--leaderboard-dir", str(tmp_path / "board"),
            "--cache-dir", str(tmp_path / "cache"),
            "--per-video", str(tmp_path / "per_video.csv"), "--bootstrap", "10", "--threads", "1"]


def _check_eval_left_nothing(tmp_path: Path) -> None:
    assert not (tmp_path / "per_video.csv").exists() and not any((tmp_path / "board").glob("*.csv"))
    cache = tmp_path / "cache"
    for entry in cache.iterdir() if cache.exists() else []:  # only whole cache entries
        assert entry.suffix == ".npz" and ".tmp" not in entry.name, entry
        with np.load(entry, allow_pickle=False) as data:
            assert data.files


def test_eval_interrupted_writes_no_rows(split, fake, tmp_path):
    args = _eval(split, fake, tmp_path)
    code, err = _run_until(args, "eval-scored", signal.SIGTERM)
    assert code == 143, err
    assert "eval interrupted by SIGTERM before its results were written" in err, err
    assert "no rows were appended" in err and "per_video.csv was not written" in err
    assert "Traceback" not in err
    _check_eval_left_nothing(tmp_path)
    result = CliRunner().invoke(main, args)  # the same command then completes
    assert result.exit_code == 0, result.output
    assert (tmp_path / "per_video.csv").is_file() and len(list((tmp_path / "board").glob("*.csv"))) == 1


def test_eval_interrupted_between_metric_families(split, fake, tmp_path, monkeypatch):
    _signal_at(monkeypatch, "eval-distribution-done", signal.SIGINT)
    result = CliRunner().invoke(main, _eval(split, fake, tmp_path))
    assert result.exit_code == 130, result.output
    assert "eval interrupted by SIGINT before its results were written" in result.output
    _check_eval_left_nothing(tmp_path)
