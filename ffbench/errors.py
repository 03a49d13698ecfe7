"""The one error path of the command line.

`UserError` is an expected failure (bad input, missing weights, an output that cannot be written, a
checkpoint that does not fit): its message names the file or option, says what is wrong and what to
do. The CLI prints it, exits 1 and shows no traceback. Every other exception is a bug and keeps its
traceback. Domain errors (VideoError, ManifestError, CheckpointError, ...) derive from UserError, so
library code raises the precise type and the CLI needs no per-command translation.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ffbench.fileio import mkstemp


class UserError(Exception):
    """An expected failure the user can fix; the message says what and how."""


# OS failures that come from the environment, not from a bug: one line naming the file, no traceback.
_ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR,
                       errno.EISDIR, errno.ENAMETOOLONG, errno.EMFILE}


def describe_os_error(err: OSError) -> str | None:
    """A one-line message for an OSError caused by the environment (read-only or full disk, a file where a
    folder should be, ...); None for any other OSError, which stays a bug with its traceback."""
    if err.errno not in _ENVIRONMENT_ERRNOS:
        return None
    where = err.filename or "?"
    hints = {
        errno.EACCES: "check its permissions or choose another location",
        errno.EPERM: "check its permissions or choose another location",
        errno.EROFS: "the file system is read-only; choose another location",
        errno.ENOSPC: "the disk is full; free space or choose another location, then run the same command "
                      "again (finished work is kept)",
        errno.EDQUOT: "the disk quota is used up; free space or choose another location",
        errno.ENOTDIR: "a part of this path is a file, not a folder; choose another path",
        errno.EISDIR: "this is a folder where a file is expected; choose another path",
    }
    hint = hints.get(err.errno, "")
    return f"{where}: {os.strerror(err.errno)}" + (f"; {hint}" if hint else "")


def ensure_writable_dir(path: str | os.PathLike, option: str) -> Path:
    """Create folder `path` if needed and prove a file can be written in it, before any long work starts.

    Raises UserError naming `option` (e.g. "--out") when it cannot: a file in the way, a read-only or
    full file system, missing permissions.
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise UserError(f"{option} {path}: this is a file, not a folder; choose a folder path")
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = mkstemp(path, prefix=".ffbench-write-test-")
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        if err.filename is None or ".ffbench-write-test-" in str(err.filename):  # the folder, not the probe
            err.filename = str(path)
        message = describe_os_error(err) or f"{path}: {err}"
        raise UserError(f"{option} {path} cannot be written: {message}") from None
    return path


def check_writable_dir(path: str | os.PathLike, option: str) -> Path:
    """`ensure_writable_dir` without creating anything: prove a folder `path` could be made and written,
    by probing `path` or, while it does not exist, its nearest existing parent. For checks made before the
    inputs are read, so a run that then fails on its inputs leaves no empty folder behind."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: this is a file, not a folder; choose a folder path")
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != path.absolute() and not existing.is_dir():
        raise UserError(f"{option} {path}: {existing} is a file, not a folder; choose another path")
    try:
        ensure_writable_dir(existing, option)
    except UserError as err:
        if existing == path.absolute():
            raise
        raise UserError(f"{option} {path}: {err}") from None
    return path
