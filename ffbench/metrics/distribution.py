"""Run the named metrics on a real and a fake video source; one `MetricResult` per metric.

Protocols that share a network and input settings share one pass over the videos (fvd+kvd; fid+is).
With several seeds, seeded parts change per seed (fvd/kvd clip starts, the IS shuffle) and the value
is the mean over seeds with their standard deviation; deterministic protocols (vfid, fid) are computed
once and report std 0.

Random extractors (`random`) are built with a fixed seed and get their BatchNorm statistics
re-estimated on the real set (seed-0 units, up to `recal_items`) before any features are taken.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ffbench.metrics.features import Extraction, extract, iter_inputs
from ffbench.metrics.frechet import frechet_distance
from ffbench.metrics.inception_score import inception_score
from ffbench.metrics.kernel import kernel_distance
from ffbench.metrics.protocols import METRICS, PROTOCOLS, Protocol, feature_dim
from ffbench.metrics.sources import VideoSourceDir, open_source
from ffbench.metrics.weights import (
    RANDOM_LABEL,
    Extractor,
    load_i3d,
    load_inception,
    recalibrate_batchnorm,
    recipe_hash,
)


@dataclass
class MetricResult:
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
    protocol: Protocol
    extractor: str
    extractor_sha256: str
    flags: list[str] = field(default_factory=list)
    detail: dict = field(default_factory=dict)

    @property
    def random_init(self) -> bool:
        return self.extractor_sha256.startswith(RANDOM_LABEL)


def parse_metrics(metric: str | Sequence[str]) -> list[str]:
    """'all', 'fvd', 'fvd,kvd' or a list -> validated metric names in canonical order."""
    names = metric.split(",") if isinstance(metric, str) else list(metric)
    names = [n.strip().lower() for n in names if n.strip()]
    if "all" in names:
        return list(METRICS)
    bad = [n for n in names if n not in PROTOCOLS]
    if bad or not names:
        raise ValueError(f"--metric {metric!r}: unknown metric {bad[0] if bad else ''!r}; "
                         f"choose from {', '.join(METRICS)} or all")
    return [m for m in METRICS if m in names]


def _build_extractor(protocol: Protocol, i3d: str | None, i3d_vfid: str | None, inception: str | None,
                     cache_dir: str | Path | None) -> Extractor:
    if protocol.network == "inception":
        size = protocol.size[0] if protocol.size else 299
        return load_inception(inception, size=size, cache_dir=cache_dir)
    spec = i3d if protocol.weights == "k400" else i3d_vfid
    return load_i3d(spec, protocol.weights, bn_eps=protocol.bn_eps, cache_dir=cache_dir)


def _recalibrate(extractor: Extractor, protocol: Protocol, real: VideoSourceDir, batch_size: int,
                 recal_items: int, device: str) -> None:
    """Re-estimate a random extractor's BatchNorm statistics on up to `recal_items` real units."""
    extractor.model.to(device)

    seen = 0

    def batches():
        nonlocal seen
        for batch, _, _ in iter_inputs(real, protocol, 0, batch_size):
            if seen >= recal_items:
                return
            yield batch.to(device)
            seen += len(batch)

    recalibrate_batchnorm(extractor.model, batches())
    extractor.recalibrated = True
    extractor.sha256 = f"{RANDOM_LABEL}:" + recipe_hash(base=extractor.sha256, real=real.fingerprint(),
                                                       spec=protocol.feature_spec(), items=recal_items)
    extractor.label += f", BatchNorm re-estimated on {seen} real {protocol.unit}s"


def _distance(protocol: Protocol, real: Extraction | None, fake: Extraction, output: str, seed: int) -> tuple:
    if protocol.distance == "frechet":
        mu1, s1 = real.stats[output].compute()
        mu2, s2 = fake.stats[output].compute()
        return frechet_distance(mu1, s1, mu2, s2), {}
    if protocol.distance == "kernel":
        return kernel_distance(real.stats[output].features, fake.stats[output].features), {}
    probs = fake.stats[output].features
    splits = min(protocol.splits, len(probs))
    mean, split_std = inception_score(probs, splits=splits, shuffle_seed=seed)
    return mean, {"split_std": split_std, "splits": splits}


def _seeded(protocol: Protocol) -> bool:
    """Whether the seed changes the value: clip starts (fvd, kvd) or the IS shuffle."""
    return protocol.unit == "clip" or protocol.distance == "inception_score"


