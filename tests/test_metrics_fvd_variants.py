"""The StyleGAN-V and cd-fvd FVD sampling: the clips each side gives, cd-fvd's resize, fvd-all end to end."""

from __future__ import annotations

import numpy as np

from ffbench.metrics.evaluate import evaluate
from ffbench.metrics.fvd_variants import cdfvd_fake_counts, cdfvd_resize, stylegan_v_units
from ffbench.metrics.protocols import PROTOCOLS
from ffbench.video import write_video


def test_stylegan_v_takes_generated_clips_from_frame_zero_and_lists_mirrors_after_the_originals():
    assert [u.start for u in stylegan_v_units(40, 16, 2, 5, "fake", seed=0, mirror=True, cap=2048)] == [0]
    real = [stylegan_v_units(40, 16, i, 5, "real", seed=0, mirror=True, cap=2048) for i in range(5)]
    starts = [u.start for units in real for u in units]
    assert all(0 <= s <= 24 for s in starts) and len(set(starts)) > 3  # random offsets, seeded
    assert [[u.mirrored for u in units] for units in real] == [[False, True]] * 5
    assert sorted(u.order for units in real for u in units) == list(range(10))
    # N = min(items, cap): with a cap of 7 only the first two videos keep their mirrored copy.
    capped = [stylegan_v_units(40, 16, i, 5, "real", seed=0, mirror=True, cap=7) for i in range(5)]
    assert [len(u) for u in capped] == [2, 2, 1, 1, 1]
    again = stylegan_v_units(40, 16, 3, 5, "real", seed=0, mirror=True, cap=2048)
    assert again == real[3]


def test_cdfvd_cycles_the_generated_videos_until_it_has_its_clips():
    passes = cdfvd_fake_counts(5, 12, seed=0)
    counts = [len(p) for p in passes]
    assert sum(counts) == 12 and sorted(counts) == [2, 2, 2, 3, 3]
    assert cdfvd_fake_counts(5, 12, seed=0) == passes


def test_cdfvd_resizes_the_short_side_to_256_and_crops_the_centre():
    frame = np.zeros((1, 128, 96, 3), np.uint8)  # portrait, like the Fashion videos
    frame[:, :, 48:] = 255  # right half white
    frame[:, :8] = (255, 0, 0)  # a red band at the top: outside the centre crop
    out = cdfvd_resize(frame)
    assert out.shape == (1, 256, 256, 3) and out.dtype == np.uint8
    assert out[0, :, :120].max() <= 1 and out[0, :, 136:].min() >= 250
    assert not (out[0, ..., 0].astype(int) - out[0, ..., 1] > 100).any()  # the red band was cropped away


def test_fvd_all_scores_the_three_protocols_on_the_same_videos(tmp_path):
    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir()
    fake.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        clip = rng.integers(0, 255, (20, 32, 32, 3), dtype=np.uint8)
        write_video(real / f"v{i}.mp4", clip, 30)
        write_video(fake / f"v{i}.mp4", clip[:16], 30)
    small = {k: PROTOCOLS[k].replace(size=(32, 32)) for k in ("fvd", "fvd-stylegan-v", "fvd-cdfvd")}
    results = evaluate("fvd-all", real, fake, i3d="random", protocols=small, recal_items=3, bootstrap=20,
                       stylegan_v_mirror=True)
    by = {r.metric: r for r in results}
    assert list(by) == ["fvd", "fvd-stylegan-v", "fvd-cdfvd"]
    assert (by["fvd"].n_real, by["fvd"].n_fake) == (3, 3)
    assert (by["fvd-stylegan-v"].n_real, by["fvd-stylegan-v"].n_fake) == (6, 3)  # real mirrored
    assert (by["fvd-cdfvd"].n_real, by["fvd-cdfvd"].n_fake) == (3, 2048)  # generated resampled
    assert by["fvd-cdfvd"].n_fake_videos == 3
    # 3 videos of 400-d features: N<=dim, so no bootstrap interval is valid and none is given.
    assert all(r.random_init and r.n_boot == 0 and np.isnan(r.ci_low) for r in results)
    assert len({r.value for r in results}) == 3
