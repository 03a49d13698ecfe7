"""Dense optical flow, the one flow code of ffbench (video diagnostics, Poke's pokes).

OpenCV's Farneback method on the CPU: no weights, deterministic, about a millisecond per 128x96 pair.
It stands in for the learned flows of the original work (FlowNet2 in Poke, RAFT-style trackers in
FVMD); it is less accurate on large or thin motions, so flow-based numbers compare methods scored with
this same code only.
"""

from __future__ import annotations

import numpy as np

# Farneback settings: a 3-level pyramid (halving), 15-pixel windows, 3 iterations, degree-5 polynomial
# fit with sigma 1.2 (OpenCV's recommended pairing for poly_n=5), Gaussian window weighting.
PYR_SCALE, LEVELS, WINSIZE, ITERATIONS, POLY_N, POLY_SIGMA = 0.5, 3, 15, 3, 5, 1.2


def flow_settings() -> dict:
    """The settings that determine a flow field (part of every cache key built on flow)."""
    import cv2

    return {"method": "farneback", "opencv": cv2.__version__, "pyr_scale": PYR_SCALE, "levels": LEVELS,
            "winsize": WINSIZE, "iterations": ITERATIONS, "poly_n": POLY_N, "poly_sigma": POLY_SIGMA,
            "gaussian": True, "identical_frames": "zero"}


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB frame (H, W, 3); got {frame.dtype} {frame.shape}")
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def optical_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Dense flow from `first` to `second` (uint8 RGB, (H, W, 3)): float32 (H, W, 2) of (dx, dy) in pixels,
    so that first[y, x] moves to second[y + dy, x + dx]."""
    import cv2

    a, b = _gray(first), _gray(second)
    if a.shape != b.shape:
        raise ValueError(f"frames differ in size: {first.shape} vs {second.shape}")
    if np.array_equal(a, b):
        # Farneback's border handling gives up to 0.4 px of flow near the edges of two identical frames;
        # the true flow of a frame that did not change is zero, and static videos must score as static.
        return np.zeros((*a.shape, 2), np.float32)
    flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN
    return cv2.calcOpticalFlowFarneback(a, b, None, PYR_SCALE, LEVELS, WINSIZE, ITERATIONS, POLY_N,
                                        POLY_SIGMA, flags)


def video_flow(frames: np.ndarray) -> np.ndarray:
    """Flow between consecutive frames of a uint8 video (F, H, W, 3): float32 (F-1, H, W, 2)."""
    if frames.ndim != 4 or len(frames) < 2:
        raise ValueError(f"expected a video (F >= 2, H, W, 3); got shape {frames.shape}")
    return np.stack([optical_flow(frames[t], frames[t + 1]) for t in range(len(frames) - 1)])


def chain_flows(flows: np.ndarray) -> np.ndarray:
    """Compose consecutive flows (T, H, W, 2) (frame t -> t+1) into the flow from frame 0 to frame T.

    The displacement of a pixel is followed step by step: total(x) += flow_t(x + total(x)), sampled
    bilinearly (edges replicated). Farneback is accurate for motions of a few pixels and fails on large
    ones (measured: a 24 px square moved 8 px is found as 0.1 px directly, as 7.97 px chained), so
    long-range flow is best chained from short steps.
    """
    import cv2

    if flows.ndim != 4 or flows.shape[-1] != 2 or len(flows) < 1:
        raise ValueError(f"expected flows (T >= 1, H, W, 2); got shape {flows.shape}")
    h, w = flows.shape[1:3]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    total = flows[0].astype(np.float32).copy()
    for step in flows[1:]:
        total += cv2.remap(np.ascontiguousarray(step, np.float32), gx + total[..., 0], gy + total[..., 1],
                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return total
