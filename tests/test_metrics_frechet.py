"""Frechet distance against closed forms and scipy; the streaming accumulator against numpy.cov."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import ortho_group

from ffbench.metrics.frechet import frechet_distance, frechet_distance_from_features, trace_sqrt_product
from ffbench.metrics.stats import FeatureStats


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def test_diagonal_gaussians_match_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=20), rng.normal(size=20)
    a, b = rng.uniform(0.1, 5, 20), rng.uniform(0.1, 5, 20)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert _rel(frechet_distance(mu1, np.diag(a), mu2, np.diag(b)), expected) < 1e-9


def test_full_covariances_with_shared_eigenbasis_match_closed_form():
    rng = np.random.default_rng(1)
    q = ortho_group.rvs(30, random_state=2)
    a, b = rng.uniform(0.01, 3, 30), rng.uniform(0.01, 3, 30)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu1, mu2 = rng.normal(size=30), rng.normal(size=30)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert _rel(frechet_distance(mu1, s1, mu2, s2), expected) < 1e-9


def test_non_commuting_2d_matches_closed_form_trace():
    # For 2x2 PSD M: tr(sqrt(M)) = sqrt(tr(M) + 2 sqrt(det(M))).
    s1 = np.array([[2.0, 0.7], [0.7, 1.0]])
    s2 = np.array([[0.5, -0.2], [-0.2, 3.0]])
    m = s1 @ s2
    expected = np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(m)))
    assert _rel(trace_sqrt_product(s1, s2), expected) < 1e-12


def test_identical_statistics_give_zero_and_distance_is_symmetric():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 64))
    y = rng.normal(size=(400, 64)) * 1.3 + 0.2
    mu, sigma = x.mean(0), np.cov(x, rowvar=False)
    assert frechet_distance(mu, sigma, mu, sigma) < 1e-9 * np.trace(sigma)
    d_xy, d_yx = frechet_distance_from_features(x, y), frechet_distance_from_features(y, x)
    assert d_xy > 1.0
    assert _rel(d_xy, d_yx) < 1e-10


def test_agrees_with_scipy_sqrtm_when_well_conditioned():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(2000, 32)), rng.normal(size=(2000, 32)) @ rng.normal(size=(32, 32)) * 0.3
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2)
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real
    assert _rel(frechet_distance(mu1, s1, mu2, s2), reference) < 1e-8


def test_finite_when_n_is_below_the_dimension():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(10, 400)), rng.normal(size=(12, 400)) + 0.5
    d = frechet_distance_from_features(x, y)
    assert np.isfinite(d) and d > 0


def test_rejects_mismatched_shapes_and_nan():
    with pytest.raises(ValueError, match="sigma1"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.array([np.nan, 0.0]), np.eye(2), np.zeros(2), np.eye(2))


def test_accumulator_equals_numpy_cov_and_merges_exactly(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, 16)) * rng.uniform(0.1, 10, 16) + 100.0  # large mean: cancellation check
    whole = FeatureStats(16)
    for chunk in np.array_split(x, 7):
        whole.update(chunk)
    np.testing.assert_allclose(whole.mean(), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(whole.cov(), np.cov(x, rowvar=False), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(whole.cov(unbiased=False), np.cov(x, rowvar=False, bias=True), rtol=1e-8,
                               atol=1e-10)
    a, b = FeatureStats(16), FeatureStats(16)
    a.update(x[:123])
    b.update(x[123:])
    merged = a.merge(b)
    assert merged.count == 300
    np.testing.assert_allclose(merged.cov(), whole.cov(), rtol=1e-8, atol=1e-9)
    whole.save(tmp_path / "s.npz")
    loaded = FeatureStats.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded.sum_outer, whole.sum_outer)
    assert loaded.count == 300


def test_accumulator_keeps_features_on_request_and_checks_width():
    stats = FeatureStats(4, keep_features=True)
    stats.update(np.ones((3, 4)))
    stats.update(np.zeros((2, 4)))
    assert stats.features.shape == (5, 4)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        stats.update(np.ones((2, 5)))
    with pytest.raises(ValueError, match="keep_features"):
        _ = FeatureStats(4).features
