"""Feature cache: .npz files keyed by a hash of everything that determines their content."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ffbench import fileio
from ffbench.hashing import cache_key  # noqa: F401  (re-exported for the metrics)


def save_npz_atomic(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write `arrays` to `path` (.npz, no pickle) through a temporary file and os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = fileio.mkstemp(path.parent, prefix=path.name + ".", suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_npz(path: str | Path) -> dict[str, np.ndarray] | None:
    """Load a cache file, or None when it is missing or unreadable (a torn file is rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError):
        return None
