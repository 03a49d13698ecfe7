"""Download, verification, probing and source safety, against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from ffbench.datasets import download
from ffbench.datasets.download import DownloadError, fetch_dataset, probe_all, read_probe, read_report
from ffbench.datasets.sources import (
    UnsupportedSourceError,
    classify_url,
    parse_urls_file,
    video_id_from_url,
)
from ffbench.datasets.verify import sniff_body
from ffbench.synthetic import make_dataset, render_video
from ffbench.video import write_video

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TIMEOUT = 0.5  # client timeout; the slow route sleeps longer than this
DRIBBLE_CHUNK, DRIBBLE_CHUNKS = 16 * 1024, 128
HTML = b"<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>\n"


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, bytes]:
    """Tiny mp4 bodies: two at 32x24, 8 frames, 25 fps, and one at 12 fps with 10 frames."""
    d = tmp_path_factory.mktemp("mp4")
    out = {}
    for name, seed, n, fps in (("a", 1, 8, 25.0), ("b", 2, 8, 25.0), ("c", 3, 10, 12.0)):
        out[name] = write_video(d / f"{name}.mp4", render_video(seed, n, 24, 32), fps=fps).read_bytes()
    return out


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes by the first path segment; the server object holds the bodies and a request log."""

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, code: int, body: bytes, ctype: str = "video/mp4", headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client hung up mid-body: tests of interrupted downloads do that on purpose. Left to
            # socketserver, the traceback goes to stderr from a thread that may outlive this test and
            # land in another test's captured output.
            pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        srv = self.server
        with srv.lock:
            srv.log.append((self.path, self.headers.get("Range")))
            srv.hits[self.path] += 1
            hits = srv.hits[self.path]
        route = self.path.split("/")[1]
        video = srv.bodies["a"]
        if route == "good":
            self._send(200, srv.bodies[self.path.split("/")[2].split("_")[0]])
        elif route == "missing":
            self._send(404, HTML, "text/html")
        elif route == "broken":
            self._send(500, b"Internal Server Error", "text/plain")
        elif route == "slow":
            time.sleep(TIMEOUT * 2.5)
            self._send(200, video)
        elif route == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(video)))
            self.end_headers()
            self.wfile.write(video[: len(video) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif route == "html":
            self._send(200, HTML, "text/html; charset=utf-8")
        elif route == "lying":  # an error page that claims to be a video
            self._send(200, HTML, "video/mp4")
        elif route == "plain":  # real video bytes, but served as text
            self._send(200, video, "text/plain")
        elif route == "garbage":
            self._send(200, bytes(range(256)) * 8, "application/octet-stream")
        elif route == "flaky":
            if hits == 1:
                self._send(503, b"busy", "text/plain")
            else:
                self._send(200, srv.bodies["b"])
        elif route == "ranged":
            self._ranged(srv.bodies["c"])
        elif route == "redirect":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/x.mp4")
            self.end_headers()
        elif route == "dribble":  # 2 MB at about 320 kB/s: a download still running when we interrupt
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(DRIBBLE_CHUNK * DRIBBLE_CHUNKS))
            self.end_headers()
            try:
                for _ in range(DRIBBLE_CHUNKS):
                    self.wfile.write(bytes(DRIBBLE_CHUNK))
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped, as the interrupt test wants
        elif route == "lists":
            name = self.path.split("/")[2]
            self._send(200, srv.lists[name].encode(), "text/plain")
        else:
            self._send(404, HTML, "text/html")

    def _ranged(self, body: bytes) -> None:
        spec = self.headers.get("Range")
        if not spec:
            self._send(200, body, headers={"Accept-Ranges": "bytes"})
            return
        start = int(spec.removeprefix("bytes=").split("-")[0])
        self._send(206, body[start:], headers={"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"})


@pytest.fixture()
def server(videos):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.bodies, srv.lock, srv.log, srv.hits, srv.lists = videos, threading.Lock(), [], Counter(), {}
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _fetch(dest: Path, urls: dict, **kw) -> download.DownloadSummary:
    kw = {"workers": 4, "retries": 1, "timeout": TIMEOUT, "backoff": 0.01, "progress": False, **kw}
    return fetch_dataset(dest, urls=urls, **kw)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the acceptance test: every failure mode of a real server ---------------------------------------
BAD = {  # id -> (route, expected status, words expected in the error)
    "m404": ("missing", "http_error", "404"),
    "e500": ("broken", "http_error", "500"),
    "slow1": ("slow", "timeout", "timed out"),
    "trunc1": ("truncated", "truncated", "bytes"),
    "page1": ("html", "wrong_content_type", "text/html"),
    "lie1": ("lying", "html_body", "HTML"),
    "plain1": ("plain", "wrong_content_type", "text/plain"),
    "junk1": ("garbage", "decode_error", "decode"),
}


def test_bad_responses_are_reported_and_quarantined_good_ones_kept(server, videos, tmp_path):
    # the good route serves the body named before the "_" of the file name (ids with "+")
    urls = {
        "train": [f"{server.url}/good/a_a+x1.mp4", f"{server.url}/good/b_b+x2.mp4",
                  f"{server.url}/flaky/fl+1.mp4"],
        "test": [f"{server.url}/{route}/{vid}.mp4" for vid, (route, _, _) in BAD.items()]
        + [f"{server.url}/ranged/rg1.mp4"],
    }
    start = time.monotonic()
    summary = _fetch(tmp_path, urls)
    elapsed = time.monotonic() - start

    rows = {r["id"]: r for r in read_report(tmp_path)}
    assert len(rows) == len(urls["train"]) + len(urls["test"])
    for vid, (_, status, words) in BAD.items():
        assert rows[vid]["status"] == status, (vid, rows[vid])
        assert words.lower() in rows[vid]["error"].lower(), (vid, rows[vid]["error"])
        assert rows[vid]["split"] == "test"
    assert rows["m404"]["http_status"] == "404" and rows["e500"]["http_status"] == "500"
    assert rows["page1"]["content_type"].startswith("text/html")

    kept = {p.name for p in (tmp_path / "videos").iterdir()}
    assert kept == {"a_a+x1.mp4", "b_b+x2.mp4", "fl+1.mp4", "rg1.mp4"}
    assert (tmp_path / "videos" / "a_a+x1.mp4").read_bytes() == videos["a"]
    assert (tmp_path / "videos" / "fl+1.mp4").read_bytes() == videos["b"]
    assert (tmp_path / "videos" / "rg1.mp4").read_bytes() == videos["c"]
    for vid in ("a_a+x1", "fl+1", "rg1"):
        row = rows[vid]
        assert row["status"] == "ok" and row["error"] == ""
        assert row["sha256"] == _sha((tmp_path / "videos" / f"{vid}.mp4").read_bytes())
        assert int(row["bytes"]) == (tmp_path / "videos" / f"{vid}.mp4").stat().st_size

    # bad bodies sit in quarantine, never in videos/; nothing partial is left behind
    quarantine = tmp_path / "quarantine"
    for vid in ("page1", "lie1", "plain1", "junk1", "trunc1"):
        assert (quarantine / f"{vid}.body").exists(), vid
        assert json.loads((quarantine / f"{vid}.json").read_text())["status"] == BAD[vid][1]
    assert (quarantine / "lie1.body").read_bytes() == HTML
    assert (quarantine / "plain1.body").read_bytes() == videos["a"]
    assert 0 < (quarantine / "trunc1.body").stat().st_size < len(videos["a"])
    assert (quarantine / "m404.json").exists() and (quarantine / "slow1.json").exists()
    assert list((tmp_path / "partial").iterdir()) == []

    # retries: 5xx, timeouts and truncation are retried (retries=1 -> 2 requests), 404 and HTML are not
    assert server.hits["/missing/m404.mp4"] == 1
    assert server.hits["/html/page1.mp4"] == 1
    assert server.hits["/broken/e500.mp4"] == 2
    assert server.hits["/truncated/trunc1.mp4"] == 2
    assert server.hits["/slow/slow1.mp4"] == 2
    assert server.hits["/flaky/fl+1.mp4"] == 2
    assert "after 2 attempts" in rows["e500"]["error"]
    assert elapsed < 15, elapsed

    # summary and probe.csv: geometry read from the files (the ranged video is 12 fps, 10 frames)
    assert len(summary.ok) == 4 and len(summary.failed) == len(BAD)
    probes = {p.id: p for p in read_probe(tmp_path)}
    assert set(probes) == {"a_a+x1", "b_b+x2", "fl+1", "rg1"}
    assert (probes["a_a+x1"].width, probes["a_a+x1"].height, probes["a_a+x1"].frames) == (32, 24, 8)
    assert probes["a_a+x1"].fps == pytest.approx(25.0)
    assert (probes["rg1"].frames, probes["rg1"].split) == (10, "test")
    assert probes["rg1"].fps == pytest.approx(12.0)
    assert probes["fl+1"].url == f"{server.url}/flaky/fl+1.mp4"
    assert [p.id for p in summary.probes] == ["a_a+x1", "b_b+x2", "fl+1", "rg1"]  # train first, list order

    # a second run makes no request for a verified file and rewrites the report
    server.hits.clear()
    again = _fetch(tmp_path, urls)
    assert server.hits["/good/a_a+x1.mp4"] == 0 and server.hits["/ranged/rg1.mp4"] == 0
    assert server.hits["/missing/m404.mp4"] == 1  # failures are tried again
    rows2 = {r["id"]: r for r in read_report(tmp_path)}
    assert rows2["a_a+x1"]["status"] == "cached" and rows2["a_a+x1"]["sha256"] == rows["a_a+x1"]["sha256"]
    assert len(again.ok) == 4


def test_resume_partial_with_range(server, videos, tmp_path):
    body = videos["c"]
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "rg2.mp4.part").write_bytes(body[: len(body) // 2])
    summary = _fetch(tmp_path, {"train": [f"{server.url}/ranged/rg2.mp4"]})
    assert summary.records[0].status == "ok"
    assert server.log == [("/ranged/rg2.mp4", f"bytes={len(body) // 2}-")]
    assert _sha((tmp_path / "videos" / "rg2.mp4").read_bytes()) == _sha(body)


def test_partial_restarts_when_server_ignores_range(server, videos, tmp_path):
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "b_x.mp4.part").write_bytes(b"\x00stale bytes from another file")
    _fetch(tmp_path, {"train": [f"{server.url}/good/b_x.mp4"]})
    assert server.log[0][1] is not None  # it asked for a range, got 200, started over
    assert (tmp_path / "videos" / "b_x.mp4").read_bytes() == videos["b"]


def test_error_page_replaces_a_stale_partial_in_quarantine(server, tmp_path):
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "pg2.mp4.part").write_bytes(b"\x00" * 100)
    summary = _fetch(tmp_path, {"train": [f"{server.url}/html/pg2.mp4"]})
    assert summary.records[0].status == "wrong_content_type"
    assert (tmp_path / "quarantine" / "pg2.body").read_bytes() == HTML
    assert not (tmp_path / "partial" / "pg2.mp4.part").exists()
    assert not (tmp_path / "videos" / "pg2.mp4").exists()


