"""What `evaluate` returns: one `MetricResult` per metric, in a list that also says what was skipped."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ffbench.metrics.weights import RANDOM_LABEL

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

    @property
    def random_init(self) -> bool:
        return self.extractor_sha256.startswith(RANDOM_LABEL)

    @property
    def family(self) -> str:
        return getattr(self.protocol, "family", "distribution")


class ResultList(list):
    """A list of MetricResults plus `skipped` (metric -> reason) and the folder `report` (text or "")."""

    def __init__(self, results=(), skipped: dict[str, str] | None = None, report: str = "") -> None:
        super().__init__(results)
        self.skipped = dict(skipped or {})
        self.report = report
