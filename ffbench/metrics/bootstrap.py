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

Biased statistics (Frechet and kernel distances, IS). The percentile interval assumes the resampled values
scatter around the estimate as the estimate scatters around the truth. A Frechet distance is biased upward
about as 1/N, and a resample with replacement has fewer distinct rows than its set, so its distance is
larger still: at N <= dim whole bootstrap distributions lie above the estimate (the demo's FID, 1307 with
[1567, 91730]). These statistics get a BCa interval instead (Efron 1987: the percentiles are moved by the
bias-correction z0, the share of resampled values below the estimate, and by the acceleration a, from a
leave-one-video-out jackknife), and none (NaN, with the reason in `Interval.reason`) where no interval is
valid: a Frechet distance with no more distinct rows than feature dimensions, a bootstrap distribution
entirely on one side of its estimate, or an interval that would not hold its estimate. The `*_checked`
functions return an `Interval`; `frechet_interval`, `kernel_interval` and `inception_score_interval` keep
their (lo, hi, resamples) signature and return the same numbers without the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

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


@dataclass(frozen=True)
class Interval:
    """A 95% interval of one statistic: low, high (NaN when there is none), the resamples drawn (for the
    jackknife: the leave-one-group-out values), how it was made ("jackknife", "bca", "percentile" or "none")
    and, when there is none, why (a sentence a result row can show)."""

    low: float
    high: float
    resamples: int
    method: str
    reason: str = ""
    corrected: tuple[float, float, float] | None = None  # jackknife: bias-corrected (estimate, low, high)

    @property
    def valid(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high))

    def as_tuple(self) -> tuple[float, float, int]:
        return self.low, self.high, self.resamples


def no_interval(reason: str, resamples: int = 0) -> Interval:
    return Interval(float("nan"), float("nan"), resamples, "none", reason)


_NORMAL = NormalDist()


def acceleration(jackknife: Sequence[np.ndarray]) -> float:
    """BCa acceleration from leave-one-video-out values, one array per resampled set.

    a = sum_j sum_i U_ji^3 / n_j^3 / (6 (sum_j sum_i U_ji^2 / n_j^2)^(3/2)),
    U_ji = (n_j - 1)(mean_j - theta_ji): the skewness of the statistic's influence values, summed over
    independent sets.
    """
    num = den = 0.0
    for theta in jackknife:
        t = np.asarray(theta, np.float64)
        t = t[np.isfinite(t)]
        n = len(t)
        if n < 2:
            continue
        u = (n - 1) * (t.mean() - t)
        num += float((u ** 3).sum()) / n ** 3
        den += float((u ** 2).sum()) / n ** 2
    return num / (6 * den ** 1.5) if den > 0 else 0.0


def bias_correction(boot: np.ndarray, estimate: float) -> float:
    """z0 = Phi^-1(share of resampled values below the estimate, ties half); inf when the share is 0 or 1."""
    v = np.asarray(boot, np.float64)
    share = float(np.mean(v < estimate) + 0.5 * np.mean(v == estimate))
    if share <= 0:
        return -np.inf
    if share >= 1:
        return np.inf
    return _NORMAL.inv_cdf(share)


def _finite(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, np.float64)
    return v[np.isfinite(v)]


def _expansion(n: int | None) -> float:
    return 1.0 if n is None else float(np.sqrt(n / (n - 1)))


def _tail_z(p: float, n: int | None) -> float:
    """The normal quantile BCa starts from; with `n`, Student's t(n-1) quantile times sqrt(n / (n-1)).

    The bootstrap of a mean of n values has spread sd sqrt((n-1)/n) / sqrt(n) and a normal shape, so at
    n = 16 its 95% interval held the true mean in 0.91 of 400 reps; the expanded percentile (Hesterberg
    2015) undoes both, as a t interval would, and held it in 0.95."""
    if n is None:
        return _NORMAL.inv_cdf(p)
    from scipy.stats import t as student_t

    return _expansion(n) * float(student_t.ppf(p, n - 1))


def _tail_level(z: float, n: int | None) -> float:
    """Inverse of `_tail_z`: the probability p whose start quantile is z."""
    if n is None:
        return _NORMAL.cdf(z)
    from scipy.stats import t as student_t

    return float(student_t.cdf(z / _expansion(n), n - 1))


