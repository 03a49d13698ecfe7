"""File helpers every stage shares: checksums, and writes that never leave a half-written file behind.

Every file and folder ffbench writes gets the permissions the user's umask gives (0644 / 0755 under
the usual umask 022). `tempfile.mkstemp` / `mkdtemp` make private 0600 / 0700 entries, which an
`os.replace` would carry to the final name: use `mkstemp` / `mkdtemp` from here instead, and pass
folders written by libraries that make private files (safetensors weights) through `apply_umask`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def current_umask() -> int:
    """The process umask, read without changing it (os.umask can only be read by setting it, which
    races with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc (macOS): the only way to read it
    os.umask(mask)
    return mask


def mkstemp(dir: str | os.PathLike, prefix: str = "", suffix: str = "") -> tuple[int, str]:
    """`tempfile.mkstemp`, but the file gets the umask's permissions (0644 under umask 022), not 0600."""
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=dir)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    return fd, path


def mkdtemp(dir: str | os.PathLike, prefix: str = "") -> Path:
    """`tempfile.mkdtemp`, but the folder gets the umask's permissions (0755 under umask 022), not 0700."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    os.chmod(path, 0o777 & ~current_umask())
    return path


def apply_umask(path: str | os.PathLike) -> None:
    """Give `path` and everything under it the umask's permissions (files 0644, folders 0755 under umask
    022). For trees written by libraries that make private files: safetensors 0.8 creates 0600 weights,
    so a `save_pretrained` folder is passed through here before it is renamed into place."""
    umask = current_umask()
    path = Path(path)
    entries = [path] + (sorted(path.rglob("*")) if path.is_dir() else [])
    for entry in entries:
        if entry.is_symlink():
            continue
        os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~umask)


def temp_name(path: Path) -> str:
    """Prefix of temporary files beside `path`; `remove_stale_temporaries` finds them by `.*.tmp-*`."""
    return f".{path.name}.tmp-"


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; on success flush it to disk and rename it into
    place, on any failure delete it. An OSError that names no file (a full disk on write) is raised
    again naming `path`, so the user learns which file could not be written.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = mkstemp(path.parent, prefix=temp_name(path))
    try:
        with os.fdopen(fd, mode, **({"encoding": encoding} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if err.filename is None and err.errno is not None:
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to a temporary name beside `path`, flush it to disk, then rename it into place."""
    with atomic_open(path, "w") as f:
        f.write(text)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` atomically (temporary name, fsync, rename)."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write JSON (indented, sorted keys: stable bytes for the same data) atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
