"""Motion histograms of the Frechet Video Motion Distance (Liu et al. 2024), on dense flow.

FVMD tracks a 20 x 20 grid of points through 16-frame segments with PIPs++ (a learned tracker), takes
each point's velocity (displacement per frame) and acceleration (change of velocity), and describes a
segment by magnitude-weighted orientation histograms over spatio-temporal cells: the 20 x 20 points in
5 x 5-point cells, the 16 frames in 4-frame cubes, 8 orientation bins, each vector weighted by
ceil(log2(1 + |v|)) / 8 with |v| in pixels at 256 x 256 and capped at 255. Velocity and acceleration
give 4 x 4 x 4 x 8 = 512 bins each; the combined FVMD uses both (1024-d) and is the Frechet distance
between the generated and the real segments' vectors. Facts from the authors' code
(`fvmd/extract_motion_features.py`, `fvmd/keypoint_tracking.py`), not copied.

ffbench's `fvmd-flow` is an adaptation, labelled so: the points are tracked by following OpenCV's dense
Farneback flow (`ffbench.flow`, bilinearly sampled at each point's position) instead of PIPs++, and a
video's vector is the mean over its segments (one vector per video, so the bootstrap resamples videos).
Acceleration is the difference of consecutive velocities, as the paper defines it (the reference code
passes the trajectories, not the velocities, to its acceleration function).
"""

from __future__ import annotations

import numpy as np

GRID = 20  # points per side
MARGIN = 8 / 256  # FVMD places the grid 8 px inside a 256 x 256 frame
SEGMENT = 16  # frames per tracked segment; segments overlap by one frame
CELL, CUBE, ANGLE_BINS, MAG_BINS = 5, 4, 8, 256
REFERENCE_SIZE = 256  # FVMD resizes frames to 256 x 256: magnitudes are in pixels at that size
DIM = 2 * (GRID // CELL) ** 2 * (SEGMENT // CUBE) * ANGLE_BINS  # 1024


def grid_points(height: int, width: int) -> np.ndarray:
    """(GRID*GRID, 2) float (x, y) positions of the uniform grid, row-major."""
    ys = MARGIN * height + np.arange(GRID) / (GRID - 1) * (height - 2 * MARGIN * height)
    xs = MARGIN * width + np.arange(GRID) / (GRID - 1) * (width - 2 * MARGIN * width)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def sample(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear sample of a (H, W, 2) field at (N, 2) (x, y) points (clamped to the frame)."""
    h, w = field.shape[:2]
    x = np.clip(points[:, 0], 0, w - 1)
    y = np.clip(points[:, 1], 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = field[y0, x0] * (1 - fx) + field[y0, x1] * fx
    bottom = field[y1, x0] * (1 - fx) + field[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def track(flows: np.ndarray) -> np.ndarray:
    """Trajectories (T+1, N, 2) of the grid points through forward flows (T, H, W, 2)."""
    h, w = flows.shape[1:3]
    points = [grid_points(h, w)]
    for flow in flows:
        nxt = points[-1] + sample(flow, points[-1])
        points.append(np.stack([np.clip(nxt[:, 0], 0, w - 1), np.clip(nxt[:, 1], 0, h - 1)], axis=1))
    return np.stack(points)


def velocity_acceleration(trajectory: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Velocity and acceleration (S, N, 2) of a trajectory (S, N, 2), in pixels at 256 x 256.

    v_0 = 0, v_t = p_t - p_(t-1); a_0 = a_1 = 0, a_t = v_t - v_(t-1), as FVMD pads them.
    """
    scale = np.array([REFERENCE_SIZE / width, REFERENCE_SIZE / height])
    p = trajectory * scale
    v = np.zeros_like(p)
    v[1:] = p[1:] - p[:-1]
    a = np.zeros_like(p)
    a[2:] = v[2:] - v[1:-1]
    return v, a


def histogram(vectors: np.ndarray) -> np.ndarray:
    """FVMD's cell histograms of vectors (SEGMENT, GRID*GRID, 2): flat (4*4*4*8,) float64."""
    s = SEGMENT // CUBE * CUBE
    v = vectors[:s].reshape(SEGMENT // CUBE, CUBE, GRID // CELL, CELL, GRID // CELL, CELL, 2)
    angle = np.arctan2(v[..., 0], v[..., 1])  # atan2(x, y), as the reference code orders it
    bins = np.clip((angle + np.pi) // (2 * np.pi / ANGLE_BINS), 0, ANGLE_BINS - 1).astype(int)
    mag = np.clip(np.linalg.norm(v, axis=-1), 0, MAG_BINS - 1)
    weight = np.ceil(np.clip(np.log2(mag + 1), 0, np.log2(MAG_BINS))) / np.log2(MAG_BINS)
    # Cell index (time cube, cell row, cell column) of every vector, then one bincount.
    cube = np.arange(SEGMENT // CUBE)[:, None, None, None, None, None]
    row = np.arange(GRID // CELL)[None, None, :, None, None, None]
    col = np.arange(GRID // CELL)[None, None, None, None, :, None]
    cell = (cube * (GRID // CELL) + row) * (GRID // CELL) + col
    index = np.broadcast_to(cell, bins.shape) * ANGLE_BINS + bins
    n_cells = (SEGMENT // CUBE) * (GRID // CELL) ** 2
    return np.bincount(index.ravel(), weights=weight.ravel(), minlength=n_cells * ANGLE_BINS)


def segment_starts(num_frames: int) -> list[int]:
    """Starts of the 16-frame segments FVMD tracks: 0, 15, 30, ... (consecutive ones share a frame)."""
    return list(range(0, num_frames - SEGMENT + 1, SEGMENT - 1))


def motion_vector(flows: np.ndarray) -> np.ndarray:
    """One fvmd-flow vector (DIM,) of a video from its forward flows (F-1, H, W, 2); NaN if F < 16."""
    num_frames = len(flows) + 1
    starts = segment_starts(num_frames)
    if not starts:
        return np.full(DIM, np.nan)
    h, w = flows.shape[1:3]
    vectors = []
    for s in starts:
        v, a = velocity_acceleration(track(flows[s:s + SEGMENT - 1]), h, w)
        vectors.append(np.concatenate([histogram(v), histogram(a)]))
    return np.mean(vectors, axis=0)
