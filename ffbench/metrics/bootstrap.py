"""Seeded bootstrap 95% intervals over videos, for every kind of metric value ffbench reports.

One resample draws N videos with replacement from the N videos of a set (each side of a comparison
separately); a unit that is not a video (a clip, a frame) follows its video, so frames of one video stay
together. The statistic is recomputed on the resample, `resamples` times, and the interval is the 2.5th
and 97.5th percentile of those values. The draws come from `numpy.random.default_rng(seed)`: the same
seed gives the same interval.

Cost: the mean of per-video values and the kernel distance (a fixed kernel matrix, reweighted) are cheap.
A Frechet distance needs a matrix square root per resample; `frechet_distance_weighted` takes the exact
sample-space route when a resample has fewer distinct rows than feature dimensions (VFID, FVD and
fvmd-flow on up to a few hundred videos: milliseconds), else the feature-space route (FID's 2048-d
per-frame features on thousands of frames: seconds). `affordable_resamples` then lowers the count so one
interval costs at most `FLOP_BUDGET`; the count used is returned and recorded in every row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ffbench.metrics.frechet import frechet_distance_weighted
from ffbench.metrics.inception_score import inception_score
from ffbench.metrics.kernel import polynomial_kernel

DEFAULT_RESAMPLES = 200
MIN_RESAMPLES = 25
FLOP_BUDGET = 4e11  # about a minute of eigen-decompositions on one busy core
CONFIDENCE = 0.95


def video_weights(n_videos: int, resamples: int, seed: int, stream: int = 0) -> np.ndarray:
    """(resamples, n_videos) int counts: how often each video appears in each resample.

    `stream` separates the draws of the two sides of a comparison (0 fake, 1 real).
    """
    if n_videos < 1:
        raise ValueError("the bootstrap needs at least one video")
    rng = np.random.default_rng([seed, stream])
    picks = rng.integers(0, n_videos, size=(resamples, n_videos))
    return np.stack([np.bincount(p, minlength=n_videos) for p in picks])


def interval(values: np.ndarray) -> tuple[float, float]:
    """(2.5th, 97.5th) percentile of the finite resampled values; NaN when none is finite."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan")
    tail = (1 - CONFIDENCE) / 2 * 100
    lo, hi = np.percentile(v, [tail, 100 - tail])
    return float(lo), float(hi)


