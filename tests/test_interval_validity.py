"""Intervals of biased statistics mean what they say: on Gaussian features with a known (closed-form)
Frechet distance the jackknife interval holds the true distance at the stated rate, no returned interval
excludes its estimate, and at N <= dim there is none, with the reason (where the percentile bootstrap
gave an interval that lies wholly above its estimate)."""

from __future__ import annotations

import numpy as np
import pytest

from ffbench.metrics import bootstrap
from ffbench.metrics.frechet import frechet_distance, frechet_distance_weighted
from ffbench.metrics.inception_score import inception_score
from ffbench.metrics.kernel import kernel_distance


def _gaussians(dim: int):
    mu = np.full(dim, 1.0 / np.sqrt(dim))
    var = np.linspace(0.5, 2.0, dim)
    return mu, var, frechet_distance(np.zeros(dim), np.eye(dim), mu, np.diag(var))


@pytest.mark.parametrize("n,dim,reps,min_valid", [(40, 2, 120, 0.9), (32, 8, 60, 0.0)])
def test_frechet_interval_covers_the_closed_form_distance(n, dim, reps, min_valid):
    rng = np.random.default_rng(dim)
    mu, var, truth = _gaussians(dim)
    valid = hits = corrected_hits = 0
    for rep in range(reps):
        real = rng.normal(size=(n, dim))
        fake = mu + rng.normal(size=(n, dim)) * np.sqrt(var)
        iv = bootstrap.frechet_interval_checked(fake, np.arange(n), real, np.arange(n), 200, seed=rep)
        estimate = frechet_distance_weighted(fake, np.ones(n), real, np.ones(n))
        _, lo, hi = iv.corrected
        corrected_hits += lo <= truth <= hi
        if iv.valid:
            valid += 1
            hits += iv.low <= truth <= iv.high
            assert iv.low <= estimate <= iv.high and iv.method == "jackknife"
        else:
            assert "biased" in iv.reason and f"{estimate:.4g}" in iv.reason
    print(f"Frechet jackknife, N={n} dim={dim}: {valid}/{reps} intervals returned, {hits}/{valid} hold the "
          f"true distance {truth:.3f}; bias-corrected interval holds it in {corrected_hits}/{reps}")
    assert valid >= min_valid * reps
    assert hits >= 0.9 * valid and corrected_hits >= 0.9 * reps


def test_no_interval_at_n_below_dim_where_the_percentile_bootstrap_missed_its_estimate():
    rng = np.random.default_rng(0)
    n, dim = 16, 32  # the demo: 16 test videos, features of hundreds of dimensions
    real, fake = rng.normal(size=(n, dim)), rng.normal(0.3, 1.0, size=(n, dim))
    ids = np.arange(n)
    estimate = frechet_distance_weighted(fake, np.ones(n), real, np.ones(n))
    # What the old percentile interval did: every resample has ~10 distinct rows, so its distance is larger.
    gram = bootstrap.GramFrechet(fake, real, 1)
    wf, wr = bootstrap.video_weights(n, 200, 0, 0), bootstrap.video_weights(n, 200, 0, 1)
    lo, hi = bootstrap.interval(np.array([gram(wf[k], wr[k]) for k in range(200)]))
    assert estimate < lo < hi  # the interval lies wholly above its estimate
    iv = bootstrap.frechet_interval_checked(fake, ids, real, ids, 200, seed=0)
    assert not iv.valid and "N<=dim (16<=32" in iv.reason and "paired difference" in iv.reason
    assert np.isnan(bootstrap.frechet_interval(fake, ids, real, ids, 200, seed=0)[:2]).all()


def test_kernel_and_inception_intervals_hold_their_estimates():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(30, 6)), rng.normal(0.5, 1.0, size=(30, 6))
    iv = bootstrap.kernel_interval_checked(fake, np.arange(30), real, np.arange(30), 100, seed=0)
    assert iv.valid and iv.low <= kernel_distance(real, fake) <= iv.high

    logits = rng.normal(size=(20 * 8, 10)) * 3  # 20 videos of 8 frames
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    video = np.repeat(np.arange(20), 8)
    iv = bootstrap.inception_score_interval_checked(probs, video, splits=4, resamples=200, seed=0)
    estimate = inception_score(probs, splits=4, shuffle_seed=0)[0]
    assert (iv.valid and iv.low <= estimate <= iv.high) or (not iv.valid and iv.reason)
    assert bootstrap.inception_score_interval(probs, video, 4, 0, 0)[2] == 0  # 0 resamples: none


def test_a_row_without_a_valid_interval_says_why_and_none_excludes_its_estimate():
    """Rows carry the interval's method, and where none is valid (N <= dim) no interval but the reason."""
    import math

    import numpy as np
    import torch

    from ffbench.metrics import fvd, motion, psnr
    from ffbench.metrics.bootstrap import Interval
    from ffbench.metrics.results import build_result

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (4, 16, 32, 32, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, (4, 16, 32, 32, 3), dtype=np.uint8)
    score = fvd(real, fake, extractor="random", return_result=True)  # 4 clips, 400-d logits
    assert math.isnan(score.ci_low) and math.isnan(score.ci_high)
    assert any(f.startswith("no interval:") for f in score.flags), score.flags
    for s in (psnr(real, fake, return_result=True), motion(real, fake, return_result=True)):
        assert s.ci_low <= s.value <= s.ci_high
    row = build_result("x", None, 1.0, n_real=3, n_fake=3, frames="4", extractor=("l", "s"), seeds=[0],
                       interval=Interval(0.5, 1.5, 12, "jackknife"), detail={"bootstrap": {"resamples": 12}})
    assert row.detail["bootstrap"]["method"] == "jackknife" and not row.flags
