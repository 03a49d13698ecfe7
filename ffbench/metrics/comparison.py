"""Paired comparison of methods scored on one test set: differences, intervals, p-values, "better than".

Every method is scored on the same test videos (same ids, same conditioning frames), so two methods are
compared by resampling the shared test ids once for both: the per-video differences keep what the ids have
in common (a hard video is hard for both) and the interval of the difference is far narrower than what
two separate intervals suggest.

- Per-video metrics (paired PSNR/SSIM/L1/LPIPS, the diagnostics): `paired_difference` of the per-video
  values on the common ids (what eval keeps in `MetricResult.per_video` and writes with `--per-video`).
- Distribution metrics (FVD, KVD, fvmd-flow...): `distribution_difference` of d(A, real) - d(B, real) per
  resample, with one resample of the real videos and one of the generated ids shared by A and B.
- Interval: BCa (`ffbench.metrics.bootstrap.bca_interval`) with the tails widened for small N (Student's
  t(N-1), the bootstrap's sqrt((N-1)/N) shrinkage undone), 2000 resamples by default; p-value: the
  two-sided bootstrap p of "difference = 0" from inverting the same BCa interval (p < 0.05 exactly when
  the 95% interval excludes 0).
- Multiple comparisons: `compare_methods` tests every pair of one metric's table and adjusts the p-values
  by Holm's step-down procedure (family-wise error <= alpha over the pairs of that table, any dependence);
  "A better than B" needs the Holm-adjusted p below alpha and the metric's direction. Tables of different
  metrics are separate families.
- Results from different real sets, protocols or extractors are never paired (`check_pairable` raises).
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ffbench.metrics import bootstrap
from ffbench.metrics.bootstrap import Interval, bca_interval, bca_p_value, video_weights
from ffbench.metrics.frechet import frechet_distance_weighted
from ffbench.metrics.inception_score import inception_score
from ffbench.metrics.kernel import polynomial_kernel

DEFAULT_RESAMPLES = 2000
ALPHA = 0.05
STATISTICS = ("mean", "closer-to-real")
RATIO_CLAMP = 1e-6


@dataclass(frozen=True)
class Scored:
    """One method's per-video values of one metric, with what makes two of them comparable.

    per_video: test id -> value (the generated video of that id). real: the real set scored against (its
    folder or fingerprint). protocol: the protocol JSON. extractor: the extractor sha256 (or weight-free
    label). per_video_real: diagnostics only, the real video's own value per id.
    """

    method: str
    metric: str
    per_video: Mapping[str, float]
    real: str
    protocol: str
    extractor: str
    per_video_real: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result, method: str, real: str) -> Scored:
        """From a `MetricResult` of `ffbench eval` (per-video metrics) scored against `real`."""
        return cls(method, result.metric, dict(result.per_video), str(real), result.protocol.to_json(),
                   result.extractor_sha256, dict(result.per_video_real))


@dataclass(frozen=True)
class Difference:
    """statistic(a) - statistic(b) on the common test ids, with its 95% interval and bootstrap p-values.

    better: the method that is significantly better after Holm's correction ("" when neither is).
    """

    metric: str
    a: str
    b: str
    estimate: float
    low: float
    high: float
    p_value: float
    n_videos: int
    resamples: int
    interval_method: str
    reason: str = ""
    p_holm: float = math.nan
    better: str = ""


def check_pairable(a: Scored, b: Scored) -> None:
    """Raise ValueError unless a and b are one metric on one real set with one protocol and extractor."""
    for name in ("metric", "real", "protocol", "extractor"):
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            raise ValueError(f"cannot pair {a.method!r} and {b.method!r}: their {name} differs ({va!r} vs "
                             f"{vb!r}); only results of one metric, real set, protocol and extractor are "
                             "compared: score both with the same `ffbench eval` settings")


def _resampled(values: np.ndarray, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(resamples, n) id counts of one shared resample, and the leave-one-id-out means of `values` (n, k)."""
    n = len(values)
    w = video_weights(n, resamples, seed)
    jack = (values.sum(0, keepdims=True) - values) / (n - 1)
    return w, jack


