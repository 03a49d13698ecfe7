"""Videos given as arrays or tensors, checked and turned into what the folder metrics read.

`as_videos(x, "fake")` accepts a batch `(N, T, H, W, 3)` or a list of `(T, H, W, 3)` videos (lengths and
sizes may differ), as numpy arrays or torch tensors, uint8 in [0, 255] or floating point in [0, 1]. Floats
are rounded to uint8 (`round(x * 255)`, clamped), the conversion a video writer applies, so the metrics
see exactly the frames a written file would hold; anything else is a ValueError naming the argument.

`ArraySource` wraps such a list in the interface of `sources.VideoSourceDir` (an ordered iterator of
(name, video)), so the feature extraction of `ffbench eval` runs on it unchanged; `first_index` numbers a
streamed batch after the videos already seen, which keeps the per-video clip starts of the whole set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def _to_numpy(x, arg: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch here
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        x = x.numpy()
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{arg}: expected numpy arrays or torch tensors, got {type(x).__name__}")
    return x


def _as_uint8(video: np.ndarray, arg: str) -> np.ndarray:
    if video.dtype == np.uint8:
        return np.ascontiguousarray(video)
    if np.issubdtype(video.dtype, np.floating):
        finite = np.isfinite(video)
        if not finite.all() or video.min(initial=0.0) < 0.0 or video.max(initial=0.0) > 1.0:
            lo, hi = float(np.nanmin(video)), float(np.nanmax(video))
            raise ValueError(f"{arg}: float values must lie in [0, 1], got [{lo:g}, {hi:g}]"
                             + ("" if finite.all() else " with NaN/inf")
                             + "; for [-1, 1] pass (x + 1) / 2, or pass uint8 frames")
        return np.clip(np.round(video.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    raise ValueError(f"{arg}: dtype {video.dtype} is not supported; pass uint8 in [0, 255] or floats in "
                     "[0, 1]")


def as_videos(x, arg: str, min_frames: int = 1) -> list[np.ndarray]:
    """`x` as a list of uint8 (T, H, W, 3) videos; ValueError naming `arg` for anything else.

    Args:
        x: (N, T, H, W, 3) array/tensor, or a sequence of (T, H, W, 3) arrays/tensors.
        arg: the argument's name for the messages ("real", "fake").
        min_frames: fewest frames a video may have.
    """
    if isinstance(x, Sequence) and not isinstance(x, (str, bytes)):
        items = [_to_numpy(v, f"{arg}[{i}]") for i, v in enumerate(x)]
        names = [f"{arg}[{i}]" for i in range(len(items))]
    else:
        batch = _to_numpy(x, arg)
        if batch.ndim != 5:
            hint = " (one video: add a batch axis, x[None])" if batch.ndim == 4 else ""
            raise ValueError(f"{arg}: expected a batch of videos shaped (N, T, H, W, 3), got shape "
                             f"{tuple(batch.shape)}{hint}")
        items, names = list(batch), [f"{arg}[{i}]" for i in range(len(batch))]
    if not items:
        raise ValueError(f"{arg}: no videos; pass at least one (T, H, W, 3) video")
    out = []
    for name, video in zip(names, items, strict=True):
        if video.ndim != 4 or video.shape[-1] != 3:
            channels = f" ({video.shape[-1]} channels, not 3 RGB)" if video.ndim == 4 else ""
            first = " (channels first? move them last: x.permute(0, 1, 3, 4, 2))" \
                if video.ndim == 4 and video.shape[1] == 3 else ""
            raise ValueError(f"{name}: expected a video shaped (T, H, W, 3), got {tuple(video.shape)}"
                             f"{channels}{first}")
        if video.shape[0] < min_frames:
            raise ValueError(f"{name}: {video.shape[0]} frames; this metric needs at least {min_frames}")
        if video.shape[1] < 1 or video.shape[2] < 1:
            raise ValueError(f"{name}: empty frames of size {video.shape[2]}x{video.shape[1]}")
        out.append(_as_uint8(video, name))
    return out


def common_shape(videos: list[np.ndarray], arg: str) -> tuple[int, tuple[int, int]]:
    """(T, (H, W)) shared by every video; the diagnostics analyse the generated videos at one length and
    size, as `ffbench eval` refuses a generated folder whose videos differ."""
    t, size = len(videos[0]), tuple(videos[0].shape[1:3])
    for i, v in enumerate(videos):
        if len(v) != t or tuple(v.shape[1:3]) != size:
            raise ValueError(f"{arg}[{i}]: {len(v)} frames at {v.shape[2]}x{v.shape[1]}, but {arg}[0] has "
                             f"{t} at {size[1]}x{size[0]}; the generated videos must share length and size")
    return t, size


@dataclass
class ArraySource:
    """Decoded videos in the shape of `VideoSourceDir`: iterating yields (name, uint8 (T, H, W, 3))."""

    videos: list[np.ndarray]
    name: str = "arrays"
    first_index: int = 0  # number of the first video in the whole (streamed) set
    kind: str = "arrays"
    files: list[Path] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return Path(self.name)

    def fingerprint(self) -> str:
        """sha256 over the shapes and bytes (names the BatchNorm statistics of a random extractor)."""
        digest = hashlib.sha256(str(self.first_index).encode())
        for v in self.videos:
            digest.update(str(v.shape).encode())
            digest.update(v.tobytes())
        return digest.hexdigest()

    def __len__(self) -> int:
        return len(self.videos)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for i, v in enumerate(self.videos):
            yield f"{self.first_index + i:06d}", v