def mean_interval(per_video: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """Interval of the mean of per-video values (paired metrics, diagnostics)."""
    x = np.asarray(per_video, dtype=np.float64)
    if resamples < 1 or not len(x):
        return float("nan"), float("nan")
    w = video_weights(len(x), resamples, seed)
    return interval(w @ x / len(x))


def ratio_interval(fake: np.ndarray, real: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """Interval of mean(fake) / mean(real), the two sets resampled independently (diagnostics)."""
    f, r = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    if resamples < 1 or not len(f) or not len(r):
        return float("nan"), float("nan")
    num = video_weights(len(f), resamples, seed, 0) @ f / len(f)
    den = video_weights(len(r), resamples, seed, 1) @ r / len(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        return interval(num / den)


def _item_weights(item_video: np.ndarray, video_counts: np.ndarray) -> np.ndarray:
    """Per-item multiplicities from per-video counts: an item repeats as often as its video."""
    return video_counts[np.asarray(item_video, dtype=np.int64)]


def _n_videos(item_video: np.ndarray) -> int:
    return int(np.max(item_video)) + 1 if len(item_video) else 0


def collapse(x: np.ndarray, item_video: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge identical rows of one video (cd-fvd counts a clip drawn twice twice): (rows, video, count)."""
    key = np.concatenate([np.asarray(item_video, np.float64)[:, None], np.asarray(x, np.float64)], axis=1)
    unique, counts = np.unique(key, axis=0, return_counts=True)
    return unique[:, 1:], unique[:, 0].astype(np.int64), counts


def affordable_resamples(requested: int, n1: int, n2: int, dim: int) -> int:
    """`requested`, or fewer when one Frechet resample of this size would exceed the flop budget."""
    k1, k2 = 0.632 * n1, 0.632 * n2  # distinct rows in a resample, on average
    per = min(k1 * k2 * dim + 4 * k1 * k2 * min(k1, k2), (k1 + k2) * dim * dim + 18 * dim ** 3)
    return int(min(requested, max(MIN_RESAMPLES, FLOP_BUDGET // max(per, 1.0))))


GRAM_MAX_ROWS = 4096  # Gram matrices up to 4096 x 4096 float64 (128 MB) per pair of sets


class GramFrechet:
    """Frechet distances of reweighted rows from three Gram matrices computed once.

    With x1, x2 shifted by one common vector (the distance does not change, round-off does), and weights
    w1, w2 (N1, N2 their sums): mu1.mu2 = w1' G12 w2 / (N1 N2), tr S1 = (sum w1 diag(G11) - N1 |mu1|^2) /
    (N1 - ddof), and tr((S1 S2)^(1/2)) is the sum of the singular values of
    diag(sqrt w1) (G12 - G12 w2 / N2 - w1' G12 / N1 + mu1.mu2) diag(sqrt w2) / sqrt((N1-ddof)(N2-ddof)),
    the centred cross-Gram matrix of `frechet_distance_weighted`'s sample route. Each resample then costs
    O(n1 n2) plus a small SVD instead of products with the D-dimensional features.
    """

    def __init__(self, x1: np.ndarray, x2: np.ndarray, ddof: int) -> None:
        shift = np.concatenate([x1, x2]).mean(0)
        a, b = np.asarray(x1, np.float64) - shift, np.asarray(x2, np.float64) - shift
        self.g11, self.g22, self.g12 = a @ a.T, b @ b.T, a @ b.T
        self.ddof = ddof

    def __call__(self, w1: np.ndarray, w2: np.ndarray) -> float:
        k1, k2 = w1 > 0, w2 > 0
        w1, w2 = w1[k1].astype(np.float64), w2[k2].astype(np.float64)
        g11, g22, g12 = self.g11[np.ix_(k1, k1)], self.g22[np.ix_(k2, k2)], self.g12[np.ix_(k1, k2)]
        n1, n2 = w1.sum(), w2.sum()
        m11, m22, m12 = w1 @ g11 @ w1 / n1 ** 2, w2 @ g22 @ w2 / n2 ** 2, w1 @ g12 @ w2 / (n1 * n2)
        tr1 = (w1 @ np.diag(g11) - n1 * m11) / (n1 - self.ddof)
        tr2 = (w2 @ np.diag(g22) - n2 * m22) / (n2 - self.ddof)
        centred = g12 - (g12 @ w2 / n2)[:, None] - (w1 @ g12 / n1)[None, :] + m12
        scale = np.sqrt((n1 - self.ddof) * (n2 - self.ddof))
        m = np.sqrt(w1)[:, None] * centred * np.sqrt(w2)[None, :] / scale
        cross = np.linalg.svd(m, compute_uv=False).sum()
        return float(max(m11 + m22 - 2 * m12 + tr1 + tr2 - 2 * cross, 0.0))


def frechet_interval(fake: np.ndarray, fake_video: np.ndarray, real: np.ndarray, real_video: np.ndarray,
                     resamples: int, seed: int, ddof: int = 1) -> tuple[float, float, int]:
    """Interval of the Frechet distance, videos of both sets resampled; returns (lo, hi, resamples used).

    Args:
        fake, real: features (n, D), one row per unit.
        fake_video, real_video: the video index (0..V-1) of every row.
    """
    if resamples < 1:
        return float("nan"), float("nan"), 0
    n_fake, n_real = _n_videos(fake_video), _n_videos(real_video)
    (fake, fake_video, fc), (real, real_video, rc) = collapse(fake, fake_video), collapse(real, real_video)
    used = affordable_resamples(resamples, len(fake), len(real), fake.shape[1])
    wf = video_weights(n_fake, used, seed, 0)
    wr = video_weights(n_real, used, seed, 1)
    gram = None
    if max(len(fake), len(real)) <= GRAM_MAX_ROWS and min(len(fake), len(real)) < fake.shape[1]:
        gram = GramFrechet(fake, real, ddof)
    values = []
    for k in range(used):
        a, b = _item_weights(fake_video, wf[k]) * fc, _item_weights(real_video, wr[k]) * rc
        if a.sum() <= ddof or b.sum() <= ddof:
            continue
        values.append(gram(a, b) if gram else frechet_distance_weighted(fake, a, real, b, ddof=ddof))
    lo, hi = interval(np.array(values))
    return lo, hi, used


def _u_statistic(kernel: np.ndarray, w: np.ndarray) -> float:
    """Mean of k(x_i, x_j) over pairs of the resample that are not copies of one original row.

    A resample repeats rows; pairing a row with its own copy would add k(x, x), the largest kernel value,
    and push every resampled MMD above the estimate. Copies are left out as the diagonal is.
    """
    pairs = w.sum() ** 2 - (w * w).sum()
    return float((w @ kernel @ w - (w * w) @ np.diag(kernel)) / pairs)


def kernel_interval(fake: np.ndarray, fake_video: np.ndarray, real: np.ndarray, real_video: np.ndarray,
                    resamples: int, seed: int) -> tuple[float, float, int]:
    """Interval of the unbiased polynomial-kernel MMD^2 (KVD), as `kernel_distance` on each resample."""
    if resamples < 1:
        return float("nan"), float("nan"), 0
    x, y = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    wf = video_weights(_n_videos(fake_video), resamples, seed, 0)
    wr = video_weights(_n_videos(real_video), resamples, seed, 1)
    values = []
    for k in range(resamples):
        a = _item_weights(fake_video, wf[k]).astype(np.float64)
        b = _item_weights(real_video, wr[k]).astype(np.float64)
        if (a > 0).sum() < 2 or (b > 0).sum() < 2:
            continue
        cross = a @ kxy @ b / (a.sum() * b.sum())
        values.append(_u_statistic(kxx, a) + _u_statistic(kyy, b) - 2 * cross)
    lo, hi = interval(np.array(values))
    return lo, hi, resamples


def inception_score_interval(probs: np.ndarray, item_video: np.ndarray, splits: int, resamples: int,
                             seed: int) -> tuple[float, float, int]:
    """Interval of the Inception Score (fake set only), videos resampled with their frames."""
    if resamples < 1:
        return float("nan"), float("nan"), 0
    w = video_weights(_n_videos(item_video), resamples, seed, 0)
    values = []
    for k in range(resamples):
        rows = np.repeat(np.arange(len(probs)), _item_weights(item_video, w[k]))
        if len(rows) >= splits:
            values.append(inception_score(probs[rows], splits=splits, shuffle_seed=seed)[0])
    lo, hi = interval(np.array(values))
    return lo, hi, resamples


def generic_interval(statistic: Callable[[np.ndarray, np.ndarray], float], n_fake: int, n_real: int,
                     resamples: int, seed: int) -> tuple[float, float]:
    """Interval of any statistic(fake video counts, real video counts) (n_fake,), (n_real,)."""
    wf = video_weights(n_fake, resamples, seed, 0)
    wr = video_weights(n_real, resamples, seed, 1)
    return interval(np.array([statistic(wf[k], wr[k]) for k in range(resamples)]))