def test_kept_file_damaged_on_disk_is_fetched_again(server, videos, tmp_path):
    url = f"{server.url}/good/a_dmg.mp4"
    _fetch(tmp_path, {"train": [url]})
    (tmp_path / "videos" / "a_dmg.mp4").write_bytes(HTML)  # an earlier crawler's error page
    server.hits.clear()
    _fetch(tmp_path, {"train": [url]})
    assert server.hits["/good/a_dmg.mp4"] == 1
    assert (tmp_path / "videos" / "a_dmg.mp4").read_bytes() == videos["a"]


def test_unindexed_video_on_disk_is_reverified_not_refetched(server, videos, tmp_path):
    url = f"{server.url}/good/a_idx.mp4"
    _fetch(tmp_path, {"train": [url]})
    (tmp_path / "verified.json").unlink()  # as if killed between the rename and the index write
    server.hits.clear()
    summary = _fetch(tmp_path, {"train": [url]})
    assert server.hits["/good/a_idx.mp4"] == 0
    assert summary.records[0].status == "cached"
    assert "a_idx" in json.loads((tmp_path / "verified.json").read_text())


def test_redirect_to_ftp_is_refused(server, tmp_path):
    summary = _fetch(tmp_path, {"train": [f"{server.url}/redirect/r1.mp4"]})
    rec = summary.records[0]
    assert rec.status == "bad_redirect" and "ftp://" in rec.error
    assert not (tmp_path / "videos" / "r1.mp4").exists()


