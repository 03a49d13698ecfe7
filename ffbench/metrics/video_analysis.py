"""One pass over one video for every weight-free diagnostic, cached like the I3D features.

`analyse_video(frames)` computes the dense flow once (forward t -> t+1 and backward t+1 -> t, OpenCV
Farneback via `ffbench.flow`) and derives from it and from the frames every per-frame curve the
diagnostics need:

- motion: mean flow magnitude of each consecutive pair (pixels per frame at the analysis size), its
  95th percentile, and whether the pair moves (95th percentile above `MOVING_PX` x height / 256);
- flicker: mean |frame t+1 - frame t warped by the flow| (0-255, averaged over RGB) over the pixels
  whose forward and backward flow agree (the occlusion test of Sundaram et al. 2010:
  |f + b|^2 < 0.01 (|f|^2 + |b|^2) + 0.5) and whose source lies inside the frame;
- colour: CIEDE2000 between the mean CIELAB colour of frame t and of frame 0 (scikit-image's
  `rgb2lab` and `deltaE_ciede2000`), for the whole frame and the central person box;
- chroma: the mean CIELAB chroma C* = sqrt(a*^2 + b*^2) of the central box's pixels at frame t over that
  at frame 0 (saturation; the mean colour above averages different hues towards grey, so a fade of a
  many-coloured or greyish frame barely moves it, while every pixel's chroma drops);
- detail: mean Sobel gradient magnitude of the grayscale frame t over that of frame 0;
- fvmd: the fvmd-flow motion vector (`ffbench.metrics.fvmd`).

The result is a handful of arrays per video (a few kB), stored as one .npz in the cache directory keyed
by the sha256 of the video's bytes, the frames analysed, the analysis size and the flow settings. The flow
fields themselves are not kept: at 640x512 and 70 frames they are 180 MB per video, and every metric
that reads them is computed in this pass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ffbench.flow import flow_settings, optical_flow
from ffbench.metrics import fvmd
from ffbench.metrics.cache import cache_key, load_npz, save_npz_atomic

VERSION = 2  # bump when a definition below changes: old cache entries are then ignored
MOVING_PX = 0.5  # a pair "moves" when its 95th-percentile flow exceeds 0.5 px per 256 px of height
# The central person box (fractions of width and height): a Fashion video frames one standing person.
CENTRE_X, CENTRE_Y = (0.25, 0.75), (0.1, 0.9)
CONSISTENCY_ALPHA, CONSISTENCY_BETA = 0.01, 0.5
MIN_CHROMA = 1.0  # C* below this is grey: frame 0 of a grey video does not divide by ~0


@dataclass
class VideoAnalysis:
    """Per-frame curves of one video. T = frames analysed; curves over pairs have T - 1 entries."""

    motion: np.ndarray  # (T-1,) mean flow magnitude of pair (t, t+1), pixels
    motion_p95: np.ndarray  # (T-1,) 95th percentile of the magnitude
    moving: np.ndarray  # (T-1,) 1.0 where the pair moves
    flicker: np.ndarray  # (T-1,) warped difference over consistent pixels, 0-255; NaN if none
    colour: np.ndarray  # (T,) CIEDE2000 of the central box's mean colour vs frame 0 (0 at t = 0)
    colour_frame: np.ndarray  # (T,) the same for the whole frame
    chroma: np.ndarray  # (T,) mean chroma of the central box relative to frame 0 (1 at t = 0)
    detail: np.ndarray  # (T,) gradient energy relative to frame 0 (1 at t = 0)
    fvmd: np.ndarray  # (1024,) fvmd-flow vector, NaN when T < 16

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {f.name: np.asarray(getattr(self, f.name), np.float64) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> VideoAnalysis:
        return cls(**{f.name: arrays[f.name] for f in fields(cls)})


def mean_lab(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean CIELAB (3,) of a uint8 RGB frame and of its central box, and the box's mean chroma C*."""
    from skimage.color import rgb2lab

    lab = rgb2lab(frame)
    h, w = frame.shape[:2]
    box = lab[int(CENTRE_Y[0] * h):int(CENTRE_Y[1] * h), int(CENTRE_X[0] * w):int(CENTRE_X[1] * w)]
    chroma = float(np.hypot(box[..., 1], box[..., 2]).mean())
    return lab.reshape(-1, 3).mean(0), box.reshape(-1, 3).mean(0), chroma


