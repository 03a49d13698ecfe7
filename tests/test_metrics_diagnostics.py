"""Weight-free diagnostics: CIEDE2000 against the published pairs, closed-form videos, the analysis cache."""

from __future__ import annotations

import numpy as np
import pytest

from ffbench.metrics import fvmd
from ffbench.metrics.diagnostics import PER_VIDEO, diagnostic_result
from ffbench.metrics.video_analysis import analyse_video, cached_analysis
from ffbench.video import write_video

# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes, supplementary
# test data, and mathematical observations", Color Res. Appl. 30(1), Table 1: L1 a1 b1 L2 a2 b2 dE00.
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_ciede2000_matches_all_34_published_pairs_both_ways():
    from skimage.color import deltaE_ciede2000

    table = np.array(SHARMA)
    assert table.shape == (34, 7)
    forward = deltaE_ciede2000(table[:, :3], table[:, 3:6])
    backward = deltaE_ciede2000(table[:, 3:6], table[:, :3])
    assert np.abs(forward - table[:, 6]).max() < 6e-5  # the table is printed to four decimals
    assert np.allclose(forward, backward, atol=1e-9)


def smooth_texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2

    base = np.random.default_rng(seed).random((h // 4, w // 4, 3)).astype(np.float32)
    return (np.clip(cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1) * 255).astype(np.uint8)


def translating(frames: int = 17, dx: float = 1.0, h: int = 64, w: int = 80) -> np.ndarray:
    """A texture moving dx px per frame to the right (a wider canvas cropped at a moving offset)."""
    import cv2

    canvas = smooth_texture(h, w + int(dx * frames) + 8)
    out = []
    for t in range(frames):
        shift = np.float32([[1, 0, dx * t], [0, 1, 0]])
        moved = cv2.warpAffine(canvas, shift, (canvas.shape[1], h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT)
        out.append(moved[:, 4:4 + w])
    return np.stack(out)


def test_a_static_video_has_no_motion_flicker_or_drift():
    video = np.repeat(smooth_texture(48, 64)[None], 5, axis=0)
    a = analyse_video(video)
    assert not a.motion.any() and not a.moving.any()
    assert np.array_equal(a.flicker, np.zeros(4)) and not a.colour.any()
    assert np.allclose(a.chroma, 1.0) and PER_VIDEO["saturation-drift"](a) == pytest.approx(1.0)
    assert np.allclose(a.detail, 1.0)
    assert PER_VIDEO["flicker"](a) == 0.0 and PER_VIDEO["motion"](a) == 0.0


def test_a_translation_moves_at_its_speed_without_flicker_and_gives_rightward_fvmd_bins():
    a = analyse_video(translating(17, dx=1.0))
    assert np.median(a.motion) == pytest.approx(1.0, abs=0.2) and a.moving.all()
    assert np.nanmean(a.flicker) < 3.0  # warping explains the change (interpolation residue only)
    vec = a.fvmd
    assert vec.shape == (fvmd.DIM,) and np.isfinite(vec).all()
    velocity = vec[: fvmd.DIM // 2].reshape(-1, fvmd.ANGLE_BINS).sum(0)
    # atan2(x, y) of (+1, 0) is pi/2, the edge between bins 5 and 6 ((angle + pi) // (pi/4)): the motion
    # lands there, every other orientation stays (almost) empty.
    assert velocity[5] + velocity[6] > 0.9 * velocity.sum()


def test_fading_blurring_and_flickering_move_their_own_diagnostic():
    import cv2

    base = translating(6, dx=0.0)
    gray = cv2.cvtColor(base[0], cv2.COLOR_RGB2GRAY)[..., None].astype(np.float32)
    faded = np.stack([np.clip(gray + (1 - 0.1 * t) * (f.astype(np.float32) - gray), 0, 255).astype(np.uint8)
                      for t, f in enumerate(base)])
    blurred = np.stack([f if t == 0 else cv2.GaussianBlur(f, (0, 0), 0.5 * t) for t, f in enumerate(base)])
    gains = np.array([1, 1.1, 0.9, 1.1, 0.9, 1.1])[:, None, None, None]
    flick = np.clip(base * gains, 0, 255).astype(np.uint8)
    still, fade, blur, fl = (analyse_video(v) for v in (base, faded, blurred, flick))
    assert PER_VIDEO["colour-drift"](fade) > 5 * max(PER_VIDEO["colour-drift"](still), 0.1)
    assert np.all(np.diff(fade.colour) > 0)  # grows frame by frame
    # Chroma scales with the saturation factor 1 - 0.1 t (up to gamut clipping and rounding), so the
    # per-video value is close to the mean factor over frames 1..5, 0.7; the unfaded video stays at 1.
    assert np.all(np.diff(fade.chroma) < 0)
    assert PER_VIDEO["saturation-drift"](fade) == pytest.approx(0.7, abs=0.05)
    assert PER_VIDEO["saturation-drift"](still) == pytest.approx(1.0, abs=0.01)
    assert PER_VIDEO["detail-drift"](blur) < 0.8 < PER_VIDEO["detail-drift"](still)
    assert PER_VIDEO["flicker"](fl) > 5 + PER_VIDEO["flicker"](still)


def test_analysis_is_cached_by_content_and_rows_carry_values_ratio_and_curves(tmp_path, monkeypatch):
    paths = []
    for i, dx in enumerate((0.5, 1.0, 1.5, 2.0)):
        paths.append(write_video(tmp_path / f"v{i}.mp4", translating(8, dx=dx, h=48, w=64), 30))
    first = [cached_analysis(p, 8, (48, 64), tmp_path / "cache") for p in paths]
    monkeypatch.setattr("ffbench.metrics.video_analysis.analyse_video",
                        lambda *a: pytest.fail("analysed again instead of read from the cache"))
    again = [cached_analysis(p, 8, (48, 64), tmp_path / "cache") for p in paths]
    assert all(np.array_equal(a.motion, b.motion) for a, b in zip(first, again, strict=True))
    fake, real = dict(zip("ab", first[2:], strict=True)), dict(zip("cd", first[:2], strict=True))
    row = diagnostic_result("motion", fake, real, 8, (48, 64), resamples=50, seed=0)
    assert row.value == pytest.approx(np.mean([f.motion.mean() for f in first[2:]]))
    assert row.ratio == pytest.approx(row.value / row.real_value) and row.ratio > 1.5
    assert row.ci_low <= row.value <= row.ci_high and row.n_boot == 50
    assert len(row.detail["curves"]["fake"]) == 7 and len(row.detail["curves"]["real"]) == 7
    assert set(row.per_video) == {"a", "b"} and set(row.per_video_real) == {"c", "d"}
