"""Issue 25, points 4 and 5: `prepare` fails clean.

- a bad URL list is refused in one error naming the list and every bad line with its number and reason
  (the first ten, and a count), before anything is created: a new --out does not appear, an existing one
  is left as it was (no lock file, no `source/`, no `encoders/`, no `prepare.json`);
- a list whose only URL refuses the connection names that URL, the reason and where the reports are;
- `--strict` (and a split with no usable video) leaves no manifest a later command accepts: `train`
  refuses the dataset, saying to fix the sources or run prepare without --strict;
- SIGINT / SIGTERM end with a non-zero exit and a line saying what was finished and how to resume.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli_errors import assert_clean_failure, leftovers
from world import cli, snapshot

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--height", "48", "--width", "40", "--threads", "1", "--quiet"]
# A synthetic set just big enough to train its own tiny VAE (8 train videos, one held out).
SYNTH = ["--n-train", "8", "--n-test", "2", "--frames", "20", "--vae-steps", "30", "--shard-size-mb", "0.15"]
LIMIT = 60  # seconds any refusal may take (issue 25)


def refused_url() -> str:
    """An http URL on loopback where nothing listens: the connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/videos/only.mp4"


def timed_cli(*args: object):
    start = time.monotonic()
    result = cli(*args)
    assert time.monotonic() - start < LIMIT, f"took {time.monotonic() - start:.0f} s to refuse"
    return result


# -- point 4: URL lists ------------------------------------------------------------------------------
def test_a_bad_list_names_the_file_and_every_bad_line_and_creates_nothing(tmp_path):
    urls = tmp_path / "my urls.txt"
    urls.write_text("# my videos\n"
                    "https://example.org/v/a.mp4\n"
                    "\n"
                    "ftp://example.org/v/b.mp4\n"
                    "   \n"
                    "javascript:alert(1)\n"
                    "train https://example.org/v/c.mp4 extra\n"
                    "tr/ain https://example.org/v/d.mp4\n"
                    "test https://example.org/v/e.mp4\n", encoding="utf-8")
    out = tmp_path / "new" / "data"
    result = timed_cli("prepare", "--urls", urls, "--out", out, *SMALL)
    assert_clean_failure(result, urls, "4 bad line(s)", "line 4: URL 'ftp://example.org/v/b.mp4'",
                         "scheme 'ftp'", "line 6: URL 'javascript:alert(1)'", "scheme 'javascript'",
                         "line 7: ", "3 fields", "line 8: ", "'tr/ain' is not a plain name",
                         "blank lines and lines starting with # are ignored")
    for good_or_blank in ("line 1:", "line 2:", "line 3:", "line 5:", "line 9:"):
        assert good_or_blank not in result.output
    assert not (tmp_path / "new").exists()  # not even the parent: nothing was created


def test_more_than_ten_bad_lines_are_named_ten_and_counted(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"ftp://example.org/v/{i}.mp4\n" for i in range(13)))
    result = timed_cli("prepare", "--urls", urls, "--out", tmp_path / "data", *SMALL)
    assert_clean_failure(result, urls, "13 bad line(s)", "line 1:", "line 10:", "... and 3 more")
    assert "line 11:" not in result.output and "/v/10.mp4" not in result.output
    assert not (tmp_path / "data").exists()


def test_a_bad_list_leaves_an_existing_out_as_it_was(tmp_path):
    out = tmp_path / "data"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "keep.txt").write_text("mine\n")
    before = snapshot(out)
    for text in ("ftp://example.org/v/b.mp4\n", "# nothing but comments\n\n   \n"):
        urls = tmp_path / "urls.txt"
        urls.write_text(text)
        result = timed_cli("prepare", "--urls", urls, "--out", out, *SMALL)
        assert_clean_failure(result, urls, root=tmp_path)
        assert snapshot(out) == before, text  # no lock, source/, encoders/ or prepare.json