def _flags(protocol: Protocol, result: MetricResult, fake: Extraction, dim: int) -> list[str]:
    flags = []
    if result.random_init:
        flags.append(RANDOM_LABEL)
    n_min = min(result.n_fake, result.n_real) if protocol.distance != "inception_score" else result.n_fake
    if protocol.distance == "frechet" and n_min <= dim:
        flags.append(f"N<=dim ({n_min}<={dim}): biased upward, covariance singular")
    if protocol.frames is not None and fake.frames_min < protocol.frames:
        flags.append(f"short videos: {fake.frames_min} frames used, protocol wants {protocol.frames}")
    splits = result.detail.get("splits", protocol.splits)
    if protocol.distance == "inception_score" and splits < protocol.splits:
        flags.append(f"only {splits} IS splits")
    return flags


def evaluate(metrics: str | Sequence[str], real: str | Path, fake: str | Path, seeds: Sequence[int] = (0,),
             i3d: str | None = None, i3d_vfid: str | None = None, inception: str | None = None,
             batch_size: int = 8, device: str = "cpu", cache_dir: str | Path | None = None,
             weights_dir: str | Path | None = None, protocols: dict[str, Protocol] | None = None,
             max_items: int | None = None, recal_items: int = 64,
             progress: bool = False) -> list[MetricResult]:
    """Score the videos in `fake` against those in `real` with each metric.

    Args:
        metrics: names (fvd, kvd, vfid, fid, is) or "all".
        real, fake: folders of mp4/gif files, or (real) of WebDataset shards with an `mp4` key.
        seeds: clip-start / IS-shuffle seeds; value = mean over seeds, std = their standard deviation.
        i3d, i3d_vfid, inception: weight files, None to use/download the canonical files, or "random".
        protocols: replacements for the named protocols (tests shrink the input size).
        max_items: cap on units per side (default: the protocol's own cap).
        recal_items: real units used to re-estimate BatchNorm statistics of random extractors.
    """
    names = parse_metrics(metrics)
    if not seeds:
        raise ValueError("seeds must hold at least one seed, e.g. --seeds 0")
    table = {**PROTOCOLS, **(protocols or {})}
    real_src, fake_src = open_source(real, "--real"), open_source(fake, "--fake")
    # One extractor and one pass per group of protocols with the same network and inputs.
    groups: dict[str, list[Protocol]] = {}
    for name in names:
        p = table[name]
        groups.setdefault(json.dumps([p.network, p.weights, p.feature_spec()], sort_keys=True), []).append(p)
    results = []
    for members in groups.values():
        first = members[0]
        extractor = _build_extractor(first, i3d, i3d_vfid, inception, weights_dir)
        if extractor.random_init:
            _recalibrate(extractor, first, real_src, batch_size, recal_items, device)
        outputs = tuple(sorted({p.output for p in members}))
        need_real = any(p.distance != "inception_score" for p in members)
        run_seeds = list(seeds) if any(_seeded(p) for p in members) else [seeds[0]]
        per_seed: dict[str, list[float]] = {p.name: [] for p in members}
        details: dict[str, dict] = {p.name: {} for p in members}
        real_x = fake_x = None
        for seed in run_seeds:
            if first.unit == "clip" or real_x is None:
                kwargs = dict(seed=seed, batch_size=batch_size, cache_dir=cache_dir, max_items=max_items,
                              device=device, progress=progress)
                real_x = extract(real_src, first, extractor, outputs, **kwargs) if need_real else None
                fake_x = extract(fake_src, first, extractor, outputs, **kwargs)
            for p in members:
                if per_seed[p.name] and not _seeded(p):
                    continue  # deterministic: one value whatever the seed
                value, detail = _distance(p, real_x, fake_x, p.output, seed)
                per_seed[p.name].append(value)
                details[p.name] = detail
        for p in members:
            values = per_seed[p.name]
            scored_real = p.distance != "inception_score"  # IS scores the fake set alone
            frames = f"{fake_x.frames_min}" if fake_x.frames_min == fake_x.frames_max else \
                f"{fake_x.frames_min}-{fake_x.frames_max}"
            result = MetricResult(
                metric=p.name, value=float(np.mean(values)), std=float(np.std(values)), per_seed=values,
                seeds=list(run_seeds) if _seeded(p) else run_seeds[:1],
                n_real=real_x.n_items if real_x and scored_real else 0,
                n_fake=fake_x.n_items, n_real_videos=real_x.n_videos if real_x and scored_real else 0,
                n_fake_videos=fake_x.n_videos, frames=frames,
                unit=p.unit, protocol=p, extractor=extractor.label, extractor_sha256=extractor.sha256,
                detail=details[p.name])
            result.flags = _flags(p, result, fake_x, feature_dim(p))
            results.append(result)
    order = {m: i for i, m in enumerate(METRICS)}
    return sorted(results, key=lambda r: order[r.metric])
