"""Inception Score from class probabilities.

    IS = exp( E_x KL(p(y|x) || p(y)) ),   p(y) = mean over the split of p(y|x)

computed on `splits` equal parts of the set after one shuffle with a fixed seed (the usual protocol
uses 10 splits); returns the mean and standard deviation over splits. For identical predictions IS is
1; for one-hot predictions spread evenly over K classes it is K.
"""

from __future__ import annotations

import numpy as np


def inception_score(probs: np.ndarray, splits: int = 10, shuffle_seed: int | None = 0) -> tuple[float, float]:
    """Inception Score of class probabilities `probs` (N, K), rows summing to 1.

    Args:
        probs: softmax outputs, one row per image (per frame for videos).
        splits: number of equal parts (the last N % splits rows are dropped).
        shuffle_seed: seed of the one permutation applied before splitting; None keeps the order.

    Returns:
        (mean, std) of exp(mean KL) over the splits, in float64.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must have shape (N, K), got {p.shape}")
    if splits < 1 or len(p) < splits:
        raise ValueError(f"splits must be in [1, N={len(p)}], got {splits}")
    if not np.allclose(p.sum(1), 1.0, atol=1e-4) or (p < 0).any():
        raise ValueError("probs rows must be probability vectors (non-negative, summing to 1)")
    if shuffle_seed is not None:
        p = p[np.random.default_rng(shuffle_seed).permutation(len(p))]
    size = len(p) // splits
    scores = []
    for k in range(splits):
        part = p[k * size:(k + 1) * size]
        marginal = part.mean(0, keepdims=True)
        # 0 * log(0 / q) = 0: only where p > 0.
        ratio = np.where(part > 0, part / np.where(marginal > 0, marginal, 1.0), 1.0)
        kl = (part * np.log(ratio)).sum(1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
