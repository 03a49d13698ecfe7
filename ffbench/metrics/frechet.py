"""The one Frechet distance of ffbench (FVD, VFID-I3D and FID all call it).

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

The trace of the matrix square root is computed from eigenvalues, never with `scipy.linalg.sqrtm`
(SciPy 1.11.2-1.12 return garbage from it on some inputs). S1 S2 is not symmetric, but it is similar to
the symmetric positive semi-definite A = S1^(1/2) S2 S1^(1/2), whose eigenvalues `eigh` finds stably;
tr((S1 S2)^(1/2)) = sum(sqrt(eig(A))). Tiny negative eigenvalues from round-off are clipped to 0, so
the result stays finite when a covariance is singular (N at or below the feature dimension).
"""

from __future__ import annotations

import numpy as np


def _as_float64(name: str, value: np.ndarray, ndim: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; check the features it came from")
    return arr


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix, via `eigh`."""
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 @ sigma2)^(1/2)) for symmetric PSD (D, D) matrices, from eigenvalues, in float64."""
    s1 = _as_float64("sigma1", sigma1, 2)
    s2 = _as_float64("sigma2", sigma2, 2)
    root1 = _psd_sqrt(s1)
    inner = root1 @ ((s2 + s2.T) / 2) @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    Args:
        mu1, mu2: means, shape (D,).
        sigma1, sigma2: covariances, shape (D, D), symmetric positive semi-definite.

    Returns:
        d^2 >= 0 (clipped at 0 against round-off), a Python float.
    """
    m1 = _as_float64("mu1", mu1, 1)
    m2 = _as_float64("mu2", mu2, 1)
    s1 = _as_float64("sigma1", sigma1, 2)
    s2 = _as_float64("sigma2", sigma2, 2)
    dim = m1.shape[0]
    for name, arr, shape in (("mu2", m2, (dim,)), ("sigma1", s1, (dim, dim)), ("sigma2", s2, (dim, dim))):
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}, expected {shape} to match mu1 (dimension {dim})")
    diff = m1 - m2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2)
    return float(max(value, 0.0))


def frechet_distance_from_features(feats1: np.ndarray, feats2: np.ndarray) -> float:
    """Frechet distance between two feature sets (N1, D) and (N2, D), unbiased covariances."""
    f1 = _as_float64("feats1", feats1, 2)
    f2 = _as_float64("feats2", feats2, 2)
    if min(len(f1), len(f2)) < 2:
        raise ValueError(f"need at least 2 samples per set, got {len(f1)} and {len(f2)}")
    return frechet_distance(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False))


def frechet_distance_weighted(x1: np.ndarray, w1: np.ndarray, x2: np.ndarray, w2: np.ndarray,
                              ddof: int = 1) -> float:
    """Frechet distance between two feature sets whose rows repeat `w` times (bootstrap resamples).

    Equal to `frechet_distance_from_features(np.repeat(x1, w1, 0), np.repeat(x2, w2, 0))` for ddof=1
    (ddof=0 divides the covariance by N, as StyleGAN-V and cd-fvd do), without building the copies.

    Two exact routes, the cheaper one is taken:
    - feature space: S = A^T A with A = sqrt(w) (x - mu) / sqrt(N - ddof), then `trace_sqrt_product`
      (two eigen-decompositions of D x D);
    - sample space: tr((S1 S2)^(1/2)) is the sum of the singular values of A1 A2^T (k1 x k2), because
      the non-zero eigenvalues of A1^T A1 A2^T A2 are those of (A1 A2^T)(A1 A2^T)^T. With fewer rows
      than dimensions (N <= D: 100 videos of 1024-d features) this is far cheaper.

    Args:
        x1, x2: features (n1, D), (n2, D).
        w1, w2: non-negative integer multiplicities (n1,), (n2,); rows with weight 0 are ignored.
    """
    rows = []
    for name, x, w in (("1", x1, w1), ("2", x2, w2)):
        x = _as_float64(f"x{name}", x, 2)
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (len(x),) or (w < 0).any():
            raise ValueError(f"w{name} must be {len(x)} non-negative weights, got shape {w.shape}")
        keep = w > 0
        x, w = x[keep], w[keep]
        total = w.sum()
        if total - ddof <= 0:
            raise ValueError(f"set {name} needs more than {ddof} samples, got {total:g}")
        mu = w @ x / total
        rows.append((mu, np.sqrt(w / (total - ddof))[:, None] * (x - mu)))
    (mu1, a1), (mu2, a2) = rows
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature dimensions differ: {mu1.shape[0]} and {mu2.shape[0]}")
    dim, k1, k2 = len(mu1), len(a1), len(a2)
    diff = mu1 - mu2
    trace = float((a1 * a1).sum() + (a2 * a2).sum())
    # Flop estimates: singular values of a k1 x k2 product vs two D x D eigen-decompositions.
    sample_cost = k1 * k2 * dim + k1 * k2 * min(k1, k2) * 4
    feature_cost = (k1 + k2) * dim * dim + 2 * 9 * dim ** 3
    if sample_cost <= feature_cost:
        cross = float(np.linalg.svd(a1 @ a2.T, compute_uv=False).sum())
    else:
        cross = trace_sqrt_product(a1.T @ a1, a2.T @ a2)
    return float(max(diff @ diff + trace - 2.0 * cross, 0.0))
