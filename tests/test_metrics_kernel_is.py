"""Inception Score and the kernel distance (KVD) against known values and a naive reference."""

from __future__ import annotations

import numpy as np
import pytest

from ffbench.metrics.inception_score import inception_score
from ffbench.metrics.kernel import kernel_distance


def test_identical_predictions_give_one():
    p = np.tile(np.array([[0.2, 0.5, 0.3]]), (100, 1))
    mean, std = inception_score(p, splits=10)
    assert abs(mean - 1.0) < 1e-12 and std < 1e-12


def test_balanced_one_hot_gives_k():
    k = 7
    p = np.eye(k)[np.arange(700) % k]
    assert abs(inception_score(p, splits=1)[0] - k) < 1e-9
    # Without shuffling each of the 10 splits is balanced too.
    mean, std = inception_score(p, splits=10, shuffle_seed=None)
    assert abs(mean - k) < 1e-9 and std < 1e-9
    # A seeded shuffle unbalances the splits slightly: below K, reproducible.
    shuffled = inception_score(p, splits=10, shuffle_seed=0)
    assert k - 0.5 < shuffled[0] < k
    assert shuffled == inception_score(p, splits=10, shuffle_seed=0)


def test_inception_score_rejects_bad_input():
    with pytest.raises(ValueError, match="splits"):
        inception_score(np.eye(3), splits=10)
    with pytest.raises(ValueError, match="probability"):
        inception_score(np.ones((20, 3)), splits=2)


def _naive_mmd(x, y):
    d = x.shape[1]

    def k(a, b):
        return (a @ b / d + 1) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kernel_distance_matches_naive_loops():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 5)), rng.normal(size=(7, 5)) + 0.3
    assert abs(kernel_distance(x, y) - _naive_mmd(x, y)) < 1e-10


def test_kernel_distance_of_a_distribution_with_itself_is_about_zero():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(800, 16)), rng.normal(size=(800, 16))
    shifted = rng.normal(size=(800, 16)) + 0.5
    same, different = kernel_distance(x, y), kernel_distance(x, shifted)
    assert abs(same) < 0.02 * different
    assert abs(kernel_distance(x, x)) < 0.03 * different  # only the diagonal terms differ
