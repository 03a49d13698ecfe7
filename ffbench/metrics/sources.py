"""Video sources for evaluation: a folder of mp4/gif files or a folder of WebDataset shards.

`open_source(path)` decides which, lists the items (for the cache key) and streams them one at a time,
each as a file path or the bytes of one video, so memory does not grow with the number of videos.
A folder holding neither videos nor shards is read from its `shards/test/` (the dataset root written by
`ffbench prepare --out`) or `test/` sub-folder. `check_real_fake` refuses `--fake` shards (generated
videos are never shards), with a hint when --real and --fake look swapped.
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


class SourceFolderError(UserError, ValueError):
    """A --real/--fake folder holds nothing to score, or the wrong kind of thing."""


def open_source(path: str | Path, flag: str = "--real") -> VideoSourceDir:
    """Resolve `path` to a video folder or a shard folder, or raise a SourceFolderError naming `flag`."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise SourceFolderError(f"{flag} {path}: not a directory; pass a folder of mp4/gif videos or of .tar "
                                "shards")
    videos = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
    shards = sorted(f for f in root.iterdir() if f.is_file() and f.suffix == SHARD_SUFFIX)
    if videos:
        return VideoSourceDir(root, "videos", videos)
    if shards:
        return VideoSourceDir(root, "shards", shards)
    for sub in (root / "shards" / "test", root / "test"):  # a prepared dataset root, or its shards/ folder
        if sub.is_dir():
            return open_source(sub, flag)
    raise SourceFolderError(f"{flag} {path}: no videos ({', '.join(VIDEO_SUFFIXES)}) or .tar shards found; "
                            "pass the folder that holds them")


def check_real_fake(real: str | Path, fake: str | Path) -> tuple[VideoSourceDir, VideoSourceDir]:
    """Resolve --real and --fake, refusing a --fake that holds shards: generated videos are mp4/gif files,
    shards are real data from `ffbench prepare` (usually the two options swapped)."""
    real_src, fake_src = open_source(real, "--real"), open_source(fake, "--fake")
    if fake_src.kind == "shards":
        hint = (f" --real holds video files: the two look swapped; try --real {fake} --fake {real}"
                if real_src.kind == "videos" else "")
        raise SourceFolderError(f"--fake {fake}: holds WebDataset shards ({fake_src.files[0].name}, ...), "
                                "which are real data written by `ffbench prepare`; --fake takes the "
                                f"generated mp4/gif videos (e.g. from `ffbench generate ... -o DIR`).{hint}")
    return real_src, fake_src