# -- source safety and ids ---------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "ftp://example.com/a.mp4", "javascript:alert(1)", "data:video/mp4;base64,AAAA",
    "file://evil.example.com/etc/a.mp4", "gopher://x/a.mp4", "https:///nohost.mp4",
])
def test_bad_schemes_are_rejected_before_any_request(server, tmp_path, url):
    with pytest.raises(UnsupportedSourceError) as err:
        _fetch(tmp_path, {"train": [f"{server.url}/good/a_ok.mp4", url]})
    assert url in str(err.value)
    assert server.log == []


@pytest.mark.parametrize("url", [
    "https://x.org/videos/..%2F..%2Fetc.mp4", "https://x.org/%2E%2E.mp4", "https://x.org/a%2Fb.mp4",
    "https://x.org/", "https://x.org/.hidden.mp4", "https://x.org/a%00b.mp4", "https://x.org/a%0Ab.mp4",
])
def test_unsafe_ids_are_rejected(url):
    with pytest.raises(UnsupportedSourceError, match="not a safe file name"):
        video_id_from_url(url)


def test_names_that_are_not_ids_get_a_safe_id_derived_from_them():
    import hashlib
    import unicodedata

    nfc = "robe_\u00e9t\u00e9"  # robe_été, composed
    want = f"robe_ete-{hashlib.sha256(nfc.encode()).hexdigest()[:8]}"
    assert video_id_from_url(f"videos/{nfc}.mp4") == want
    assert video_id_from_url(unicodedata.normalize("NFD", f"videos/{nfc}.mp4")) == want  # macOS spelling
    assert video_id_from_url("https://x.org/robe_%C3%A9t%C3%A9.mp4") == want
    assert video_id_from_url("https://x.org/a%20b.mp4").startswith("a_b-")
    assert video_id_from_url("https://x.org/a%20b.mp4") != video_id_from_url("https://x.org/a_b.mp4")
    assert video_id_from_url(want + ".mp4") == want  # a derived id is a fixed point (lists rewrite it)


