"""Broken and hostile shards for the issue-25 tests, made from a good prepared folder (tests/pixel_shards.py).

`break_split(data, kind)` replaces every shard of `data/shards/train` by one of `KINDS` and rewrites the
manifest so it vouches for the new bytes (as a dataset someone handed over would), so a reader meets the
damage itself, not a size mismatch.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

WATCHDOG_SECONDS = 60  # the bound: no command takes longer to refuse a bad input


def _members(shard: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(shard) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _symlink(shard: Path) -> bytes:
    info = tarfile.TarInfo("train0.mp4")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return _tar([(info, None)])


def _garbage(shard: Path) -> bytes:
    # Every payload replaced by bytes of the same length that decode as nothing (names kept).
    out = []
    for info, data in _members(shard):
        noise = hashlib.sha256(info.name.encode()).digest() * (len(data) // 32 + 1)
        out.append(_file(info.name, noise[: len(data)]))
    return _tar(out)


def _missing_keys(shard: Path) -> bytes:
    # Samples with their json only: no mp4, no cached features.
    return _tar([_file(info.name, data) for info, data in _members(shard) if info.name.endswith(".json")])


KINDS: dict[str, Callable[[Path], bytes]] = {
    "not-a-tar": lambda shard: b"<html>404 not found</html>\n" * 40,
    "empty-tar": lambda shard: _tar([]),
    "symlink-member": _symlink,
    "climbing-member": lambda shard: _tar([_file("../../evil.json", b"{}")]),
    "missing-keys": _missing_keys,
    "garbage-payloads": _garbage,
}
# What the message must say besides the shard's name.
EXPECT = {
    "not-a-tar": ("not a readable tar",),
    "empty-tar": ("holds no sample",),
    "symlink-member": ("'train0.mp4' is a link",),
    "climbing-member": ("'../../evil.json' climbs out of the archive",),
    "missing-keys": ("lack", "train0", "train1"),
    "garbage-payloads": ("train0", "train1"),
}


def break_split(data: Path, kind: str, copy_to: Path) -> tuple[Path, list[Path]]:
    """Copy the prepared folder `data` to `copy_to`, replace every train shard by `kind` and vouch for it in
    the manifest; return (the copy, the replaced shards)."""
    shutil.copytree(data, copy_to)
    split = copy_to / "shards" / "train"
    manifest = json.loads((split / "manifest.json").read_text())
    shards = []
    for entry in manifest["shards"]:
        path = split / entry["name"]
        path.write_bytes(KINDS[kind](path))
        entry["bytes"] = path.stat().st_size
        entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        shards.append(path)
    (split / "manifest.json").write_text(json.dumps(manifest))
    return copy_to, shards


def tree_digest(folder: Path) -> dict[str, str]:
    """{relative path: sha256 of the bytes, or 'dir'} of everything under `folder`."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames:
            out[str((Path(dirpath) / name).relative_to(folder))] = "dir"
        for name in filenames:
            path = Path(dirpath) / name
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


class Hang(BaseException):
    """Raised by `watchdog`: a BaseException, so no `except Exception` skip-and-retry loop can swallow it."""


@contextmanager
def watchdog(seconds: int = WATCHDOG_SECONDS) -> Iterator[Callable[[], float]]:
    """Raise Hang in the main thread after `seconds`, and again every second until it gets out (a hang fails
    the test instead of blocking the suite); yields a function giving the seconds elapsed."""
    def expired(signum, frame):
        raise Hang(f"still running after {seconds} s: the command hangs on a bad input")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    start = time.monotonic()
    try:
        yield lambda: time.monotonic() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
