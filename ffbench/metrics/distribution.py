"""The metrics that compare feature distributions of pretrained (or random-init) networks.

fvd, fvd-stylegan-v, fvd-cdfvd, kvd, vfid, fid and is. Protocols that share a network and input settings
share one pass over the videos (fvd+kvd; fid+is). With several seeds, seeded parts change per seed
(clip starts, the IS shuffle) and the value is the mean over seeds with their standard deviation;
deterministic protocols (vfid, fid) are computed once and report std 0. The bootstrap interval
(`ffbench.metrics.bootstrap`) resamples the videos of the first seed's features.

Random extractors (`random`) are built with a fixed seed and get their BatchNorm statistics
re-estimated on the real set (seed-0 units, up to `recal_items`) before any features are taken.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ffbench.distributed import DistInfo
from ffbench.metrics.cache import cache_key, load_npz, save_npz_atomic
from ffbench.metrics.comparison import unit_features
from ffbench.metrics.features import Extraction, extract, iter_inputs
from ffbench.metrics.options import EvalOptions
from ffbench.metrics.protocols import Protocol, feature_dim
from ffbench.metrics.registry import get_metric
from ffbench.metrics.results import MetricResult, bootstrap_detail, build_result, frames_text, interval_parts
from ffbench.metrics.sources import VideoSourceDir
from ffbench.metrics.weights import (
    RANDOM_LABEL,
    Extractor,
    load_i3d,
    load_inception,
    recalibrate_batchnorm,
    recipe_hash,
)


def build_network(protocol: Protocol, spec, weights_dir: str | Path | None) -> Extractor:
    """The extractor of a network protocol from its option: a weight file, None, "random" or an Extractor
    built once by the caller (the Python API in a training loop)."""
    if isinstance(spec, Extractor):
        return spec
    if protocol.network == "inception":
        size = protocol.size[0] if protocol.size else 299
        return load_inception(spec, size=size, cache_dir=weights_dir)
    return load_i3d(spec, protocol.weights, bn_eps=protocol.bn_eps, cache_dir=weights_dir)


def _batchnorm_buffers(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items()
            if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def _recalibrate(extractor: Extractor, protocol: Protocol, real: VideoSourceDir, batch_size: int,
                 recal_items: int, device: str, cache_dir: str | Path | None = None,
                 info: DistInfo | None = None) -> None:
    """Re-estimate a random extractor's BatchNorm statistics on up to `recal_items` real units.

    The statistics depend only on the network, the real videos and the protocol's input settings, so
    they are cached beside the features: every eval against the same real set reuses them (re-estimating
    three networks on the real clips took about 90 s per eval on one core). Under torchrun (`info`) every
    process re-estimates on the same units (a running average over batches: split, its last bits would
    depend on the split) and the main process alone writes the cache file."""
    extractor.model.to(device)
    base = protocol.replace(sampling="ffbench", mirror=False)  # the same units whatever the variant
    sha = f"{RANDOM_LABEL}:" + recipe_hash(base=extractor.sha256, real=real.fingerprint(),
                                           spec=base.feature_spec(), items=recal_items)
    path = None if cache_dir is None else \
        Path(cache_dir) / f"batchnorm-{extractor.network}-{cache_key(sha=sha)[:24]}.npz"
    cached = load_npz(path) if path is not None else None
    buffers = _batchnorm_buffers(extractor.model)
    if cached is not None and set(cached) == set(buffers) | {"seen"}:
        extractor.model.load_state_dict({k: torch.from_numpy(v) for k, v in cached.items() if k != "seen"},
                                        strict=False)
        seen = int(cached["seen"])
    else:
        seen = 0

        def batches():
            nonlocal seen
            for batch in iter_inputs(real, base, 0, batch_size):
                yield batch.x.to(device)
                seen += len(batch.x)
                if seen >= recal_items:
                    return  # before the next batch is read: no video beyond the ones used is decoded

        recalibrate_batchnorm(extractor.model, batches())
        if path is not None and (info is None or info.is_main):
            arrays = {k: v.detach().cpu().numpy() for k, v in _batchnorm_buffers(extractor.model).items()}
            save_npz_atomic(path, arrays | {"seen": np.array(seen)})
    extractor.memo.clear()  # outputs remembered under the old statistics are stale
    extractor.recalibrated = True
    extractor.sha256 = sha
    extractor.label += f", BatchNorm re-estimated on {seen} real {protocol.unit}s"


def _seeded(protocol: Protocol) -> bool:
    """Whether the seed changes the value: clip starts (fvd, kvd) or the IS shuffle."""
    return protocol.unit == "clip" or protocol.distance == "inception_score"


def distance_flags(distance: str, n_real: int, n_fake: int, dim: int) -> list[str]:
    """The N <= dim warning of Frechet distances (biased upward about as 1/N, singular covariance)."""
    n_min = min(n_fake, n_real)
    if distance == "frechet" and n_min <= dim:
        return [f"N<=dim ({n_min}<={dim}): biased upward, covariance singular"]
    return []


def _flags(protocol: Protocol, result: MetricResult, fake: Extraction, real: Extraction | None,
           dim: int) -> list[str]:
    flags = []
    if result.random_init:
        flags.append(RANDOM_LABEL)
    n_real = result.n_real if protocol.distance != "inception_score" else result.n_fake
    flags += distance_flags(protocol.distance, n_real, result.n_fake, dim)
    if protocol.frames is not None and fake.frames_min < protocol.frames:
        flags.append(f"short videos: {fake.frames_min} frames used, protocol wants {protocol.frames}")
    for side, x in (("generated", fake), ("real", real)):
        if x is not None and x.skipped:
            flags.append(f"{len(x.skipped)} {side} videos shorter than {protocol.frames} frames dropped")
    splits = result.detail.get("splits", protocol.splits)
    if protocol.distance == "inception_score" and splits < protocol.splits:
        flags.append(f"only {splits} IS splits")
    return flags


def distribution_row(p: Protocol, extractor: Extractor, real_x: Extraction | None, fake_x: Extraction,
                     per_seed: list[float], seeds: list[int], detail: dict,
                     interval: Any) -> MetricResult:
    """The row of one network metric from its features (`eval` and the streaming API)."""
    scored_real = real_x is not None and get_metric(p.name).needs_real  # IS scores the fake set alone
    result = build_result(
        p.name, p, float(np.mean(per_seed)), std=float(np.std(per_seed)), per_seed=per_seed, seeds=seeds,
        n_real=real_x.n_items if scored_real else 0, n_fake=fake_x.n_items,
        n_real_videos=real_x.n_videos if scored_real else 0, n_fake_videos=fake_x.n_videos,
        frames=frames_text(fake_x.frames_min, fake_x.frames_max), unit=p.unit,
        extractor=(extractor.label, extractor.sha256), interval=interval,
        detail={**detail, "bootstrap": bootstrap_detail(interval_parts(interval)[2], seeds[0])})
    # the protocol's flags first, then the interval's (a missing interval says why)
    result.flags = _flags(p, result, fake_x, real_x if scored_real else None, feature_dim(p)) + result.flags
    return result


def evaluate_distribution(protocols: Sequence[Protocol], real_src: VideoSourceDir, fake_src: VideoSourceDir,
                          options: EvalOptions) -> list[MetricResult]:
    """One MetricResult per protocol, with a bootstrap interval of `options.bootstrap` resamples."""
    o = options
    groups: dict[str, list[Protocol]] = {}
    for p in protocols:
        groups.setdefault(json.dumps([p.network, p.weights, p.feature_spec()], sort_keys=True), []).append(p)
    results = []
    extractors: dict[str, Extractor] = {}  # fvd and its variants share one (re-estimated) network
    for members in groups.values():
        first = members[0]
        base = first.replace(sampling="ffbench", mirror=False)
        key = json.dumps([first.network, first.weights, base.feature_spec()], sort_keys=True)
        if key not in extractors:
            extractors[key] = build_network(first, o.weights_for(first), o.weights_dir)
            if extractors[key].random_init and not extractors[key].recalibrated:
                _recalibrate(extractors[key], first, real_src, o.batch_size, o.recal_items, o.device,
                             o.cache_dir, o.info)
        extractor = extractors[key]
        specs = {p.name: get_metric(p.name) for p in members}
        outputs = tuple(sorted({p.output for p in members}))
        need_real = any(s.needs_real for s in specs.values())
        run_seeds = list(o.seeds) if any(_seeded(p) for p in members) else [o.seeds[0]]
        per_seed: dict[str, list[float]] = {p.name: [] for p in members}
        details: dict[str, dict] = {p.name: {} for p in members}
        intervals: dict[str, tuple[float, float, int]] = {}
        real_x = fake_x = first_x = None
        for seed in run_seeds:
            if first.unit == "clip" or real_x is None:
                kwargs = dict(seed=seed, batch_size=o.batch_size, cache_dir=o.cache_dir,
                              max_items=o.max_items, device=o.device, progress=o.progress, info=o.info)
                real_x = extract(real_src, first, extractor, outputs, side="real", **kwargs) if need_real \
                    else None
                fake_x = extract(fake_src, first, extractor, outputs, side="fake", **kwargs)
                first_x = first_x or (real_x, fake_x)  # the units the intervals use
            for p in members:
                if per_seed[p.name] and not _seeded(p):
                    continue  # deterministic: one value whatever the seed
                value, detail = specs[p.name].compute(p, real_x, fake_x, seed)
                per_seed[p.name].append(value)
                details[p.name] = detail
                if p.name not in intervals:
                    splits = detail.get("splits", p.splits)
                    intervals[p.name] = specs[p.name].interval(p, real_x, fake_x, seed, o.bootstrap, splits)
        for p in members:
            results.append(distribution_row(p, extractor, real_x, fake_x, per_seed[p.name],
                                            list(run_seeds) if _seeded(p) else run_seeds[:1], details[p.name],
                                            intervals[p.name]))
            results[-1].unit_features = unit_features(p, first_x[0] if specs[p.name].needs_real else None,
                                                      first_x[1], fake_src, run_seeds[0],
                                                      details[p.name].get("splits"))
    return results
