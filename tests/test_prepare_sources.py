"""Issue 9, Deliver 4: `prepare` on a real folder of the user's own videos.

One `prepare --source` run on a folder holding two good videos, one with a non-ASCII name, a broken one,
a folder named like a video and a missing entry; each test checks one promise about that run: the exit
code, no traceback, the file named, and nothing temporary or partial left behind.
"""

from __future__ import annotations

import csv
import http.server
import json
import os
import shutil
import tarfile
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_cli_errors import assert_clean_failure, leftovers
from world import cli

NON_ASCII = "robe_\u00e9t\u00e9"  # robe_été


@contextmanager
def fd_output():
    """Capture what C/C++ code writes to file descriptors 1 and 2 (decord, FFmpeg), as a list of one str."""
    captured: list[str] = []
    with tempfile.TemporaryFile() as sink:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace"))


@dataclass
class Run:
    source: Path
    data: Path
    result: object
    fd_text: str


@pytest.fixture(scope="module")
def run(cpu_world, tmp_path_factory) -> Run:
    root = tmp_path_factory.mktemp("own")
    src = root / "my videos"
    (src / "videos").mkdir(parents=True)
    videos = cpu_world.source / "videos"
    shutil.copy(videos / "synth_train_0000.mp4", src / "videos" / "good.mp4")
    shutil.copy(videos / "synth_train_0001.mp4", src / "videos" / f"{NON_ASCII}.mp4")
    shutil.copy(videos / "synth_test_0000.mp4", src / "videos" / "good_test.mp4")
    body = (videos / "synth_train_0002.mp4").read_bytes()
    (src / "videos" / "broken.mp4").write_bytes(body[: len(body) // 2] + bytes(len(body) - len(body) // 2))
    (src / "videos" / "folder.mp4").mkdir()
    (src / "fashion_train.txt").write_text(
        f"videos/good.mp4\nvideos/{NON_ASCII}.mp4\nvideos/broken.mp4\nvideos/folder.mp4\nvideos/gone.mp4\n",
        encoding="utf-8")
    (src / "fashion_test.txt").write_text("videos/good_test.mp4\n")
    data = root / "data"
    with fd_output() as fd_text:
        result = cli("prepare", "--source", src, "--vae", cpu_world.vae, "--out", data, "--threads", "1",
                     "--quiet")
    # every promise below is about a run that succeeded cleanly and left nothing partial
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert leftovers(root) == []
    return Run(src, data, result, fd_text[0])


SKIPPED = {"broken": "decode_error", "folder": "not_a_file", "gone": "missing"}


def test_every_skipped_video_is_named_in_the_summary_and_in_skipped_csv(run):
    assert run.result.exit_code == 0, run.result.output
    assert "Traceback" not in run.result.output
    lines = run.result.output.splitlines()
    for vid, status in SKIPPED.items():
        assert any(line.strip().startswith(f"skipped {vid}: download: {status}") for line in lines), vid
    skipped_csv = run.data / "shards" / "train" / "skipped.csv"
    assert lines[-1].startswith("done with 3 video(s) skipped") and str(skipped_csv) in lines[-1]
    assert "usable: train 2, test 1" in lines[-1]
    with open(skipped_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["id"], r["source"]) for r in rows] == [(v, f"videos/{v}.mp4") for v in sorted(SKIPPED)]
    assert all(SKIPPED[r["id"]] in r["reason"] for r in rows)
    assert (run.data / "shards" / "test" / "skipped.csv").read_text() == "id,source,reason\n"
    manifest = json.loads((run.data / "shards" / "train" / "manifest.json").read_text())
    assert manifest["samples"] == 2 and sorted(manifest["skipped"]) == sorted(SKIPPED)
    assert leftovers(run.data) == []


def test_strict_makes_any_skip_an_error(run, cpu_world, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(run.data, data)  # everything is cached: only the verdict changes
    result = cli("prepare", "--source", run.source, "--vae", cpu_world.vae, "--out", data, "--threads", "1",
                 "--quiet", "--strict")
    assert_clean_failure(result, "--strict", data / "shards" / "train" / "skipped.csv", "broken: download",
                         "folder: download", "gone: download", root=data)


def test_a_split_whose_every_video_is_skipped_is_an_error(run, cpu_world, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(run.source, src)
    shutil.copy(src / "videos" / "broken.mp4", src / "videos" / "broken_test.mp4")
    (src / "fashion_test.txt").write_text("videos/broken_test.mp4\n")
    result = cli("prepare", "--source", src, "--vae", cpu_world.vae, "--out", tmp_path / "data", "--threads",
                 "1", "--quiet")
    assert_clean_failure(result, tmp_path / "data" / "shards" / "test" / "skipped.csv", "no usable video",
                         root=tmp_path)


def test_a_non_ascii_file_name_gets_a_safe_id_and_keeps_its_name(run):
    from ffbench.datasets.sources import video_id_from_url

    vid = video_id_from_url(f"videos/{NON_ASCII}.mp4")
    assert vid.startswith("robe_ete-") and vid.isascii()
    with tarfile.open(next((run.data / "shards" / "train").glob("*.tar"))) as tar:
        meta = json.loads(tar.extractfile(f"{vid}.json").read())
    assert meta["id"] == vid and meta["url"] == f"videos/{NON_ASCII}.mp4"  # the original name is kept
    assert (run.data / "source" / "videos" / f"{vid}.mp4").is_file()


def test_a_folder_named_like_a_video_is_reported_as_a_folder(run):
    line = next(line for line in run.result.output.splitlines() if "skipped folder" in line)
    assert f"{run.source / 'videos' / 'folder.mp4'} is a directory, not a video file" in line
    assert "no such file" not in line


def test_decord_logs_and_progress_bars_stay_out_of_a_quiet_run(run):
    assert run.fd_text == ""  # nothing from decord's C++ or FFmpeg on stdout/stderr
    assert "it/s" not in run.result.output and "%|" not in run.result.output  # no progress bar at all
    broken = next(line for line in run.result.output.splitlines() if "skipped broken" in line)
    assert str(run.source / "videos" / "broken.mp4") in broken  # the user's file, not our partial copy
    assert ".cc:" not in broken and "Check failed" not in broken


def test_file_urls_only_from_the_users_list_and_only_inside_its_folder(run, tmp_path):
    shutil.copy(run.source / "videos" / "good.mp4", tmp_path / "good.mp4")
    urls = tmp_path / "urls.txt"
    urls.write_text(f"train {(tmp_path / 'good.mp4').as_uri()}\ntrain file:///etc/passwd\n")
    result = cli("prepare", "--urls", urls, "--out", tmp_path / "data", "--quiet")
    assert_clean_failure(result, "file:///etc/passwd", "outside the list's folder", root=tmp_path)
    assert "root:" not in result.output  # nothing of the file was read
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith("passwd")]


class _ListHandler(http.server.BaseHTTPRequestHandler):
    """Serves the official lists of a compromised mirror: a train list naming a local file."""

    lists = {"/fashion_train.txt": b"file:///etc/passwd\n", "/fashion_test.txt": b"https://example.invalid/a.mp4\n"}

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        body = self.lists.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")


def test_a_downloaded_list_may_only_name_http_urls(tmp_path, monkeypatch):

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ListHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        lists = {split: f"{base}/fashion_{split}.txt" for split in ("train", "test")}
        official_lists(monkeypatch, lists)
        out = tmp_path / "data"
        result = cli("prepare", "--out", out, "--quiet")
    finally:
        server.shutdown()
        server.server_close()
    # the downloaded list is named by its URL (it was checked in memory, never saved), with the line
    assert_clean_failure(result, "file:///etc/passwd", "may only hold http(s) URLs", f"{lists['train']}: ",
                         "line 1:", root=tmp_path)
    assert "root:" not in result.output  # nothing of the file was read
    assert not out.exists()  # refused before anything was created


def official_lists(monkeypatch, lists: dict[str, str]) -> None:
    """Point the default dataset's published lists at `lists` ({split: URL}) for one test."""
    from ffbench.datasets import spec

    splits = tuple(spec.SplitSpec(s, f"fashion_{s}.txt", url=u) for s, u in lists.items())
    monkeypatch.setitem(spec.DATASETS, spec.DEFAULT_DATASET,
                        spec.DatasetSpec(spec.DEFAULT_DATASET, splits, test_split=splits[-1].name))
