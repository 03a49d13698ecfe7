"""`render_video`: one deterministic synthetic fashion video from a seed."""

from __future__ import annotations

import numpy as np

from ffbench.synthetic.figure import Look, render_frames, sample_look
from ffbench.synthetic.motion import Motion, sample_motion

FPS = 30.0
_CHUNK_PIXELS = 2_000_000  # frames are rendered in chunks of about this many pixels to bound memory


def _check_positive(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def sample_video(seed: int) -> tuple[Look, Motion]:
    """The appearance and motion that `render_video(seed, ...)` draws (one numpy Generator per seed)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    rng = np.random.default_rng(int(seed))
    look = sample_look(rng)
    motion = sample_motion(rng)
    return look, motion


def render_clip(look: Look, motion: Motion, frames: int, height: int, width: int, fps: float = FPS,
                start: int = 0) -> np.ndarray:
    """Render frames `start .. start + frames - 1` of a given look and motion.

    Returns:
        uint8 array (F, H, W, 3), RGB.
    """
    frames = _check_positive("frames", frames)
    height = _check_positive("height", height, 8)
    width = _check_positive("width", width, 8)
    if not fps > 0:
        raise ValueError(f"fps must be positive; got {fps!r}")
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    chunk = max(1, _CHUNK_PIXELS // (height * width))
    for lo in range(0, frames, chunk):
        hi = min(frames, lo + chunk)
        pose = motion.pose((start + np.arange(lo, hi)) / fps)
        rgb = render_frames(look, pose, height, width)
        out[lo:hi] = (rgb * 255.0 + 0.5).astype(np.uint8)
    return out


def render_video(seed: int, frames: int, height: int, width: int) -> np.ndarray:
    """Render synthetic fashion video number `seed` at 30 fps: a model in a patterned dress who turns,
    steps, sways and moves her arms in front of a plain studio background.

    The same seed gives byte-identical frames; any size and length work (the figure scales with the
    frame height and stays centred horizontally; motions are timed in seconds).

    Returns:
        uint8 array (F, H, W, 3), RGB.
    """
    look, motion = sample_video(seed)
    return render_clip(look, motion, frames, height, width)
