"""Where a run's data is and the error for data that does not fit it: shared by every model's training."""

from __future__ import annotations

from pathlib import Path

from ffbench.errors import UserError


class ShardMismatchError(UserError, ValueError):
    """The shards were prepared for another preset or with other encoders than the run asks for."""


def find_data_dir(shards: str | Path) -> Path:
    """The prepared DATA directory (holding `shards/train/manifest.json` and `encoders/`) for `--shards`,
    which may name DATA, DATA/shards or DATA/shards/train."""
    given = Path(shards)
    for candidate in (given, given.parent, given.parent.parent):
        if (candidate / "shards" / "train" / "manifest.json").is_file():
            return candidate
    if not given.exists():
        raise ShardMismatchError(f"--shards {shards}: no such folder; pass the folder written by `ffbench "
                                 "prepare --out`, e.g. `ffbench prepare --synthetic --preset cpu --out "
                                 f"{shards}`")
    raise ShardMismatchError(
        f"--shards {shards}: no shards/train/manifest.json there or above; prepare data first, e.g. "
        f"`ffbench prepare --synthetic --preset cpu --out {shards}` (or finish an interrupted prepare by "
        "running it again)"
    )
