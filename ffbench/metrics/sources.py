"""Video sources for evaluation: a folder of mp4/gif files or a folder of WebDataset shards.

`open_source(path)` decides which, lists the items (for the cache key) and streams them one at a time,
each as a file path or the bytes of one video, so memory does not grow with the number of videos.

`--real` may also be the dataset root that `ffbench prepare --out DATA` wrote: a folder holding neither
videos nor shards is read from `DATA/shards/test/` (or `DATA/test/`). `--fake` must be a folder of
generated videos (`open_fake`): shards, a manifest or a prepared dataset there mean the two folders were
swapped, and the error says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ffbench.errors import UserError

VIDEO_SUFFIXES = (".mp4", ".gif", ".webm", ".mkv", ".avi", ".mov")
SHARD_SUFFIX = ".tar"
MANIFEST = "manifest.json"
GENERATION_FILE = "generation.json"  # written by `ffbench generate` beside its videos


class SourceFolderError(UserError, ValueError):
    """A --real/--fake folder that is missing or holds nothing to score."""


class SwappedFoldersError(UserError, ValueError):
    """--fake holds a prepared real set (or --real generated videos): the folders look swapped."""


@dataclass
class VideoSourceDir:
    """A resolved video source: `kind` is "videos" or "shards"; `files` sorted."""

    root: Path
    kind: str
    files: list[Path] = field(default_factory=list)

    def fingerprint(self) -> str:
        """sha256 over the names, sizes and modification times of the files (cheap, content-sensitive)."""
        listing = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in self.files]
        return hashlib.sha256(json.dumps([self.kind, listing]).encode()).hexdigest()

    def __iter__(self) -> Iterator[tuple[str, Path | bytes]]:
        """Yield (name, path or bytes) for every video, in a fixed order."""
        if self.kind == "videos":
            for f in self.files:
                yield f.name, f
            return
        from ffbench.datasets.shards import iter_split_entries

        # Shards in sorted order, no shuffling: the order fixes the seeded clip starts. Member names are
        # checked (no absolute paths, `..` or links) before anything is read.
        count = 0
        for key, data in iter_split_entries(self.root, "mp4"):
            count += 1
            yield key, data
        if count == 0:
            raise ValueError(f"the shards in {self.root} hold no 'mp4' entries; --real shards must be "
                             "written by `ffbench prepare`")


def _listing(root: Path) -> tuple[list[Path], list[Path]]:
    files = [f for f in root.iterdir() if f.is_file()]
    videos = sorted(f for f in files if f.suffix.lower() in VIDEO_SUFFIXES)
    shards = sorted(f for f in files if f.suffix == SHARD_SUFFIX)
    return videos, shards


def prepared_split(root: Path, split: str = "test") -> Path | None:
    """The split folder of a prepared dataset root (`DATA/shards/<split>`, else `DATA/<split>`), or None."""
    for candidate in (root / "shards" / split, root / split):
        if candidate.is_dir():
            return candidate
    if root.name == "shards" and (root / split).is_dir():
        return root / split
    return None


def looks_prepared(root: Path) -> str | None:
    """Why `root` looks like real data written by `ffbench prepare` (shards, a manifest, a dataset root),
    or None."""
    _, shards = _listing(root)
    if shards:
        return f"it holds {len(shards)} WebDataset shard(s) ({shards[0].name}, ...)"
    if (root / MANIFEST).is_file():
        return f"it holds {MANIFEST}, written by `ffbench prepare`"
    split = prepared_split(root)
    if split is not None and (_listing(split)[1] or (split / MANIFEST).is_file()):
        return f"it is a prepared dataset (shards in {split})"
    return None


def open_source(path: str | Path, flag: str = "--real") -> VideoSourceDir:
    """Resolve `path` to a video folder or a shard folder, or raise a ValueError naming `flag`.

    A folder with neither videos nor shards is read from its prepared test split (`shards/test/` or
    `test/`), so the folder `ffbench prepare --out` wrote can be passed as it is.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise SourceFolderError(f"{flag} {path}: not a directory; pass a folder of mp4/gif videos or of .tar "
                                "shards")
    videos, shards = _listing(root)
    if videos:
        return VideoSourceDir(root, "videos", videos)
    if shards:
        return VideoSourceDir(root, "shards", shards)
    split = prepared_split(root)
    if split is not None:
        return open_source(split, flag)
    raise SourceFolderError(f"{flag} {path}: no videos ({', '.join(VIDEO_SUFFIXES)}) or .tar shards found; "
                     "pass the folder that holds them (for a prepared dataset, the folder given to "
                     "`ffbench prepare --out`)")


def open_real(path: str | Path) -> VideoSourceDir:
    """`open_source` for `--real`, refusing a folder that `ffbench generate` wrote (with generation.json)."""
    root = Path(path).expanduser()
    if root.is_dir() and (root / GENERATION_FILE).is_file():
        raise SwappedFoldersError(
            f"--real {path}: holds {GENERATION_FILE}, so it is generated output, not the real test set. "
            "Pass the real set as --real (the folder `ffbench prepare --out` wrote, or its shards/test) and "
            "the generated videos as --fake; were the two swapped?")
    return open_source(path, "--real")


def open_fake(path: str | Path, real: str | Path | None = None) -> VideoSourceDir:
    """`open_source` for `--fake`: a folder of generated videos only. Shards, a manifest or a prepared
    dataset there raise SwappedFoldersError with the fix."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise SourceFolderError(f"--fake {path}: not a directory; pass the folder of generated <id>.mp4 "
                                "videos")
    why = looks_prepared(root)
    if why is not None:
        swapped = real is not None and Path(real).is_dir() and bool(_listing(Path(real).expanduser())[0])
        hint = (f" and --real {real} holds videos: the two look swapped. Run again with --real {path} "
                f"--fake {real}" if swapped else
                ". --fake takes the folder of generated <id>.mp4 videos (`ffbench generate --out`) and "
                f"--real the real test set; pass {path} as --real")
        raise SwappedFoldersError(f"--fake {path}: {why}; that is a real data set, not generated videos"
                                  + hint + ".")
    videos, _ = _listing(root)
    if not videos:
        raise SourceFolderError(f"--fake {path}: no videos ({', '.join(VIDEO_SUFFIXES)}) found; pass the "
                                "folder of generated <id>.mp4 videos")
    return VideoSourceDir(root, "videos", videos)
