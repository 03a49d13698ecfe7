"""What `evaluate` returns: one `MetricResult` per metric, in a list that also says what was skipped."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

WEIGHT_FREE_LABEL = "weight-free"


@dataclass
class MetricResult:
    """One metric on one (real, fake) pair of sets.

    value: the metric (distribution metrics: the distance; paired metrics: the mean over videos of the
    per-video mean over frames; diagnostics: the mean over the fake videos). std: over seeds for
    distribution metrics, over videos for paired metrics and diagnostics. ci_low / ci_high: the bootstrap
    95% interval over videos (`n_boot` resamples). Diagnostics also carry the real set's value and the
    ratio fake / real. `per_video` maps video id to its value (fake side), `per_video_real` likewise.
    """

    metric: str
    value: float
    std: float
    per_seed: list[float]
    seeds: list[int]
    n_real: int  # units (clips / videos / frames) of the real set; 0 for IS (fake only)
    n_fake: int
    n_real_videos: int
    n_fake_videos: int
    frames: str  # frames per unit actually used on the fake side, "16" or "12-16"
    unit: str
    protocol: Any  # a Protocol, PairedProtocol or DiagnosticProtocol: .name, .family, .to_json()
    extractor: str
    extractor_sha256: str
    flags: list[str] = field(default_factory=list)
    detail: dict = field(default_factory=dict)
    ci_low: float = math.nan
    ci_high: float = math.nan
    n_boot: int = 0
    real_value: float = math.nan
    ratio: float = math.nan
    per_video: dict[str, float] = field(default_factory=dict)
    per_video_real: dict[str, float] = field(default_factory=dict)
    # distribution metrics: the per-unit features the paired difference needs (`feature_store`)
    unit_features: Any = field(default=None, repr=False, compare=False)

    @property
    def random_init(self) -> bool:
        from ffbench.metrics.weights import RANDOM_LABEL  # here: the registry imports this module, not torch

        return self.extractor_sha256.startswith(RANDOM_LABEL)

    @property
    def family(self) -> str:
        return getattr(self.protocol, "family", "distribution")


def frames_text(low: int, high: int) -> str:
    """The `frames` column: "16", or "12-16" when the units differ in length."""
    return str(low) if low == high else f"{low}-{high}"


def bootstrap_detail(resamples: int, seed: int) -> dict:
    """The `detail["bootstrap"]` entry every row carries: how its interval was drawn."""
    return {"resamples": resamples, "over": "videos", "seed": seed}


def interval_parts(interval: Any) -> tuple[float, float, int]:
    """(low, high, resamples) of a `bootstrap.Interval` or of a (low, high, resamples) tuple."""
    if isinstance(interval, tuple):
        return interval
    return interval.low, interval.high, interval.resamples


def build_result(metric: str, protocol: Any, value: float, *, n_real: int, n_fake: int, frames: str,
                 extractor: tuple[str, str], interval: Any, seeds: list[int],
                 unit: str = "video", std: float = 0.0, per_seed: list[float] | None = None,
                 n_real_videos: int | None = None, n_fake_videos: int | None = None,
                 flags: list[str] | None = None, detail: dict | None = None, real_value: float = math.nan,
                 ratio: float = math.nan, per_video: dict[str, float] | None = None,
                 per_video_real: dict[str, float] | None = None) -> MetricResult:
    """The one way a MetricResult is made (every family, `eval` and the Python API).

    extractor: (label, sha256). interval: a `bootstrap.Interval` (its method goes into
    detail["bootstrap"], and when there is none its reason into the flags) or (low, high, resamples used).
    per_seed defaults to [value]; the video counts default to the unit counts (one unit per video).
    """
    lo, hi, used = interval_parts(interval)
    flags, detail = list(flags or []), dict(detail or {})
    if not isinstance(interval, tuple):
        if "bootstrap" in detail:
            detail["bootstrap"] = {**detail["bootstrap"], "method": interval.method}
        if interval.corrected is not None:
            detail["bias_corrected"] = [float(v) for v in interval.corrected]
        if interval.reason:
            flags.append(f"no interval: {interval.reason}")
    return MetricResult(
        metric=metric, value=float(value), std=float(std),
        per_seed=[float(value)] if per_seed is None else [float(v) for v in per_seed], seeds=list(seeds),
        n_real=n_real, n_fake=n_fake, n_real_videos=n_real if n_real_videos is None else n_real_videos,
        n_fake_videos=n_fake if n_fake_videos is None else n_fake_videos, frames=frames, unit=unit,
        protocol=protocol, extractor=extractor[0], extractor_sha256=extractor[1], flags=flags,
        detail=detail, ci_low=lo, ci_high=hi, n_boot=used, real_value=real_value, ratio=ratio,
        per_video=dict(per_video or {}), per_video_real=dict(per_video_real or {}))


class ResultList(list):
    """A list of MetricResults plus `skipped` (metric -> reason) and the folder `report` (text or "")."""

    def __init__(self, results=(), skipped: dict[str, str] | None = None, report: str = "") -> None:
        super().__init__(results)
        self.skipped = dict(skipped or {})
        self.report = report