def bca_interval(boot: np.ndarray, estimate: float, jackknife: Sequence[np.ndarray], resamples: int,
                 confidence: float = CONFIDENCE, small_n: int | None = None) -> Interval:
    """BCa interval of `estimate` from its resampled values and its jackknife values (see module doc).

    small_n: the size of the smallest resampled set, to widen the tails for small n (`_tail_z`); None
    keeps the plain normal quantiles.
    None (with the reason) when fewer than MIN_RESAMPLES values are finite, when every resampled value lies
    on one side of the estimate (z0 infinite), or when the interval would not hold the estimate.
    """
    v = _finite(boot)
    if not np.isfinite(estimate):
        return no_interval("the estimate is not finite", resamples)
    if len(v) < MIN_RESAMPLES:
        return no_interval(f"only {len(v)} of {resamples} resamples gave a value", resamples)
    z0 = bias_correction(v, estimate)
    if not np.isfinite(z0):
        side = "above" if z0 < 0 else "below"
        return no_interval(f"every resampled value lies {side} the estimate {estimate:.4g}: the bootstrap is "
                           "too biased at this N", resamples)
    a = acceleration(jackknife)
    tail = (1 - confidence) / 2
    levels = []
    for z in (_tail_z(tail, small_n), _tail_z(1 - tail, small_n)):
        shifted = z0 + z
        denom = 1 - a * shifted
        if denom <= 0:
            return no_interval(f"BCa acceleration {a:.3g} too large for a {confidence:.0%} interval",
                               resamples)
        levels.append(_NORMAL.cdf(z0 + shifted / denom))
    lo, hi = (float(q) for q in np.quantile(v, levels))
    if not lo <= estimate <= hi:
        return no_interval(f"the bias-corrected interval [{lo:.4g}, {hi:.4g}] does not hold the estimate "
                           f"{estimate:.4g}: the bootstrap is too biased at this N", resamples)
    return Interval(lo, hi, resamples, "bca")


def bca_p_value(boot: np.ndarray, estimate: float, jackknife: Sequence[np.ndarray],
                null: float = 0.0, small_n: int | None = None) -> float:
    """Two-sided bootstrap p-value of "the statistic equals `null`", by inverting the BCa interval.

    p is the level 1 - c at which an endpoint of the BCa c-interval reaches `null`, so p < 0.05 exactly when
    the 95% interval excludes `null`. The share of resampled values below `null` is kept within
    [1/(B+1), B/(B+1)]: B resamples cannot show a p below about 2/(B+1). With z0 infinite (every resampled
    value on one side of the estimate) it falls back to the percentile share.
    """
    v = _finite(boot)
    b = len(v)
    if b == 0 or not np.isfinite(estimate):
        return float("nan")
    share = float(np.mean(v < null) + 0.5 * np.mean(v == null))
    share = min(max(share, 1 / (b + 1)), b / (b + 1))
    z0 = bias_correction(v, estimate)
    if not np.isfinite(z0):
        return float(min(1.0, 2 * min(share, 1 - share)))
    a = acceleration(jackknife)
    w = _NORMAL.inv_cdf(share) - z0
    shifted = w / (1 + a * w) if 1 + a * w > 0 else np.sign(w) * np.inf
    level = _tail_level(shifted - z0, small_n) if np.isfinite(shifted) else float(shifted > 0)
    return float(min(1.0, 2 * min(level, 1 - level)))


def _leave_one_video_out(item_video: np.ndarray, counts: np.ndarray,
                         groups: int | None = None) -> list[np.ndarray]:
    """Row weights with one video's rows removed, for each video in turn; with `groups`, videos v with the
    same v % groups are removed together (a delete-a-group jackknife, when one value per video costs too
    much)."""
    n = _n_videos(item_video)
    g = n if groups is None else max(2, min(groups, n))
    out = []
    for k in range(g):
        w = counts.astype(np.float64).copy()
        w[item_video % g == k] = 0
        out.append(w)
    return out


