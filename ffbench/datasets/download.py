"""Download, verify and probe the Fashion videos into a dataset folder (`DATA/source`).

`fetch_dataset(dest, ...)` takes its videos from the official UBC Fashion URL lists, from a `--urls`
file, or from a local folder laid out like a download (`--source DIR`, e.g. the synthetic generator's
output), and leaves in `dest`:

- `videos/<id>.mp4`: only files that passed every check (HTTP status, content type, not an HTML/text
  body, size as announced, decodes with frames);
- `quarantine/<id>.body` + `quarantine/<id>.json`: whatever failed, with the reason;
- `download_report.csv`: one row per listed URL (id, url, split, status, http_status, content_type,
  bytes, sha256, error), rewritten atomically every run;
- `verified.json`: size and sha256 of each kept video, so a rerun skips them without a request;
- `partial/<id>.mp4.part`: bodies of a run that was killed, continued with HTTP Range next time;
- each split's list file (the dataset spec's names, UBC Fashion's `fashion_<split>.txt`): the lists,
  local entries rewritten as `videos/<id>.mp4`, so `dest` is itself a valid `--source DIR`;
- `probe.csv`: the real width, height, fps and frame count of every kept video (`probe_all`).

Statuses in the report: ok, cached (verified by an earlier run, not fetched again), http_error, timeout,
connection_error, truncated, wrong_content_type, html_body, text_body, empty, size_mismatch,
decode_error, no_frames, bad_redirect (to a scheme other than http/https), missing (a local file that
does not exist), not_a_file (a local path that is a directory), duplicate (id listed twice), error (an
unexpected failure, with its message). A full or read-only disk stops the run (naming the file) rather
than failing every video in turn.
"""

from __future__ import annotations

import csv
import errno
import http.client
import json
import os
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

from ffbench.datasets.sources import (
    USER_AGENT,
    DownloadError,
    Source,
    UnsupportedSourceError,
    collect_sources,
    http_opener,
    write_lists,
)
from ffbench.datasets.spec import DatasetSpec
from ffbench.datasets.verify import (
    ProbeRecord,
    VerifyError,
    check_content_type,
    probe_all,
    read_index,
    read_probe,
    verify_video_file,
    write_csv,
)
from ffbench.fileio import sha256_file, write_text_atomic
from ffbench.progress import progress_bar

__all__ = [
    "DownloadError",
    "DownloadRecord",
    "DownloadSummary",
    "ProbeRecord",
    "UnsupportedSourceError",
    "fetch_dataset",
    "probe_all",
    "read_probe",
    "read_report",
]

_CHUNK = 1 << 16
_ERROR_BODY_LIMIT = 1 << 20  # bytes of an error page kept in quarantine
_OK = ("ok", "cached")
# OS errors that mean ffbench cannot write its own files: they stop the run instead of failing one video.
_STOP_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


@dataclass
class DownloadRecord:
    """One row of download_report.csv."""

    id: str
    url: str
    split: str
    status: str
    http_status: int | None = None
    content_type: str = ""
    bytes: int = 0
    sha256: str = ""
    error: str = ""


@dataclass
class DownloadSummary:
    dest: Path
    records: list[DownloadRecord] = field(default_factory=list)
    probes: list[ProbeRecord] = field(default_factory=list)

    @property
    def ok(self) -> list[DownloadRecord]:
        """Records of videos now kept in `dest/videos` (fetched this run or verified before)."""
        return [r for r in self.records if r.status in _OK]

    @property
    def failed(self) -> list[DownloadRecord]:
        return [r for r in self.records if r.status not in _OK and r.status != "duplicate"]

    def __str__(self) -> str:
        counts: dict[str, int] = {}
        for r in self.failed:
            counts[r.status] = counts.get(r.status, 0) + 1
        cached = sum(r.status == "cached" for r in self.records)
        bad = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
        return (f"{len(self.ok)} videos verified in {self.dest / 'videos'} ({cached} from earlier runs); "
                f"{len(self.failed)} failed ({bad}); report: {self.dest / 'download_report.csv'}")


class _Attempt(Exception):
    """One failed attempt; `retry` says whether trying again may help."""

    def __init__(self, status: str, message: str, retry: bool, http_status: int | None = None,
                 content_type: str = "", body: bytes | None = None):
        super().__init__(message)
        self.status, self.retry, self.http_status = status, retry, http_status
        self.content_type, self.body = content_type, body


class _Stopped(Exception):
    """The run is being interrupted: leave this video (its partial file stays for the next run)."""