def paired_difference(a: np.ndarray, b: np.ndarray, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                      real: np.ndarray | None = None,
                      statistic: str = "mean") -> tuple[float, Interval, float]:
    """Difference of one statistic between two methods on the same ids: (estimate, Interval, p-value).

    Args:
        a, b: per-video values (n,), aligned by test id.
        real: the real videos' own values (n,), for statistic "closer-to-real".
        statistic: "mean": mean(a) - mean(b). "closer-to-real" (diagnostics): |log(mean a / mean real)| -
            |log(mean b / mean real)|, negative when a is closer to the real videos.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic={statistic!r}: choose one of {', '.join(STATISTICS)}")
    cols = [np.asarray(a, np.float64), np.asarray(b, np.float64)]
    if statistic == "closer-to-real":
        if real is None:
            raise ValueError("statistic 'closer-to-real' needs the real videos' values (real=...)")
        cols.append(np.asarray(real, np.float64))
    values = np.stack(cols, axis=1)
    if len(values) < 3 or not np.isfinite(values).all():
        raise ValueError(f"a paired difference needs at least 3 ids with finite values, got {len(values)}")

    def stat(means: np.ndarray) -> np.ndarray:  # means (..., k)
        if statistic == "mean":
            return means[..., 0] - means[..., 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            # A ratio of 0 (a static video's motion) is "very far", not infinitely: clamped to 1e-6..1e6.
            ratios = np.clip(means[..., :2] / means[..., 2:3], RATIO_CLAMP, 1 / RATIO_CLAMP)
            far = np.abs(np.log(ratios))
            return far[..., 0] - far[..., 1]

    w, jack = _resampled(values, resamples, seed)
    estimate = float(stat(values.mean(0)))
    boot = stat(w @ values / len(values))
    jk, n = [stat(jack)], len(values)
    return (estimate, bca_interval(boot, estimate, jk, resamples, small_n=n),
            bca_p_value(boot, estimate, jk, small_n=n))


def _distance_fn(distance: str, x: np.ndarray, real: np.ndarray, ddof: int):
    """d(x weighted, real weighted) for one generated set against the real set."""
    if distance == "kernel":
        kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(real, real), polynomial_kernel(x, real)
        return lambda a, b: bootstrap._kernel_value(kxx, kyy, kxy, a, b)
    if distance != "frechet":
        raise ValueError(f"distance={distance!r}: choose frechet or kernel")
    gram = bootstrap.GramFrechet(x, real, ddof) if max(len(x), len(real)) <= bootstrap.GRAM_MAX_ROWS \
        and min(len(x), len(real)) < x.shape[1] else None

    def frechet(a: np.ndarray, b: np.ndarray) -> float:
        if a.sum() <= ddof + 1 or b.sum() <= ddof + 1:
            return float("nan")
        return gram(a, b) if gram else frechet_distance_weighted(x, a, real, b, ddof=ddof)
    return frechet


DISTANCES = ("frechet", "kernel", "inception_score")


@dataclass(frozen=True)
class Replicates:
    """One method's statistic on shared resamples: what a distribution difference subtracts.

    estimate: on the full sets; boot (resamples,): on each shared resample of the generated ids (and of
    the real videos); jack: leave-one-id-out values (n_ids,), then leave-one-real-video-out (n_real,)
    when a real set is resampled; n: the size of the smallest resampled set.
    """

    estimate: float
    boot: np.ndarray
    jack: tuple[np.ndarray, ...]
    n: int


def distribution_replicates(fake: np.ndarray, fake_video: np.ndarray, n_ids: int,
                            real: np.ndarray | None = None, real_video: np.ndarray | None = None,
                            distance: str = "frechet", resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                            ddof: int = 1, splits: int = 10) -> Replicates:
    """The statistic of one generated set on the resamples every method of a comparison shares.

    The draws depend only on (n_ids, n_real, resamples, seed), so two methods with the same test ids and
    the same real set get the same resamples, and `difference(a, b)` is the paired difference.

    Args:
        fake: generated features (n, D) (IS: class probabilities); fake_video: the test id of every row as
            an index 0..n_ids-1 in one order for every method.
        real, real_video: real features and the real video (0..R-1) of every row; None for IS.
        distance: "frechet", "kernel" (need the real set) or "inception_score" (generated set only, `splits`
            splits shuffled with `seed`).
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance={distance!r}: choose one of {', '.join(DISTANCES)}")
    x, fv = np.asarray(fake, np.float64), np.asarray(fake_video, np.int64)
    wf = video_weights(n_ids, resamples, seed, 0)
    ones_f = np.ones(n_ids)
    leave_f = [np.where(np.arange(n_ids) == i, 0.0, 1.0) for i in range(n_ids)]
    if distance == "inception_score":
        def score(ids: np.ndarray) -> float:
            rows = np.repeat(np.arange(len(x)), ids[fv].astype(np.int64))
            return float("nan") if len(rows) < splits else inception_score(x[rows], splits, seed)[0]
        return Replicates(score(ones_f), np.array([score(w) for w in wf]),
                          (np.array([score(w) for w in leave_f]),), n_ids)
    if real is None or real_video is None:
        raise ValueError(f"distance {distance!r} needs the real features and their video index")
    r, rv = np.asarray(real, np.float64), np.asarray(real_video, np.int64)
    n_real = bootstrap._n_videos(rv)
    d = _distance_fn(distance, x, r, ddof)
    wr = video_weights(n_real, resamples, seed, 1)
    ones_r = np.ones(n_real)

    def dist(ids: np.ndarray, reals: np.ndarray) -> float:
        return d(ids[fv].astype(np.float64), reals[rv].astype(np.float64))

    jack = (np.array([dist(w, ones_r) for w in leave_f]),
            np.array([dist(ones_f, np.where(np.arange(n_real) == i, 0.0, 1.0)) for i in range(n_real)]))
    return Replicates(dist(ones_f, ones_r), np.array([dist(wf[k], wr[k]) for k in range(resamples)]), jack,
                      min(n_ids, n_real))