def test_an_empty_list_is_refused_naming_it_and_creates_nothing(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("# the list\n\n  \n")
    result = timed_cli("prepare", "--urls", urls, "--out", tmp_path / "data", *SMALL)
    assert_clean_failure(result, urls, "lists no videos")
    assert not (tmp_path / "data").exists()


def test_a_source_folder_with_bad_lines_names_each_list_and_line(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "fashion_train.txt").write_text("videos/a.mp4\n../outside.mp4\n")
    (src / "fashion_test.txt").write_text("\nftp://example.org/b.mp4\n")
    result = timed_cli("prepare", "--source", src, "--out", tmp_path / "data", *SMALL)
    assert_clean_failure(result, "2 bad line(s)", f"{src / 'fashion_train.txt'} line 2:",
                         "outside the list's folder", f"{src / 'fashion_test.txt'} line 2:", "scheme 'ftp'")
    assert not (tmp_path / "data").exists()


def test_a_refused_connection_names_the_url_the_reason_and_the_reports(tmp_path):
    url = refused_url()
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{url}\n")
    data = tmp_path / "data"
    result = timed_cli("prepare", "--urls", urls, "--out", data, *SMALL)
    assert_clean_failure(result, "no usable video in the train split", "only: download: "
                         "connection_error", "ConnectionRefusedError", f"listed as {url}",
                         data / "source" / "download_report.csv", data / "shards" / "train" / "skipped.csv",
                         root=tmp_path)
    assert not (data / ".prepare.lock").exists()  # made by this run, removed with its failure
    assert not (data / "encoders" / "vae").exists()  # refused before training a VAE on nothing


def test_a_failure_before_any_work_removes_the_new_out_and_its_new_parents(tmp_path, monkeypatch):
    """A failure once --out exists but before anything is made in it (here: the tiny CLIP cannot be
    built) leaves no folder, lock file or prepare.json behind."""
    import ffbench.encoders
    from ffbench.errors import UserError

    def no_clip(*args, **kwargs):
        raise UserError("--clip tiny: cannot be built here (a test)")

    monkeypatch.setattr(ffbench.encoders, "load_clip", no_clip)
    result = timed_cli("prepare", "--synthetic", "--out", tmp_path / "a" / "b" / "data", *SMALL, *SYNTH)
    assert_clean_failure(result, "cannot be built here")
    assert list(tmp_path.iterdir()) == []


# -- point 5: --strict leaves nothing a later command accepts ---------------------------------------
@pytest.fixture(scope="module")
def own_videos(tmp_path_factory) -> Path:
    """A --source folder: 8 good synthetic train videos plus a broken one, 2 test videos."""
    from ffbench.synthetic import make_dataset

    root = tmp_path_factory.mktemp("own")
    make_dataset(root / "synth", n_train=8, n_test=2, frames=20, height=48, width=40, seed=0, progress=False)
    src = root / "src"
    (src / "videos").mkdir(parents=True)
    for f in (root / "synth" / "videos").glob("*.mp4"):
        os.link(f, src / "videos" / f.name)
    train = sorted(f"videos/{f.name}" for f in (src / "videos").glob("synth_train_*.mp4"))
    body = (src / "videos" / "synth_train_0000.mp4").read_bytes()
    (src / "videos" / "broken.mp4").write_bytes(body[: len(body) // 2])
    (src / "fashion_train.txt").write_text("".join(f"{t}\n" for t in train) + "videos/broken.mp4\n")
    (src / "fashion_test.txt").write_text("videos/synth_test_0000.mp4\nvideos/synth_test_0001.mp4\n")
    return src


def assert_train_refuses(data: Path, tmp_path: Path, *names: str) -> None:
    run = tmp_path / "run"
    result = timed_cli("train", "fashionflow", "--shards", data, "--preset", "cpu", "--out", run, "--steps",
                       "1", "--threads", "1", "--no-progress")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "last `ffbench prepare` of this dataset failed" in result.output, result.output
    for name in names:
        assert name in result.output, (name, result.output)


def test_strict_with_a_failed_download_leaves_no_manifest_train_accepts(own_videos, tmp_path):
    data = tmp_path / "data"
    result = timed_cli("prepare", "--source", own_videos, "--out", data, "--strict", *SMALL, *SYNTH[-4:])
    assert_clean_failure(result, "--strict: 1 video(s) skipped", "broken: download: decode_error",
                         data / "shards" / "train" / "skipped.csv", "without --strict", root=tmp_path)
    for split in ("train", "test"):
        assert not list((data / "shards" / split).glob("*.tar"))
        marker = json.loads((data / "shards" / split / "manifest.json").read_text())
        assert "shards" not in marker and "--strict" in marker["failed"]["reason"]
    assert_train_refuses(data, tmp_path, "--strict", "run prepare without --strict", "skipped.csv")


def test_strict_with_a_video_skipped_while_building_samples_writes_no_manifest(tmp_path, monkeypatch):
    """The skip the download cannot see (a video that verifies but fails to decode in full): --strict
    refuses once the samples are built, before any shard or manifest, and a rerun without --strict
    replaces the markers with real manifests."""
    import ffbench.video

    real_read = ffbench.video.read_video

    def read_video(path, *args, **kwargs):
        if Path(path).name == "synth_train_0003.mp4" and not args and not kwargs:  # the full read only
            raise ffbench.video.VideoError(f"{path}: frame 7 is damaged")
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(ffbench.video, "read_video", read_video)
    data = tmp_path / "data"
    result = timed_cli("prepare", "--synthetic", "--out", data, "--strict", *SMALL, *SYNTH)
    assert_clean_failure(result, "--strict: 1 video(s) skipped", "synth_train_0003: unreadable",
                         "frame 7 is damaged", root=tmp_path)
    assert not list((data / "shards").glob("*/*.tar"))  # no shard packed
    assert list((data / "shards" / ".work").glob("*/train/*.tar"))  # the samples are kept for a rerun
    assert_train_refuses(data, tmp_path, "--strict")
    verify = cli("prepare", "--verify", "--out", data)
    assert verify.exit_code == 1 and "failed" in verify.output

    ok = cli("prepare", "--synthetic", "--out", data, *SMALL, *SYNTH)  # without --strict: the rest is used
    assert ok.exit_code == 0, ok.output
    from ffbench.datasets.manifest import read_manifest

    assert read_manifest(data / "shards" / "train")["samples"] == 7
    assert read_manifest(data / "shards" / "test")["samples"] == 2


# -- interrupts ----------------------------------------------------------------------------------------
def _interrupt(data: Path, sig: int, ready) -> subprocess.CompletedProcess:
    """Run `prepare --synthetic` into `data`, send `sig` once `ready()` holds, return the ended process."""
    cmd = [sys.executable, "-m", "ffbench.cli", "prepare", "--synthetic", "--out", str(data), *SMALL, *SYNTH]
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=path)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.02)
    assert proc.poll() is None, f"prepare ended before the signal: {proc.stderr.read()[-2000:]}"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=LIMIT)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.parametrize("sig, stage", [(signal.SIGINT, "rendering"), (signal.SIGTERM, "samples")])
def test_an_interrupt_ends_non_zero_saying_what_was_finished_and_how_to_resume(tmp_path, sig, stage):
    data = tmp_path / "data"
    if stage == "rendering":
        ready = lambda: len(list((data / "generated" / "videos").glob("*.mp4"))) >= 2  # noqa: E731
    else:
        ready = lambda: len(list((data / "shards" / ".work").glob("*/train/*.tar"))) >= 2  # noqa: E731
    done = _interrupt(data, sig, ready)
    name = signal.Signals(sig).name
    assert done.returncode == 128 + sig, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and lines[0].startswith(f"Error: {name} while "), done.stderr[-3000:]
    assert "Finished and kept:" in lines[0] and "Run the same command again to resume" in lines[0]
    if stage == "samples":
        assert "synthetic videos rendered" in lines[0] and "the tiny VAE trained" in lines[0]
        assert "train samples built" in lines[0]
    command = done.stderr.split("resume (finished work is not redone):", 1)[1].strip().splitlines()[0]
    assert command.startswith("ffbench prepare") and str(data) in command and "--synthetic" in command
    assert not list(data.glob("shards/*/manifest.json"))
    assert not (data / ".prepare.lock").exists()
    assert leftovers(data) == []