class _Fetcher:
    """Fetches and verifies sources into one dataset folder; safe to call from several threads.

    `stop` (set when the run is interrupted) ends every download at its next chunk."""

    def __init__(self, dest: Path, retries: int, timeout: float, backoff: float, bytes_bar: Any):
        self.dest, self.retries, self.timeout, self.backoff = dest, retries, timeout, backoff
        self.videos, self.partial, self.quarantine = dest / "videos", dest / "partial", dest / "quarantine"
        for d in (self.videos, self.partial, self.quarantine):
            d.mkdir(parents=True, exist_ok=True)
        self.index_path = dest / "verified.json"
        self.index: dict[str, dict] = read_index(self.index_path)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.opener = http_opener()
        self.bytes_bar = bytes_bar

    # -- bookkeeping -------------------------------------------------------------------------------
    def _remember(self, src: Source, size: int, digest: str) -> None:
        with self.lock:
            self.index[src.id] = {"url": src.url, "split": src.split, "size": size, "sha256": digest}
            write_text_atomic(self.index_path, json.dumps(self.index, indent=1, sort_keys=True))

    def _forget(self, video_id: str) -> None:
        with self.lock:
            if self.index.pop(video_id, None) is not None:
                write_text_atomic(self.index_path, json.dumps(self.index, indent=1, sort_keys=True))

    def _quarantine(self, rec: DownloadRecord, body_file: Path | None = None, body: bytes | None = None,
                    copy: bool = False) -> None:
        """Put a failed body in quarantine/<id>.body (moved, or copied for a user's local file)."""
        target = self.quarantine / f"{rec.id}.body"
        if body_file is not None and body_file.exists():
            if copy:
                shutil.copyfile(body_file, target)
            else:
                os.replace(body_file, target)
        elif body is not None:
            target.write_bytes(body)
        write_text_atomic(self.quarantine / f"{rec.id}.json", json.dumps(asdict(rec), indent=1))

    def _clear_quarantine(self, video_id: str) -> None:
        for suffix in (".body", ".json"):
            (self.quarantine / f"{video_id}{suffix}").unlink(missing_ok=True)

    # -- one source --------------------------------------------------------------------------------
    def fetch(self, src: Source) -> DownloadRecord:
        """Fetch, verify and keep one video; never raises for a bad file (the record says why)."""
        rec = DownloadRecord(id=src.id, url=src.url, split=src.split, status="error")
        try:
            if self.stop.is_set():
                raise _Stopped
            if self._already_verified(src, rec):
                return rec
            if src.kind == "local":
                self._fetch_local(src, rec)
            else:
                self._fetch_http(src, rec)
        except _Stopped:
            rec.status, rec.error = "interrupted", "the run was interrupted before this video was done"
        except OSError as exc:
            if exc.errno in _STOP_ERRNOS:  # our own writes fail (full or read-only disk): stop, say where
                raise
            rec.status, rec.error = "error", f"{type(exc).__name__}: {exc}"
        except (ValueError, RuntimeError, http.client.HTTPException) as exc:
            # One bad file must not stop the others; the report says what happened. Bugs still raise.
            rec.status, rec.error = "error", f"{type(exc).__name__}: {exc}"
        return rec

    def _already_verified(self, src: Source, rec: DownloadRecord) -> bool:
        target = self.videos / f"{src.id}.mp4"
        entry = self.index.get(src.id)
        if not target.exists():
            if entry is not None:
                self._forget(src.id)
            return False
        if entry is not None and entry.get("url") != src.url:
            target.unlink()  # a video from another URL under the same id: fetch the listed one
            self._forget(src.id)
            return False
        size = target.stat().st_size
        digest = sha256_file(target)
        if entry is None or entry.get("size") != size or entry.get("sha256") != digest:
            # On disk but unknown or changed (e.g. killed between rename and index write): check it again.
            try:
                verify_video_file(target)
            except VerifyError as exc:
                rec.status, rec.bytes = exc.status, size
                rec.error = f"kept file failed re-verification: {exc}"
                self._forget(src.id)
                self._quarantine(rec, body_file=target)
                return False
        if entry is None or entry.get("split") != src.split or entry.get("sha256") != digest:
            self._remember(src, size, digest)
        rec.status, rec.bytes, rec.sha256, rec.error = "cached", size, digest, ""
        return True

    def _keep(self, src: Source, rec: DownloadRecord, part: Path, expected_size: int | None) -> None:
        """Verify `part` and rename it into videos/, or move it to quarantine."""
        rec.bytes = part.stat().st_size if part.exists() else 0
        try:
            verify_video_file(part, expected_size=expected_size)
        except VerifyError as exc:
            rec.status, rec.error = exc.status, str(exc)
            self._quarantine(rec, body_file=part)
            return
        rec.sha256 = sha256_file(part)
        os.replace(part, self.videos / f"{src.id}.mp4")
        self._remember(src, rec.bytes, rec.sha256)
        self._clear_quarantine(src.id)
        rec.status, rec.error = "ok", ""

    def _fetch_local(self, src: Source, rec: DownloadRecord) -> None:
        assert src.path is not None
        if src.path.is_dir():
            rec.status, rec.error = "not_a_file", f"{src.path} is a directory, not a video file"
            self._quarantine(rec)
            return
        if not src.path.is_file():
            rec.status, rec.error = "missing", f"no such file: {src.path}"
            self._quarantine(rec)
            return
        part = self.partial / f"{src.id}.mp4.part"
        part.unlink(missing_ok=True)
        try:
            os.link(src.path, part)  # same filesystem: no copy
        except OSError:
            shutil.copyfile(src.path, part)
        self.bytes_bar.update(part.stat().st_size)
        self._keep(src, rec, part, expected_size=None)  # verifies the copy, so we keep what we checked
        rec.error = rec.error.replace(str(part), str(src.path))  # name the user's file, not our copy

    def _fetch_http(self, src: Source, rec: DownloadRecord) -> None:
        part = self.partial / f"{src.id}.mp4.part"
        last: _Attempt | None = None
        for attempt in range(self.retries + 1):
            try:
                rec.http_status, rec.content_type, expected = self._attempt(src, part)
            except _Attempt as exc:
                last = exc
                rec.http_status = exc.http_status if exc.http_status is not None else rec.http_status
                rec.content_type = exc.content_type or rec.content_type
                if exc.retry and attempt < self.retries:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                break
            self._keep(src, rec, part, expected)
            return
        assert last is not None
        tries = f" after {attempt + 1} attempts" if last.retry and attempt else ""
        rec.status, rec.error = last.status, f"{last}{tries}"
        if last.body is not None:  # keep what the server said (an error page), not an old partial
            part.unlink(missing_ok=True)
        rec.bytes = part.stat().st_size if part.exists() else len(last.body or b"")
        self._quarantine(rec, body_file=part if part.exists() else None, body=last.body)

    def _attempt(self, src: Source, part: Path) -> tuple[int, str, int | None]:
        """One HTTP request into `part` (continuing it with Range if it exists).

        Returns (status, content type, expected total size or None); raises _Attempt.
        """
        offset = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": USER_AGENT, "Accept": "video/mp4,video/*;q=0.9,*/*;q=0.5"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            resp = self.opener.open(Request(src.url, headers=headers), timeout=self.timeout)
        except HTTPError as exc:
            ctype = exc.headers.get("Content-Type", "") if exc.headers else ""
            body = _read_error_body(exc)
            if exc.code == 416 and offset:  # our partial no longer fits the file: start over
                part.unlink(missing_ok=True)
                raise _Attempt("http_error", "HTTP 416 for a resumed range", True, exc.code, ctype) from None
            retry = exc.code >= 500 or exc.code in (408, 429)
            message = f"HTTP {exc.code} {exc.reason}"
            raise _Attempt("http_error", message, retry, exc.code, ctype, body) from None
        except UnsupportedSourceError as exc:  # a redirect to a scheme we refuse
            raise _Attempt("bad_redirect", str(exc), False) from None
        except (URLError, OSError, http.client.HTTPException) as exc:
            raise _network_failure(exc) from None
        with resp:
            code, ctype = resp.status, resp.headers.get("Content-Type", "")
            try:
                check_content_type(ctype)
            except VerifyError as exc:
                body = _read_limited(resp)
                raise _Attempt(exc.status, str(exc), False, code, ctype, body) from None
            expected = _int_or_none(resp.headers.get("Content-Length"))
            if code == 206 and offset:
                start, total = _parse_content_range(resp.headers.get("Content-Range", ""))
                if start != offset:
                    part.unlink(missing_ok=True)
                    message = f"server resumed at byte {start}, not {offset}"
                    raise _Attempt("http_error", message, True, code, ctype)
                mode, expected = "ab", total
            elif code in (200, 206):  # 200 to a Range request: the server cannot resume, so restart
                mode, offset = "wb", 0
            else:
                raise _Attempt("http_error", f"unexpected HTTP {code} {resp.reason}", False, code, ctype)
            try:
                with open(part, mode) as f:
                    while chunk := resp.read(_CHUNK):
                        if self.stop.is_set():
                            raise _Stopped
                        f.write(chunk)
                        self.bytes_bar.update(len(chunk))
            except http.client.IncompleteRead as exc:
                got = offset + _part_size(part)
                raise _Attempt("truncated", f"connection closed after {got} of {expected} bytes ({exc})",
                               True, code, ctype) from None
            except (OSError, http.client.HTTPException) as exc:
                raise _network_failure(exc, code, ctype) from None
        size = _part_size(part)
        if expected is not None and size < expected:
            raise _Attempt("truncated", f"got {size} of {expected} bytes", True, code, ctype)
        return code, ctype, expected


