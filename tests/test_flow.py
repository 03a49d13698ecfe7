"""Dense flow: a known translation is recovered; a static pair gives zero flow."""

from __future__ import annotations

import numpy as np
import pytest

from ffbench.flow import optical_flow, video_flow


def _texture(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    # Smooth random texture: Farneback fits polynomials, so it needs structure at several scales.
    import cv2

    rng = np.random.default_rng(seed)
    base = rng.random((height // 4, width // 4, 3)).astype(np.float32)
    big = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    return (np.clip(big, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("dx,dy", [(2.0, 0.0), (0.0, -3.0), (1.5, 1.0)])
def test_a_translation_is_recovered_within_a_fifth_of_a_pixel(dx, dy):
    import cv2

    frame = _texture(160, 200)
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    moved = cv2.warpAffine(frame, shift, (200, 160), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    flow = optical_flow(frame, moved)
    inner = flow[20:-20, 20:-20].reshape(-1, 2)  # borders see reflected content
    assert abs(np.median(inner[:, 0]) - dx) < 0.2 and abs(np.median(inner[:, 1]) - dy) < 0.2


def test_static_video_has_zero_flow_and_bad_frames_are_refused():
    video = np.repeat(_texture()[None], 3, axis=0)
    flow = video_flow(video)
    assert flow.shape == (2, 96, 128, 2) and np.abs(flow).max() < 1e-3
    with pytest.raises(ValueError, match="uint8 RGB"):
        optical_flow(video[0].astype(np.float32), video[1])
    with pytest.raises(ValueError, match="F >= 2"):
        video_flow(video[:1])
