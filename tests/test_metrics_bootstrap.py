"""Bootstrap intervals: the weighted Frechet distance equals the one on repeated rows (both routes), the
resampled kernel distance leaves copies out, and intervals are seeded."""

from __future__ import annotations

import numpy as np
import pytest

from ffbench.metrics import bootstrap
from ffbench.metrics.frechet import (
    frechet_distance,
    frechet_distance_from_features,
    frechet_distance_weighted,
)
from ffbench.metrics.kernel import kernel_distance


@pytest.mark.parametrize("n1,n2,dim", [(12, 9, 40), (60, 70, 5)])  # sample route / feature route
def test_weighted_frechet_equals_the_distance_on_repeated_rows(n1, n2, dim):
    rng = np.random.default_rng(n1)
    x, y = rng.normal(size=(n1, dim)), rng.normal(0.3, 1.2, size=(n2, dim))
    w1, w2 = rng.integers(0, 4, n1), rng.integers(0, 4, n2)
    w1[0] = w2[0] = 2
    expected = frechet_distance_from_features(np.repeat(x, w1, 0), np.repeat(y, w2, 0))
    # With N < D the reference clips round-off eigenvalues (~1e-14, square roots ~1e-7) at 0; the sample
    # route has none: they agree to 1e-6 relative.
    assert frechet_distance_weighted(x, w1, y, w2) == pytest.approx(expected, rel=1e-6)
    # ddof=0: covariances divided by N (StyleGAN-V, cd-fvd).
    xr, yr = np.repeat(x, w1, 0), np.repeat(y, w2, 0)
    biased = frechet_distance(xr.mean(0), np.cov(xr, rowvar=False, bias=True), yr.mean(0),
                              np.cov(yr, rowvar=False, bias=True))
    assert frechet_distance_weighted(x, w1, y, w2, ddof=0) == pytest.approx(biased, rel=1e-6)


def test_gram_route_equals_the_weighted_distance():
    rng = np.random.default_rng(5)
    x, y = rng.normal(3.0, 1.0, size=(9, 30)), rng.normal(3.2, 1.1, size=(7, 30))  # offset: round-off
    w1, w2 = rng.integers(0, 3, 9), rng.integers(0, 3, 7)
    w1[:2] = w2[:2] = 1
    for ddof in (0, 1):
        expected = frechet_distance_weighted(x, w1, y, w2, ddof=ddof)
        assert bootstrap.GramFrechet(x, y, ddof)(w1, w2) == pytest.approx(expected, rel=1e-9)


def test_kernel_interval_leaves_copies_out_and_matches_kernel_distance_without_repeats():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 6)), rng.normal(size=(7, 6))
    kxx = bootstrap.polynomial_kernel(x, x)
    ones = np.ones(8)
    # With every weight 1 the resampled statistic is the plain unbiased estimate.
    within = bootstrap._u_statistic(kxx, ones)
    assert within == pytest.approx((kxx.sum() - np.trace(kxx)) / 56)
    # A row drawn twice adds no k(x, x) term: same as the distinct rows, with the pair counts reweighted.
    twice = np.r_[2.0, np.ones(7)]
    n, self_pairs = twice.sum(), (twice ** 2).sum()
    assert bootstrap._u_statistic(kxx, twice) == pytest.approx(
        (twice @ kxx @ twice - twice ** 2 @ np.diag(kxx)) / (n * n - self_pairs))
    lo, hi, used = bootstrap.kernel_interval(x, np.arange(8), y, np.arange(7), 100, seed=0)
    value = kernel_distance(y, x)
    assert used == 8 + 7 and lo < value < hi  # jackknife: one value per left-out video


def test_intervals_are_seeded_and_cover_the_mean_of_per_video_values():
    values = np.random.default_rng(1).normal(10, 2, 40)
    a = bootstrap.mean_interval(values, 200, seed=3)
    assert a == bootstrap.mean_interval(values, 200, seed=3) != bootstrap.mean_interval(values, 200, seed=4)
    assert a[0] < values.mean() < a[1] and a[1] - a[0] < 2.5  # about 4 standard errors wide
    lo, hi = bootstrap.ratio_interval(values * 2, values, 200, seed=0)
    assert lo < 2 < hi


def test_frechet_interval_groups_rows_by_video_and_merges_repeated_clips():
    rng = np.random.default_rng(2)
    fake, real = rng.normal(size=(60, 2)), rng.normal(1.0, 1, size=(60, 2))
    # Each fake video contributes 3 identical rows (one clip drawn three times, as cd-fvd does).
    fake_rows, fake_video = np.repeat(fake, 3, 0), np.repeat(np.arange(60), 3)
    rows, video, counts = bootstrap.collapse(fake_rows, fake_video)
    assert len(rows) == 60 and counts.tolist() == [3] * 60
    lo, hi, used = bootstrap.frechet_interval(fake_rows, fake_video, real, np.arange(60), 60, seed=1)
    value = frechet_distance_weighted(fake_rows, np.ones(180), real, np.ones(60))
    assert used == 60 + 60 and lo < value < hi  # jackknife over the 60 + 60 videos
    assert bootstrap.affordable_resamples(200, 7000, 7000, 2048) < 200  # FID on thousands of frames
    assert bootstrap.affordable_resamples(200, 100, 100, 1024) == 200