def jackknife_interval(estimate: float, jackknife: Sequence[np.ndarray], confidence: float = CONFIDENCE,
                       name: str = "distance") -> Interval:
    """Bias-corrected jackknife interval: (estimate - bias) +- t_(g-1) se, from leave-one-group-out values.

    bias = sum_j (g_j - 1)(mean_j - estimate) and se^2 = sum_j (g_j - 1)/g_j sum_i (theta_ji - mean_j)^2
    over the independent sets j (fake, real) of g_j groups. No copies are made, so no covariance is made
    more singular than the data's; the 1/N bias of a Frechet distance is removed to first order. The
    interval is of the distance between the two distributions; where the estimate's own upward bias takes
    it outside that interval there is none (a printed interval must hold its estimate), and the reason
    gives the bias-corrected figures instead.
    """
    from scipy.stats import t as student_t

    bias = var = 0.0
    sizes = []
    for theta in jackknife:
        th = np.asarray(theta, np.float64)
        if len(th) < 2 or not np.isfinite(th).all():
            return no_interval(f"a leave-one-out {name} was not finite")
        g = len(th)
        sizes.append(g)
        bias += (g - 1) * (th.mean() - estimate)
        var += (g - 1) / g * float(((th - th.mean()) ** 2).sum())
    if not sizes or not np.isfinite(estimate):
        return no_interval(f"the {name} is not finite")
    used = int(sum(sizes))
    centre = estimate - bias
    half = float(student_t.ppf(1 - (1 - confidence) / 2, min(sizes) - 1)) * np.sqrt(var)
    lo, hi = centre - half, centre + half
    corrected = (float(centre), float(lo), float(hi))
    if not lo <= estimate <= hi:
        return Interval(float("nan"), float("nan"), used, "none",
                        f"at this N the {name} {estimate:.4g} is biased by {bias:+.3g} (jackknife), "
                        f"more than its spread: the bias-corrected value is {centre:.4g} "
                        f"[{lo:.4g}, {hi:.4g}]; no interval holds both the estimate and the true value",
                        corrected)
    return Interval(float(lo), float(hi), used, "jackknife", "", corrected)


JACKKNIFE_MIN_GROUPS = 10  # per set: t(9) quantiles; fewer groups would make the interval needlessly wide


