"""`eval --resize-fake`: copies of generated videos resized to their real videos' size.

Every metric then reads frames of one size on both sides (paired metrics compare pixel to pixel, the
diagnostics analyse both sets at one size, the networks' resize protocols crop the same region). The
copies are stretched to the real width x height (OpenCV area when shrinking, bilinear when enlarging),
written at the original frame rate with the deterministic H.264 settings of `ffbench.video.write_video`,
and get their original's modification time, so the feature cache sees the same listing on every run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np


def _resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    shrink = height * width < frames.shape[1] * frames.shape[2]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (width, height), interpolation=interpolation) for f in frames])


def resized_copies(files: list[Path], sizes: dict[str, tuple[int, int]], folder: Path) -> list[Path]:
    """Copy `files` into `folder`, resizing those whose stem is in `sizes` ({id: (H, W)}); returns the
    copies in the same order."""
    from ffbench.video import probe_video, read_video, write_video

    out = []
    for path in files:
        target = folder / path.name
        if path.stem in sizes:
            fps = probe_video(path).fps
            write_video(target.with_suffix(".mp4"), _resize(read_video(path), *sizes[path.stem]), fps=fps)
            target = target.with_suffix(".mp4")
        else:
            shutil.copyfile(path, target)
        stat = path.stat()
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        out.append(target)
    return out
