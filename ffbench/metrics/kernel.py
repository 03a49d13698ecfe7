"""Kernel distance (KVD on I3D features, KID on Inception features).

Unbiased squared MMD with the polynomial kernel k(x, y) = (x . y / D + 1)^3, as in KID (Binkowski et
al. 2018) and the KVD reported beside FVD:

    MMD^2 = sum_{i!=j} k(x_i, x_j) / (m (m-1)) + sum_{i!=j} k(y_i, y_j) / (n (n-1))
            - 2 sum_{i,j} k(x_i, y_j) / (m n)

computed on the full sets in float64 (no subsets). Unbiased: it can be slightly negative and is about 0
for two samples of one distribution. Reported unscaled (some papers multiply by 1000).
"""

from __future__ import annotations

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0) -> np.ndarray:
    """k(x, y) = (gamma x . y + coef0)^degree for rows of x (M, D) and y (N, D); gamma defaults to 1/D."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (gamma * (x @ y.T) + coef0) ** degree


def kernel_distance(feats1: np.ndarray, feats2: np.ndarray, degree: int = 3) -> float:
    """Unbiased polynomial-kernel MMD^2 between feature sets (M, D) and (N, D)."""
    x = np.asarray(feats1, dtype=np.float64)
    y = np.asarray(feats2, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"feats1 and feats2 must be (M, D) and (N, D), got {x.shape} and {y.shape}")
    m, n = len(x), len(y)
    if min(m, n) < 2:
        raise ValueError(f"the unbiased kernel distance needs at least 2 samples per set, got {m} and {n}")
    kxx = polynomial_kernel(x, x, degree)
    kyy = polynomial_kernel(y, y, degree)
    kxy = polynomial_kernel(x, y, degree)
    term_xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    term_yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * kxy.mean())