def test_a_users_list_may_name_local_files_only_inside_its_folder(videos, tmp_path):
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes(videos["a"])
    src = tmp_path / "src"
    (src / "videos").mkdir(parents=True)
    (src / "videos" / "in.mp4").write_bytes(videos["a"])
    for entry in (outside.as_uri(), str(outside), "../elsewhere.mp4", "videos/../../elsewhere.mp4"):
        (src / "fashion_train.txt").write_text(f"videos/in.mp4\n{entry}\n")
        with pytest.raises(UnsupportedSourceError, match="outside the list's folder"):
            fetch_dataset(tmp_path / "d", source_dir=src, progress=False)
        urls = src / "urls.txt"
        urls.write_text(f"train {entry}\n")
        with pytest.raises(UnsupportedSourceError, match="outside the list's folder"):
            fetch_dataset(tmp_path / "d", urls_file=urls, progress=False)
    assert not (tmp_path / "d" / "videos").exists() or not list((tmp_path / "d" / "videos").iterdir())
    (src / "fashion_train.txt").write_text(f"{(src / 'videos' / 'in.mp4').as_uri()}\n")  # inside: fine
    assert [p.id for p in fetch_dataset(tmp_path / "d", source_dir=src, progress=False).probes] == ["in"]


def test_a_downloaded_list_may_only_hold_http_urls(server, monkeypatch, tmp_path):
    server.lists = {"fashion_train.txt": "file:///etc/passwd\n", "fashion_test.txt": "videos/x.mp4\n"}
    official_lists(monkeypatch, {s: f"{server.url}/lists/fashion_{s}.txt" for s in ("train", "test")})
    with pytest.raises(UnsupportedSourceError, match="only hold http") as err:
        fetch_dataset(tmp_path, progress=False, timeout=TIMEOUT)
    # both bad lines, each with its list and line number, in one error
    assert "/etc/passwd" in str(err.value) and "videos/x.mp4" in str(err.value)
    assert "fashion_train.txt line 1:" in str(err.value) and "fashion_test.txt line 1:" in str(err.value)
    assert not (tmp_path / "videos").exists() and not (tmp_path / "quarantine").exists()