def _part_size(part: Path) -> int:
    return part.stat().st_size if part.exists() else 0


def _network_failure(exc: BaseException, code: int | None = None, ctype: str = "") -> _Attempt:
    reason = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return _Attempt("timeout", f"timed out ({reason or 'no answer'})", True, code, ctype)
    return _Attempt("connection_error", f"{type(reason).__name__}: {reason}", True, code, ctype)


def _read_limited(resp) -> bytes:
    try:
        return resp.read(_ERROR_BODY_LIMIT)
    except (OSError, http.client.HTTPException):
        return b""


def _read_error_body(exc: HTTPError) -> bytes:
    try:
        return exc.read(_ERROR_BODY_LIMIT) or b""
    except (OSError, http.client.HTTPException, AttributeError):
        return b""


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _parse_content_range(value: str) -> tuple[int, int | None]:
    """`bytes 100-199/200` -> (100, 200); an unknown total (`*`) gives None."""
    try:
        unit, spec = value.split(" ", 1)
        span, total = spec.split("/", 1)
        start = int(span.split("-", 1)[0])
        return start, (None if total.strip() == "*" else int(total))
    except ValueError:
        return -1, None


def read_report(dest: str | Path) -> list[dict[str, str]]:
    """The rows of dest/download_report.csv as dicts of strings."""
    with open(Path(dest) / "download_report.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- public entry points -----------------------------------------------------------------------------
def fetch_dataset(dest: str | Path, urls: dict[str, list[str]] | None = None,
                  urls_file: str | Path | None = None, source_dir: str | Path | None = None,
                  workers: int = 4, retries: int = 3,
                  timeout: float = 30.0, backoff: float = 0.5, progress: bool = True,
                  sources: list[Source] | None = None, dataset: DatasetSpec | None = None) -> DownloadSummary:
    """Fetch, verify and probe every listed video into `dest` (see the module docstring for the layout).

    Args:
        dest: the dataset's source folder (`DATA/source`); created if missing.
        urls: {split: [url or path, ...]} given directly.
        urls_file: a `--urls FILE`: lines `URL` (the train split) or `SPLIT URL`.
        source_dir: a local folder with the splits' list files (the spec's names or `<split>.txt`)
            listing relative paths or URLs, plus the files. With none of the three, the dataset's
            published lists are fetched (UBC Fashion's: DESIGN.md section 2).
        workers: parallel downloads.
        retries: extra attempts after a connection error, timeout, truncated body, 5xx, 408 or 429
            (never after another 4xx); the wait before attempt k+1 is backoff * 2**k seconds.
        timeout: seconds without progress before a connection or read gives up.
        progress: show tqdm bars over files and bytes.
        sources: the lists already checked by `sources.collect_sources` (then urls, urls_file and
            source_dir are not read again).
        dataset: the split names and list file names (None: the default dataset, UBC Fashion).

    Returns a DownloadSummary; failed files are in the report and quarantine, never in `dest/videos`.
    Raises BadListError naming every URL that is not http(s)/file/path or yields an unsafe id, and
    DownloadError when the official lists cannot be fetched, before `dest` is created. An interrupt
    (KeyboardInterrupt) stops the downloads at their next chunk, keeping partial files for the next run.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1; got {workers}")
    if retries < 0:
        raise ValueError(f"retries must be 0 or more; got {retries}")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive seconds; got {timeout}")
    dest = Path(dest)
    srcs = sources if sources is not None else collect_sources(dest, urls, urls_file, source_dir, timeout,
                                                               retries, backoff, dataset)
    dest.mkdir(parents=True, exist_ok=True)  # only once the lists are known to be good

    unique: dict[str, Source] = {}
    records: list[DownloadRecord | None] = []
    for s in srcs:
        if s.id in unique:
            first = unique[s.id]
            records.append(DownloadRecord(s.id, s.url, s.split, "duplicate",
                                          error=f"id already listed in split {first.split} as {first.url}"))
        else:
            unique[s.id] = s
            records.append(None)
    write_lists(dest, list(unique.values()), dataset)

    with progress_bar(total=len(unique), desc="videos", unit="file", disable=not progress) as files_bar, \
            progress_bar(desc="download", unit="B", unit_scale=True, disable=not progress,
                         position=1) as bytes_bar:
        fetcher = _Fetcher(dest, retries, timeout, backoff, bytes_bar)

        def run(src: Source) -> DownloadRecord:
            rec = fetcher.fetch(src)
            files_bar.update(1)
            return rec

        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            done = dict(zip(unique, pool.map(run, unique.values()), strict=True))
        except BaseException:  # an interrupt: stop the running downloads, start no queued one
            fetcher.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    it = iter(unique)
    records = [r if r is not None else done[next(it)] for r in records]
    write_csv(dest / "download_report.csv", records, DownloadRecord)
    probes = probe_all(dest, workers=workers, dataset=dataset)
    summary = DownloadSummary(dest=dest, records=records, probes=probes)
    return summary