def gradient_energy(frame: np.ndarray) -> float:
    """Mean Sobel gradient magnitude of the grayscale frame (0-255 units)."""
    import cv2

    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.sqrt(gx * gx + gy * gy).mean())


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """image sampled at x + flow(x) (bilinear, border replicated): (H, W, C) float32."""
    import cv2

    h, w = flow.shape[:2]
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image.astype(np.float32), xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def flicker_pair(first: np.ndarray, second: np.ndarray, forward: np.ndarray, backward: np.ndarray) -> float:
    """Mean |second - first warped onto second| over pixels whose flows agree; NaN if there are none.

    `backward` maps `second` to `first` (second[x] came from first[x + backward(x)]); `forward` is the
    flow first -> second, read at x + backward(x) for the consistency test.
    """
    h, w = second.shape[:2]
    warped = warp(first, backward)
    forward_at = warp(forward, backward)
    mismatch = ((backward + forward_at) ** 2).sum(-1)
    scale = (backward ** 2).sum(-1) + (forward_at ** 2).sum(-1)
    xx, yy = np.meshgrid(np.arange(w), np.arange(h))
    inside = ((xx + backward[..., 0] >= 0) & (xx + backward[..., 0] <= w - 1)
              & (yy + backward[..., 1] >= 0) & (yy + backward[..., 1] <= h - 1))
    visible = inside & (mismatch < CONSISTENCY_ALPHA * scale + CONSISTENCY_BETA)
    if not visible.any():
        return float("nan")
    diff = np.abs(second.astype(np.float32) - warped).mean(-1)
    return float(diff[visible].mean())


def analyse_video(frames: np.ndarray) -> VideoAnalysis:
    """Every diagnostic curve of a uint8 video (T, H, W, 3), T >= 2; see the module docstring."""
    if frames.ndim != 4 or len(frames) < 2:
        raise ValueError(f"expected a video (T >= 2, H, W, 3); got shape {frames.shape}")
    height = frames.shape[1]
    forward = np.stack([optical_flow(frames[t], frames[t + 1]) for t in range(len(frames) - 1)])
    motion, p95, flicker = [], [], []
    for t in range(len(frames) - 1):
        mag = np.linalg.norm(forward[t], axis=-1)
        motion.append(mag.mean())
        p95.append(np.percentile(mag, 95))
        backward = optical_flow(frames[t + 1], frames[t])
        flicker.append(flicker_pair(frames[t], frames[t + 1], forward[t], backward))
    labs = [mean_lab(f) for f in frames]
    from skimage.color import deltaE_ciede2000

    whole = np.array([lab[0] for lab in labs])
    centre = np.array([lab[1] for lab in labs])
    chroma = np.array([lab[2] for lab in labs])
    energy = np.array([gradient_energy(f) for f in frames])
    p95 = np.array(p95)
    return VideoAnalysis(
        motion=np.array(motion), motion_p95=p95,
        moving=(p95 > MOVING_PX * height / 256).astype(np.float64), flicker=np.array(flicker),
        colour=deltaE_ciede2000(centre[:1], centre), colour_frame=deltaE_ciede2000(whole[:1], whole),
        chroma=chroma / max(chroma[0], MIN_CHROMA),
        detail=energy / max(energy[0], 1e-6), fvmd=fvmd.motion_vector(forward))


def analysis_settings(frames: int, size: tuple[int, int]) -> dict:
    """What determines a cached analysis besides the video's bytes."""
    return {"version": VERSION, "frames": frames, "size": list(size), "flow": flow_settings(),
            "moving_px": MOVING_PX, "centre": [CENTRE_X, CENTRE_Y], "fvmd_segment": fvmd.SEGMENT}


def fit(frames: np.ndarray, count: int, size: tuple[int, int]) -> np.ndarray:
    """The first `count` frames resized (area when shrinking, bilinear when enlarging) to (H, W)."""
    from ffbench.metrics.paired import _resize

    return _resize(frames[:count], *size)


def cached_analysis(src: Path | bytes, frames: int, size: tuple[int, int],
                    cache_dir: str | Path | None) -> VideoAnalysis:
    """`analyse_video` of the first `frames` frames of `src` at `size` (H, W), through the cache."""
    from ffbench.video import read_video

    data = src if isinstance(src, bytes) else Path(src).read_bytes()
    path = None
    if cache_dir is not None:
        key = cache_key(video=hashlib.sha256(data).hexdigest(), **analysis_settings(frames, size))
        path = Path(cache_dir) / f"analysis-{key[:24]}.npz"
        arrays = load_npz(path)
        if arrays is not None and all(f.name in arrays for f in fields(VideoAnalysis)):
            return VideoAnalysis.from_arrays(arrays)
    result = analyse_video(fit(read_video(src), frames, size))
    if path is not None:
        save_npz_atomic(path, result.to_arrays())
    return result