def frechet_interval_checked(fake: np.ndarray, fake_video: np.ndarray, real: np.ndarray,
                             real_video: np.ndarray, resamples: int, seed: int, ddof: int = 1) -> Interval:
    """Jackknife interval of the Frechet distance over videos (none at N <= dim, with the reason).

    The percentile bootstrap is not used here: a resample with replacement has about 0.63 N distinct rows,
    so its distance is biased further up than the estimate and its percentiles sit above it (measured on
    Gaussian features, N=32, dim=8: BCa held the true distance in 0 of 38 reps). `resamples` 0 asks for no
    interval; otherwise it is unused, kept for the callers' signature. `seed` is unused (no draws).

    Args:
        fake, real: features (n, D), one row per unit.
        fake_video, real_video: the video index (0..V-1) of every row.
    """
    del seed
    if resamples < 1:
        return no_interval("no interval asked for (0 resamples)")
    (fake, fake_video, fc), (real, real_video, rc) = collapse(fake, fake_video), collapse(real, real_video)
    dim = fake.shape[1]
    rows = min(len(fake), len(real))
    if rows <= dim:
        return no_interval(f"N<=dim ({rows}<={dim} distinct rows): the covariance is singular, the distance "
                           "is dominated by its bias and no interval of it is valid at this N; compare "
                           "methods by their paired difference")
    per = (len(fake) + len(real)) * dim * dim + 18 * dim ** 3  # flops of one feature-route distance
    # As many groups as FLOP_BUDGET allows (one per video on test sets of hundreds of videos), at least
    # JACKKNIFE_MIN_GROUPS per set (FID's 2048-d features on 100 x 70 frames: 20 distances, fewer than
    # the percentile bootstrap's minimum of 25 resamples).
    groups = max(JACKKNIFE_MIN_GROUPS, int(FLOP_BUDGET // max(per, 1.0)) // 2)

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        if a.sum() <= ddof + 1 or b.sum() <= ddof + 1:
            return float("nan")
        return frechet_distance_weighted(fake, a, real, b, ddof=ddof)

    jack = [np.array([distance(w, rc) for w in _leave_one_video_out(fake_video, fc, groups)]),
            np.array([distance(fc, w) for w in _leave_one_video_out(real_video, rc, groups)])]
    return jackknife_interval(distance(fc, rc), jack, name="Frechet distance")


def frechet_interval(fake: np.ndarray, fake_video: np.ndarray, real: np.ndarray, real_video: np.ndarray,
                     resamples: int, seed: int, ddof: int = 1) -> tuple[float, float, int]:
    """`frechet_interval_checked` as (lo, hi, resamples used); NaN bounds where no interval is valid."""
    return frechet_interval_checked(fake, fake_video, real, real_video, resamples, seed, ddof).as_tuple()


def _u_statistic(kernel: np.ndarray, w: np.ndarray) -> float:
    """Mean of k(x_i, x_j) over pairs of the resample that are not copies of one original row.

    A resample repeats rows; pairing a row with its own copy would add k(x, x), the largest kernel value,
    and push every resampled MMD above the estimate. Copies are left out as the diagonal is.
    """
    pairs = w.sum() ** 2 - (w * w).sum()
    return float((w @ kernel @ w - (w * w) @ np.diag(kernel)) / pairs)


def _kernel_value(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    if (a > 0).sum() < 2 or (b > 0).sum() < 2:
        return float("nan")
    cross = a @ kxy @ b / (a.sum() * b.sum())
    return _u_statistic(kxx, a) + _u_statistic(kyy, b) - 2 * cross


def kernel_interval_checked(fake: np.ndarray, fake_video: np.ndarray, real: np.ndarray,
                            real_video: np.ndarray, resamples: int, seed: int) -> Interval:
    """Jackknife interval (over videos) of the unbiased polynomial-kernel MMD^2 (KVD).

    The statistic is unbiased, so the jackknife's bias correction is small and the interval is of the same
    kind as the Frechet distance's. `resamples` 0 asks for none; `seed` is unused (no draws).
    """
    del seed
    if resamples < 1:
        return no_interval("no interval asked for (0 resamples)")
    x, y = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    fv, rv = np.asarray(fake_video, np.int64), np.asarray(real_video, np.int64)
    if min(_n_videos(fv), _n_videos(rv)) < 3:
        return no_interval("the kernel distance's interval needs at least 3 videos per set")
    ones_f, ones_r = np.ones(len(x)), np.ones(len(y))
    jack = [np.array([_kernel_value(kxx, kyy, kxy, w, ones_r) for w in _leave_one_video_out(fv, ones_f)]),
            np.array([_kernel_value(kxx, kyy, kxy, ones_f, w) for w in _leave_one_video_out(rv, ones_r)])]
    return jackknife_interval(_kernel_value(kxx, kyy, kxy, ones_f, ones_r), jack, name="kernel distance")


def kernel_interval(fake: np.ndarray, fake_video: np.ndarray, real: np.ndarray, real_video: np.ndarray,
                    resamples: int, seed: int) -> tuple[float, float, int]:
    """`kernel_interval_checked` as (lo, hi, resamples)."""
    return kernel_interval_checked(fake, fake_video, real, real_video, resamples, seed).as_tuple()


def inception_score_interval_checked(probs: np.ndarray, item_video: np.ndarray, splits: int, resamples: int,
                                     seed: int) -> Interval:
    """BCa interval of the Inception Score (fake set only), videos resampled with their frames."""
    if resamples < 1:
        return no_interval("no interval asked for (0 resamples)")
    item_video = np.asarray(item_video, np.int64)

    def score(counts: np.ndarray) -> float:
        rows = np.repeat(np.arange(len(probs)), counts.astype(np.int64))
        if len(rows) < splits:
            return float("nan")
        return inception_score(probs[rows], splits=splits, shuffle_seed=seed)[0]

    ones = np.ones(len(probs), np.int64)
    w = video_weights(_n_videos(item_video), resamples, seed, 0)
    boot = [score(_item_weights(item_video, w[k])) for k in range(resamples)]
    jack = [np.array([score(c) for c in _leave_one_video_out(item_video, ones)])]
    return bca_interval(np.array(boot), score(ones), jack, resamples)


def inception_score_interval(probs: np.ndarray, item_video: np.ndarray, splits: int, resamples: int,
                             seed: int) -> tuple[float, float, int]:
    """`inception_score_interval_checked` as (lo, hi, resamples)."""
    return inception_score_interval_checked(probs, item_video, splits, resamples, seed).as_tuple()


def generic_interval(statistic: Callable[[np.ndarray, np.ndarray], float], n_fake: int, n_real: int,
                     resamples: int, seed: int) -> tuple[float, float]:
    """Interval of any statistic(fake video counts, real video counts) (n_fake,), (n_real,)."""
    wf = video_weights(n_fake, resamples, seed, 0)
    wr = video_weights(n_real, resamples, seed, 1)
    return interval(np.array([statistic(wf[k], wr[k]) for k in range(resamples)]))