def difference(a: Replicates, b: Replicates, resamples: int) -> tuple[float, Interval, float]:
    """a - b on the same resamples: (estimate, BCa Interval, p-value), as `paired_difference` gives."""
    if len(a.boot) != len(b.boot) or [len(j) for j in a.jack] != [len(j) for j in b.jack]:
        raise ValueError("the two methods were not resampled alike: give both the same ids and real set")
    estimate = a.estimate - b.estimate
    boot, jack = a.boot - b.boot, [ja - jb for ja, jb in zip(a.jack, b.jack, strict=True)]
    n = min(a.n, b.n)
    return (estimate, bca_interval(boot, estimate, jack, resamples, small_n=n),
            bca_p_value(boot, estimate, jack, small_n=n))


def distribution_difference(real: np.ndarray, real_video: np.ndarray, fake_a: np.ndarray,
                            fake_a_video: np.ndarray, fake_b: np.ndarray, fake_b_video: np.ndarray,
                            distance: str = "frechet", resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                            ddof: int = 1, splits: int = 10) -> tuple[float, Interval, float]:
    """d(A, real) - d(B, real) with one shared resample: (estimate, Interval, p-value).

    Args:
        real: real features (n_r, D); real_video: the real video (0..R-1) of every row (both unused for
            "inception_score", which compares IS(A) - IS(B)).
        fake_a, fake_b: generated features (n_a, D), (n_b, D); fake_a_video, fake_b_video: the test id of
            every row as an index 0..V-1 in ONE order for both methods (video v of A and of B come from
            the same conditioning frame), so one resample of ids weights both alike.
        distance: "frechet" (FVD, VFID, FID, fvmd-flow), "kernel" (KVD) or "inception_score" (IS).

    At N <= dim both distances carry a large upward bias, and a resample (about 0.63 N distinct rows) a
    larger one; most of it cancels in the difference (the same N, the same real set, the same resample),
    and what is left, the resampled differences' shift from the estimate, is what BCa's z0 corrects.
    That is why methods are judged by the difference there, not by their own intervals.
    """
    av, bv = np.asarray(fake_a_video, np.int64), np.asarray(fake_b_video, np.int64)
    n_ids = bootstrap._n_videos(av)
    if bootstrap._n_videos(bv) != n_ids or set(av.tolist()) != set(bv.tolist()):
        raise ValueError(f"the two methods' generated videos must share their test ids: {n_ids} and "
                         f"{bootstrap._n_videos(bv)} ids; index both by the same id order")
    n_real = n_ids if distance == "inception_score" else bootstrap._n_videos(np.asarray(real_video))
    if min(n_ids, n_real) < 3:
        raise ValueError(f"a distribution difference needs at least 3 videos per set, got {n_ids} generated "
                         f"and {n_real} real")
    kw = dict(distance=distance, resamples=resamples, seed=seed, ddof=ddof, splits=splits)
    real_kw = {} if distance == "inception_score" else dict(real=real, real_video=real_video)
    return difference(distribution_replicates(fake_a, av, n_ids, **real_kw, **kw),
                      distribution_replicates(fake_b, bv, n_ids, **real_kw, **kw), resamples)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given; NaN stays NaN and is not counted)."""
    p = np.asarray(p_values, np.float64)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    out = np.full(len(p), np.nan)
    running = 0.0
    for rank, i in enumerate(finite[np.argsort(p[finite], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def compare_methods(scores: Sequence[Scored], higher_is_better: bool, resamples: int = DEFAULT_RESAMPLES,
                    seed: int = 0, alpha: float = ALPHA, statistic: str = "mean") -> list[Difference]:
    """Every pair of methods of one metric's table, with Holm's correction over the pairs.

    Each pair is compared on the test ids both have (the same resample of them for both). With statistic
    "closer-to-real" (diagnostics) lower is better whatever `higher_is_better` says.
    """
    if len({s.method for s in scores}) != len(scores):
        raise ValueError("each method may appear once in a comparison table")
    for s in scores[1:]:
        check_pairable(scores[0], s)
    lower_wins = statistic == "closer-to-real" or not higher_is_better
    out = []
    for a, b in itertools.combinations(scores, 2):
        ids = sorted(set(a.per_video) & set(b.per_video)
                     & (set(a.per_video_real) if statistic == "closer-to-real" else set(a.per_video)))
        if len(ids) < 3:
            raise ValueError(f"{a.method!r} and {b.method!r} share {len(ids)} test ids with values; a paired "
                             "comparison needs at least 3")
        real = np.array([a.per_video_real[i] for i in ids]) if statistic == "closer-to-real" else None
        est, iv, p = paired_difference(np.array([a.per_video[i] for i in ids]),
                                       np.array([b.per_video[i] for i in ids]), resamples, seed, real,
                                       statistic)
        out.append(Difference(a.metric, a.method, b.method, est, iv.low, iv.high, p, len(ids), resamples,
                              iv.method, iv.reason))
    return _with_holm(out, alpha, lower_wins)


@dataclass(frozen=True)
class Features:
    """One method's per-unit features of one distribution metric, with what makes two of them comparable.

    features: (n, D) one row per unit (clip, video or frame; IS: class probabilities); ids: the test id
    of every row. real: the key of the real set (fingerprint and the real features' content hash: equal
    only for the same real videos, protocol, extractor and clip seed); real_features / real_video: its
    features and the real video (0..R-1) of every row (None for IS). distance: "frechet", "kernel" or
    "inception_score"; ddof: the covariance's; splits and seed: IS's splits and shuffle seed.
    """

    method: str
    metric: str
    features: np.ndarray
    ids: np.ndarray
    real: str
    protocol: str
    extractor: str
    distance: str
    real_features: np.ndarray | None = None
    real_video: np.ndarray | None = None
    ddof: int = 1
    splits: int = 10
    seed: int = 0


    def nbytes(self) -> int:
        """Bytes of the float32 features kept (the real set's included)."""
        return 4 * (self.features.size + (0 if self.real_features is None else self.real_features.size))


def unit_features(protocol, real_x, fake_x, fake_src, seed: int, splits: int | None = None) -> Features:
    """What eval keeps of one network metric's row: the extractions its interval used, with the test id
    of every generated unit (method, real, extractor are filled in by `ffbench.feature_store`).

    real_x / fake_x: `features.Extraction`s (real_x None for IS); fake_src: the generated folder, whose
    file order numbers fake_x's videos; seed: the seed of those extractions; splits: the IS splits used.
    """
    index = np.asarray(fake_x.item_video, np.int64)
    if getattr(fake_src, "kind", "") == "videos":  # a folder: the file stems are the test ids
        names = [Path(f).stem for f in fake_src.files]
        ids = np.array([names[i] for i in index], dtype=str)
    else:  # decoded arrays (`ffbench.metrics.arrays.ArraySource`): numbered as the source names them
        ids = np.array([f"{i:06d}" for i in index], dtype=str)
    with_real = protocol.distance != "inception_score" and real_x is not None
    return Features(
        "", protocol.name, np.asarray(fake_x.features(protocol.output), np.float32), ids, "",
        protocol.to_json(), "", protocol.distance,
        np.asarray(real_x.features(protocol.output), np.float32) if with_real else None,
        real_x.video_index() if with_real else None, 0 if protocol.covariance == "biased" else 1,
        int(splits if splits is not None else protocol.splits), int(seed))


# Per table: FID's 2048-d frames of the demo's 16 x 16-frame videos, five methods, get about 230 resamples
# (about 35 s on one free core); cd-fvd's 2048 clips per method, and FID on a hundred long videos, do not
# fit and keep the interval rule, the title saying why.
PAIR_FLOP_BUDGET = 2.5e10
MIN_PAIR_RESAMPLES = 200  # fewer resamples leave BCa's 2.5% tails to a handful of values
COPY_COST = 50  # "flops" per Gram entry a resample selects and reweights (memory-bound, measured)


def _frechet_flops(n1: int, n2: int, dim: int) -> float:
    """Cost of one resampled Frechet distance, with about 0.632 n distinct rows per resample: the Gram
    route (`bootstrap.GramFrechet`: select and reweight the Gram blocks, SVD of the cross block) or the
    feature route (D x D covariances and their product's eigenvalues), whichever `_distance_fn` takes."""
    k1, k2 = 0.632 * n1, 0.632 * n2
    if max(n1, n2) <= bootstrap.GRAM_MAX_ROWS and min(n1, n2) < dim:
        return 4 * k1 * k2 * min(k1, k2) + COPY_COST * (k1 * k1 + k2 * k2 + k1 * k2)
    return (k1 + k2) * dim * dim + 18 * dim ** 3


def resamples_for(items: Sequence[Features], requested: int = DEFAULT_RESAMPLES) -> int:
    """`requested`, lowered so the table's distances fit PAIR_FLOP_BUDGET; 0 when even MIN_PAIR_RESAMPLES
    do not (FID on every frame of a hundred long videos: thousands of 2048-d rows per resample)."""
    if not items or items[0].distance == "kernel":
        return requested  # a fixed kernel matrix, reweighted: cheap
    f = items[0]
    n_ids = len(set(f.ids.tolist()))
    if f.distance == "inception_score":  # softmax rows, logs and means per split: about 20 per entry
        n_real, per_method = 0, 20.0 * f.features.size
    else:
        n_real = bootstrap._n_videos(np.asarray(f.real_video))
        per_method = _frechet_flops(len(f.features), len(f.real_features), f.features.shape[1])
    fits = int(PAIR_FLOP_BUDGET // (per_method * len(items))) - n_ids - n_real  # minus the jackknife's
    return min(requested, fits) if fits >= MIN_PAIR_RESAMPLES else 0


def _check_features(a: Features, b: Features) -> None:
    for name in ("metric", "real", "protocol", "extractor", "distance", "ddof", "splits", "seed"):
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            raise ValueError(f"cannot pair {a.method!r} and {b.method!r}: their {name} differs ({va!r} vs "
                             f"{vb!r}); only results of one metric, real set, protocol and extractor are "
                             "compared: score both with the same `ffbench eval` settings")


def compare_distributions(items: Sequence[Features], higher_is_better: bool,
                          resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                          alpha: float = ALPHA) -> list[Difference]:
    """Every pair of methods of one distribution metric's table, with Holm's correction over the pairs.

    Each pair is compared on the test ids both have, with one resample of those ids and of the real
    videos for both (`distribution_replicates`); a method's replicates are computed once per id set and
    shared by its pairs, so a table of M methods costs M sets of distances, not M(M-1).
    """
    if len({f.method for f in items}) != len(items):
        raise ValueError("each method may appear once in a comparison table")
    for f in items[1:]:
        _check_features(items[0], f)
    memo: dict[tuple[str, tuple[str, ...]], Replicates] = {}

    def replicates(f: Features, ids: tuple[str, ...]) -> Replicates:
        if (f.method, ids) not in memo:
            index = {v: i for i, v in enumerate(ids)}
            keep = np.array([v in index for v in f.ids.tolist()])
            video = np.array([index[v] for v in f.ids[keep].tolist()], np.int64)
            memo[f.method, ids] = distribution_replicates(
                f.features[keep], video, len(ids), f.real_features, f.real_video, f.distance, resamples,
                seed, f.ddof, f.splits)
        return memo[f.method, ids]

    out = []
    for a, b in itertools.combinations(items, 2):
        ids = tuple(sorted(set(a.ids.tolist()) & set(b.ids.tolist())))
        n_real = len(ids) if a.real_video is None else bootstrap._n_videos(np.asarray(a.real_video))
        if min(len(ids), n_real) < 3:
            raise ValueError(f"{a.method!r} and {b.method!r} share {len(ids)} test ids ({n_real} real "
                             "videos); a distribution difference needs at least 3 of each")
        est, iv, p = difference(replicates(a, ids), replicates(b, ids), resamples)
        out.append(Difference(a.metric, a.method, b.method, est, iv.low, iv.high, p, len(ids), resamples,
                              iv.method, iv.reason))
    return _with_holm(out, alpha, not higher_is_better)


def _with_holm(out: list[Difference], alpha: float, lower_wins: bool) -> list[Difference]:
    """The differences with their Holm-adjusted p-values and the better method of each pair."""
    final = []
    for d, ph in zip(out, holm([d.p_value for d in out]), strict=True):
        better = ""
        if math.isfinite(ph) and ph < alpha and d.estimate != 0:
            a_ahead = (d.estimate < 0) if lower_wins else (d.estimate > 0)
            better = d.a if a_ahead else d.b
        final.append(Difference(**{**d.__dict__, "p_holm": ph, "better": better}))
    return final


def load_per_video(path: str | Path, rows, metric: str, real: str | None = None) -> list[Scored]:
    """`Scored`s of one metric from an `ffbench eval --per-video` CSV and the leaderboard rows of its runs.

    The per-video file holds (method, metric, video, value, real_value); the leaderboard row of the same
    method and metric (the latest, a pandas DataFrame as `ffbench.leaderboard.read_leaderboard` returns)
    supplies the real set, protocol and extractor that decide what may be paired.
    """
    path = Path(path)
    per: dict[str, dict[str, float]] = {}
    per_real: dict[str, dict[str, float]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"method", "metric", "video", "value"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: not a --per-video file (columns {sorted(missing)} missing)")
        for r in reader:
            if r["metric"] != metric:
                continue
            per.setdefault(r["method"], {})[r["video"]] = float(r["value"])
            if r.get("real_value"):
                per_real.setdefault(r["method"], {})[r["video"]] = float(r["real_value"])
    if not per:
        raise ValueError(f"{path}: no per-video values of metric {metric!r}")
    out = []
    for method, values in per.items():
        mine = rows[(rows["method"] == method) & (rows["metric"] == metric)]
        if not len(mine):
            raise ValueError(f"no leaderboard row of method {method!r}, metric {metric!r}: the per-video "
                             "values cannot be matched to a real set, protocol and extractor")
        last = mine.iloc[-1]
        out.append(Scored(method, metric, values, real if real is not None else str(last["real"]),
                          str(last["protocol"]), str(last["extractor_sha256"]), per_real.get(method, {})))
    return out
