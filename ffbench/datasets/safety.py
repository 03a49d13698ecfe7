"""Tar member name checks: a shard may only hold plain relative names.

Shards can come from elsewhere (a shared drive, a download); a member called `/etc/passwd` or
`../../x` must never reach code that might extract it, so readers refuse the whole shard.
"""

from __future__ import annotations

import posixpath
import tarfile
from pathlib import Path

from ffbench.errors import UserError


class UnsafeTarError(UserError, ValueError):
    """A tar archive holds a member whose name or type is not allowed."""


def check_member_name(name: str, archive: str | Path = "<tar>") -> None:
    """Raise UnsafeTarError unless `name` is a plain relative path without `..` parts."""
    if not name or "\\" in name or "\x00" in name:
        raise UnsafeTarError(f"{archive}: member name {name!r} is empty or holds a backslash/NUL; "
                             "refusing the shard: rebuild it with `ffbench prepare`")
    if name.startswith("/") or posixpath.isabs(name) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeTarError(f"{archive}: member name {name!r} is an absolute path; "
                             "refusing the shard: rebuild it with `ffbench prepare`")
    if ".." in name.split("/"):
        raise UnsafeTarError(f"{archive}: member name {name!r} climbs out of the archive with '..'; "
                             "refusing the shard: rebuild it with `ffbench prepare`")


def check_member(info: tarfile.TarInfo, archive: str | Path = "<tar>") -> None:
    """Check a member's name and refuse links and devices (shards hold regular files only)."""
    check_member_name(info.name, archive)
    if not (info.isreg() or info.isdir()):
        raise UnsafeTarError(f"{archive}: member {info.name!r} is a link or special file; "
                             "shards hold regular files only; refusing the shard")