def test_an_interrupt_stops_running_and_queued_downloads_and_keeps_their_partial_files(server, tmp_path):
    """Ctrl-C while downloading: the running downloads stop at their next chunk, the queued ones never
    start (a `with ThreadPoolExecutor` would first run every queued one), and what was received stays in
    partial/ for the next run to continue with Range."""
    urls = {"train": [f"{server.url}/dribble/d{i}.mp4" for i in range(6)]}
    timer = threading.Timer(0.6, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            _fetch(tmp_path, urls, workers=2, retries=0, timeout=5)
    finally:
        timer.cancel()
    assert time.monotonic() - start < 2.5  # one download alone takes about 6.5 s
    parts = sorted((tmp_path / "partial").glob("*.part"))
    assert len(parts) == 2 and all(0 < p.stat().st_size < DRIBBLE_CHUNK * DRIBBLE_CHUNKS for p in parts)
    assert not list((tmp_path / "quarantine").iterdir()) and not list((tmp_path / "videos").iterdir())
    assert sum(n for path, n in server.hits.items() if path.startswith("/dribble/")) == 2


def test_ids_round_trip_with_plus():
    assert video_id_from_url("https://m.media-amazon.com/images/I/91+lh0Tm9vS.mp4") == "91+lh0Tm9vS"
    assert video_id_from_url("https://m.media-amazon.com/images/I/91%2Blh0Tm9vS.mp4") == "91+lh0Tm9vS"
    assert video_id_from_url("videos/A1+b-C_2.mp4") == "A1+b-C_2"
    assert video_id_from_url("file:///data/v/A1+b.mp4") == "A1+b"
    assert classify_url("https://h/x.mp4") == ("http", None)
    assert classify_url("file:///data/v/A1+b.mp4") == ("local", Path("/data/v/A1+b.mp4"))
    assert classify_url("videos/x.mp4", Path("/src")) == ("local", Path("/src/videos/x.mp4"))


def test_plus_ids_survive_a_local_round_trip(videos, tmp_path):
    src = tmp_path / "src"
    (src / "videos").mkdir(parents=True)
    (src / "videos" / "9+Ab+c.mp4").write_bytes(videos["a"])
    (src / "fashion_train.txt").write_text("videos/9+Ab+c.mp4\n")
    dest = tmp_path / "dest"
    fetch_dataset(dest, source_dir=src, progress=False)
    assert [p.id for p in read_probe(dest)] == ["9+Ab+c"]
    assert (dest / "fashion_train.txt").read_text() == "videos/9+Ab+c.mp4\n"


def test_urls_file_format(tmp_path):
    f = tmp_path / "urls.txt"
    f.write_text("# comment\nhttps://h/a.mp4\n\ntest https://h/b.mp4\ntrain,https://h/c.mp4\n")
    assert parse_urls_file(f) == {"train": ["https://h/a.mp4", "https://h/c.mp4"], "test": ["https://h/b.mp4"]}
    f.write_text("train https://h/a.mp4 extra\n")
    with pytest.raises(ValueError, match="3 fields"):
        parse_urls_file(f)
    f.write_text("tr/ain https://h/a.mp4\n")
    with pytest.raises(ValueError, match="split"):
        parse_urls_file(f)


def test_urls_file_download(server, videos, tmp_path):
    f = tmp_path / "urls.txt"
    f.write_text(f"train {server.url}/good/a_u1.mp4\ntest {server.url}/good/b_u2.mp4\n")
    summary = fetch_dataset(tmp_path / "d", urls_file=f, progress=True, timeout=TIMEOUT)
    assert {(p.id, p.split) for p in summary.probes} == {("a_u1", "train"), ("b_u2", "test")}
    assert (tmp_path / "d" / "fashion_test.txt").read_text() == f"{server.url}/good/b_u2.mp4\n"


def test_sniff_body():
    assert sniff_body(HTML) == "html"
    assert sniff_body(b"  \n<html>") == "html"
    assert sniff_body(b'{"error": "denied"}') == "text"
    assert sniff_body(b"Access denied\n") == "text"
    assert sniff_body(b"\x00\x00\x00\x18ftypmp42") is None


# -- local sources -----------------------------------------------------------------------------------
def test_source_dir_verifies_and_links(videos, tmp_path):
    src = tmp_path / "src"
    (src / "videos").mkdir(parents=True)
    (src / "videos" / "v1.mp4").write_bytes(videos["a"])
    (src / "videos" / "v2.mp4").write_bytes(videos["c"])
    (src / "videos" / "err.mp4").write_bytes(HTML)  # an error page saved as a video
    (src / "fashion_train.txt").write_text("videos/v1.mp4\nvideos/err.mp4\nvideos/gone.mp4\n")
    (src / "fashion_test.txt").write_text(f"{(src / 'videos' / 'v2.mp4').as_uri()}\nvideos/v1.mp4\n")
    dest = tmp_path / "dest"
    summary = fetch_dataset(dest, source_dir=src, progress=False)

    rows = {(r["id"], r["split"]): r for r in read_report(dest)}
    assert rows[("v1", "train")]["status"] == "ok"
    assert rows[("v2", "test")]["status"] == "ok"
    assert rows[("err", "train")]["status"] == "html_body"
    assert rows[("gone", "train")]["status"] == "missing"
    assert rows[("v1", "test")]["status"] == "duplicate" and "train" in rows[("v1", "test")]["error"]
    assert sorted(p.name for p in (dest / "videos").iterdir()) == ["v1.mp4", "v2.mp4"]
    assert (dest / "videos" / "v1.mp4").read_bytes() == videos["a"]
    assert (src / "videos" / "err.mp4").exists()  # the user's file is copied to quarantine, not moved
    assert (dest / "quarantine" / "err.body").read_bytes() == HTML
    assert [(p.id, p.split, p.frames) for p in summary.probes] == [("v1", "train", 8), ("v2", "test", 10)]

    # dest is itself a valid source folder
    again = fetch_dataset(tmp_path / "dest2", source_dir=dest, progress=False)
    assert [p.id for p in again.probes] == ["v1", "v2"]


def test_synthetic_generator_output_is_a_valid_source(tmp_path):
    make_dataset(tmp_path / "synth", n_train=2, n_test=1, frames=6, height=24, width=32, workers=1,
                 progress=False)
    summary = fetch_dataset(tmp_path / "dest", source_dir=tmp_path / "synth", progress=False)
    assert [(p.id, p.split, p.width, p.height, p.frames) for p in summary.probes] == [
        ("synth_train_0000", "train", 32, 24, 6), ("synth_train_0001", "train", 32, 24, 6),
        ("synth_test_0000", "test", 32, 24, 6)]
    assert {r.status for r in summary.records} == {"ok"}


def test_source_dir_errors(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        fetch_dataset(tmp_path / "d", source_dir=tmp_path / "nope", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="fashion_train.txt"):
        fetch_dataset(tmp_path / "d", source_dir=tmp_path / "empty", progress=False)
    with pytest.raises(ValueError, match="at most one"):
        fetch_dataset(tmp_path / "d", urls={}, source_dir=tmp_path / "empty", progress=False)
    with pytest.raises(ValueError, match="workers"):
        fetch_dataset(tmp_path / "d", urls={}, workers=0, progress=False)
    (tmp_path / "empty" / "fashion_train.txt").write_text("# nothing yet\n\n")
    with pytest.raises(ValueError, match="lists no videos"):
        fetch_dataset(tmp_path / "d", source_dir=tmp_path / "empty", progress=False)


def test_probe_all_drops_a_kept_file_that_no_longer_decodes(videos, tmp_path):
    src = tmp_path / "src"
    (src / "videos").mkdir(parents=True)
    (src / "videos" / "p1.mp4").write_bytes(videos["a"])
    (src / "videos" / "p2.mp4").write_bytes(videos["b"])
    (src / "fashion_train.txt").write_text("videos/p1.mp4\nvideos/p2.mp4\n")
    dest = tmp_path / "dest"
    fetch_dataset(dest, source_dir=src, progress=False)
    (dest / "videos" / "p2.mp4").unlink()
    (dest / "videos" / "p2.mp4").write_bytes(videos["b"][:300])  # truncated after the fact
    with pytest.warns(UserWarning, match="no longer decodes"):
        rows = probe_all(dest)
    assert [r.id for r in rows] == ["p1"]
    assert not (dest / "videos" / "p2.mp4").exists()
    assert "p2" not in json.loads((dest / "verified.json").read_text())
    assert [r.id for r in read_probe(dest)] == ["p1"]


# -- the official lists ------------------------------------------------------------------------------
def test_official_lists_are_fetched_and_stored(server, videos, monkeypatch, tmp_path):
    server.lists = {"fashion_train.txt": f"{server.url}/good/a_o1.mp4\n",
                    "fashion_test.txt": f"{server.url}/good/b_o2.mp4\n"}
    official_lists(monkeypatch, {s: f"{server.url}/lists/fashion_{s}.txt" for s in ("train", "test")})
    summary = fetch_dataset(tmp_path, progress=False, timeout=TIMEOUT)
    assert (tmp_path / "fashion_train.txt").read_text() == server.lists["fashion_train.txt"]
    assert [(p.id, p.split) for p in summary.probes] == [("a_o1", "train"), ("b_o2", "test")]


def test_official_lists_offline_fail_fast(monkeypatch, tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    official_lists(monkeypatch, {"train": f"http://127.0.0.1:{port}/fashion_train.txt"})
    start = time.monotonic()
    with pytest.raises(DownloadError) as err:
        fetch_dataset(tmp_path, progress=False, retries=1, backoff=0.01, timeout=TIMEOUT)
    assert time.monotonic() - start < 5
    assert "--urls" in str(err.value) and "--source" in str(err.value)


def official_lists(monkeypatch, lists: dict[str, str]) -> None:
    """Point the default dataset's published lists at `lists` ({split: URL}) for one test."""
    from ffbench.datasets import spec

    splits = tuple(spec.SplitSpec(s, f"fashion_{s}.txt", url=u) for s, u in lists.items())
    monkeypatch.setitem(spec.DATASETS, spec.DEFAULT_DATASET,
                        spec.DatasetSpec(spec.DEFAULT_DATASET, splits, test_split=splits[-1].name))
