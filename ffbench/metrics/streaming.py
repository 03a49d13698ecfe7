"""Streaming metrics, torchmetrics-style: `update` with batches of videos, `compute` at the end, `reset`.

    >>> from ffbench.metrics import VideoMetrics, build_extractor
    >>> i3d = build_extractor("fvd", "i3d_pretrained_400.pt")   # built once, outside the loop
    >>> metrics = VideoMetrics(["fvd", "kvd", "psnr", "motion"], extractor=i3d)
    >>> for real, fake in batches:                 # (B, T, H, W, 3) uint8 or [0, 1] float, numpy or torch
    ...     metrics.update(real=real, fake=fake)   # either side may come alone (not with paired metrics)
    >>> scores = metrics.compute()                 # {"fvd": Score, "kvd": Score, ...}
    >>> scores["fvd"].value, scores["fvd"].ci_low, scores["fvd"].ci_high
    >>> metrics.reset()                            # the next evaluation

State: per side the network features of every unit (float32 rows, as `ffbench eval` keeps them), the
weight-free analysis of every video, and the per-video paired values; `update` only adds to it, `compute`
only reads it. Video i of a side (counted over all updates) takes the clip start `eval` gives the i-th
file, so the values are `eval`'s on the same videos, whatever the batch split: exactly for the weight-free
metrics and for one update (the network then runs on eval's batches); otherwise up to the last float32
bit that a network's output may change with the batch it runs in (about 1e-7 on the features, 1e-6 on an
FVD of a few clips). Paired metrics pair real[i]
with fake[i] and need both sides in every update. The diagnostics analyse at the generated videos' length
and size (`analysis=(T, H, W)`, or the first generated batch's): real videos that come first need it.

Extractors: a weight file, None (the canonical file), or an `Extractor` from `build_extractor`. A random
extractor must have had its BatchNorm statistics re-estimated on the real set first
(`build_extractor("fvd", "random", real=videos)`): `eval` does that before any feature is taken, which a
stream cannot. fvd-stylegan-v and fvd-cdfvd choose their clips from the whole set's size, so they have no
streaming form; call `ffbench.metrics.fvd_stylegan_v(real, fake)` on the full arrays.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ffbench.metrics.arrays import ArraySource, as_videos, common_shape
from ffbench.metrics.bootstrap import DEFAULT_RESAMPLES
from ffbench.metrics.functional import (
    MIN_I3D_FRAMES,
    Score,
    analyse,
    check_extractor,
    flow_result,
    frame_selection,
    paired_result,
    paired_values,
)
from ffbench.metrics.protocols import PROTOCOLS, Protocol
from ffbench.metrics.registry import get_metric, metric_names

SIDES = ("real", "fake")


def _names(metrics: str | Sequence[str]) -> list[str]:
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    known = metric_names()
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise ValueError(f"metrics: unknown metric {bad[0] if bad else ''!r}; choose from {', '.join(known)}")
    streamed = [n for n in names if not get_metric(n).streamable]
    if streamed:
        function = get_metric(streamed[0]).api_name
        raise ValueError(f"metrics: {streamed[0]} picks its clips from the size of the whole set, so it has "
                         f"no streaming form; call ffbench.metrics.{function}(real, fake) on the full arrays")
    return [m for m in known if m in names]


class _Group:
    """Distribution metrics that share one network and one feature pass (fvd+kvd, fid+is)."""

    def __init__(self, members: list[Protocol], extractor: Any) -> None:
        self.members = members
        self.first = members[0]
        self.extractor = extractor
        self.outputs = tuple(sorted({p.output for p in members}))
        self.need_real = any(get_metric(p.name).needs_real for p in members)


class VideoMetrics:
    """Several metrics accumulated over batches of real and generated videos (see the module docstring).

    Args:
        metrics: names from `ffbench.metrics.protocols.METRICS` ("fvd,psnr" or a list).
        extractor: for the network metrics: a weight file, None (canonical file) or an Extractor; or give
            one per network with i3d= (fvd, kvd), i3d_vfid= (vfid), inception= (fid, is).
        seed: clip starts and bootstrap seed. protocols: replacements of named protocols.
        max_items: cap on units per side (default: the protocol's). bootstrap: interval resamples.
        variant, frames: the paired protocol ("correct" / "disco") and generated-frame slice ("1:").
        analysis: (T, H, W) the diagnostics analyse at; default: the first generated batch's.
        lpips_vgg: VGG16 file for lpips (default: torch's cache, ffbench's cache, or a download).
    """

    def __init__(self, metrics: str | Sequence[str], extractor: Any = None, *, i3d: Any = None,
                 i3d_vfid: Any = None, inception: Any = None, seed: int = 0, batch_size: int = 8,
                 device: str = "cpu", protocols: dict[str, Protocol] | None = None,
                 max_items: int | None = None, bootstrap: int = DEFAULT_RESAMPLES, variant: str = "correct",
                 frames: str = "1:", analysis: tuple[int, int, int] | None = None,
                 lpips_vgg: str | Path | None = None, weights_dir: str | Path | None = None) -> None:
        self.names = _names(metrics)  # the registry's names (`ffbench.metrics.registry`)
        if bootstrap < 0:
            raise ValueError(f"bootstrap={bootstrap}: give 0 (no interval) or a number of resamples")
        from ffbench.metrics.paired import VARIANTS

        if variant not in VARIANTS:
            raise ValueError(f"variant={variant!r}: choose one of {', '.join(VARIANTS)}")
        self.seed, self.batch_size, self.device, self.max_items = seed, batch_size, device, max_items
        self.bootstrap, self.variant, self.frames = bootstrap, variant, frames
        self._frame_slice = frame_selection(frames)
        if analysis is not None and (len(analysis) != 3 or min(analysis) < 1):
            raise ValueError(f"analysis={analysis!r}: give (T, H, W) of the generated videos")
        self._analysis = analysis
        table = {**PROTOCOLS, **(protocols or {})}
        specs = {"i3d": i3d, "i3d_vfid": i3d_vfid, "inception": inception}
        self._groups: list[_Group] = []
        grouped: dict[str, list[Protocol]] = {}
        runner = {n: get_metric(n).runner for n in self.names}
        for name in self.names:
            if runner[name] == "network":
                p = table[name]
                key = json.dumps([p.network, p.weights, p.feature_spec()], sort_keys=True)
                grouped.setdefault(key, []).append(p)
        for members in grouped.values():
            first = members[0]
            option = get_metric(first.name).weights
            spec = extractor if extractor is not None else specs[option]
            arg = "extractor" if extractor is not None else option
            self._groups.append(_Group(members, self._extractor(first, spec, arg, weights_dir)))
        self._flow = [n for n in self.names if runner[n] in ("diagnostic", "flow-distance")]
        self._paired = [n for n in self.names if runner[n] == "paired"]
        self._lpips = None
        if any(get_metric(n).weights for n in self._paired):
            from ffbench.metrics.perceptual import load_lpips

            self._lpips = load_lpips(None if lpips_vgg is None else str(lpips_vgg), weights_dir)
        self.reset()

    @staticmethod
    def _extractor(protocol: Protocol, spec: Any, arg: str, weights_dir: str | Path | None):
        from ffbench.metrics.distribution import build_network
        from ffbench.metrics.weights import Extractor

        if isinstance(spec, str) and spec == "random":
            raise ValueError(f"{arg}='random': a random extractor needs its BatchNorm statistics "
                             f"re-estimated on the real set before any feature is taken; build it once with "
                             f"build_extractor({protocol.name!r}, 'random', real=real_videos) and pass that")
        check_extractor(spec, protocol, arg)
        if isinstance(spec, Extractor):
            if spec.random_init and not spec.recalibrated:
                raise ValueError(f"{arg}: {spec.label} has default BatchNorm statistics; build it with "
                                 f"build_extractor({protocol.name!r}, 'random', real=real_videos)")
            return spec
        return build_network(protocol, None if spec is None else str(spec), weights_dir)

    def reset(self) -> None:
        """Forget every video seen (the extractors are kept)."""
        self._seen = dict.fromkeys(SIDES, 0)
        self._features: dict[tuple[int, str], list] = {(g, s): [] for g in range(len(self._groups))
                                                       for s in SIDES}
        self._analyses: dict[str, dict] = {s: {} for s in SIDES}
        self._shape = None if self._analysis is None else \
            (self._analysis[0], (self._analysis[1], self._analysis[2]))
        self._paired_values: dict[str, list[float]] = {m: [] for m in self._paired}
        self._compared: list[int] = []
        self._capped = 0

    def _min_frames(self) -> int:
        if any(g.first.network == "i3d" for g in self._groups):
            return MIN_I3D_FRAMES
        return 2 if self._flow else 1

    def update(self, real=None, fake=None) -> None:
        """Add a batch of real and/or generated videos: (B, T, H, W, 3) or a list of (T, H, W, 3)."""
        if real is None and fake is None:
            raise ValueError("update: pass real=, fake= or both")
        if self._paired and (real is None or fake is None):
            raise ValueError(f"update: {', '.join(self._paired)} pair real[i] with fake[i]; pass real= and "
                             "fake= together in every update")
        batch = {side: as_videos(x, side, self._min_frames()) for side, x in (("real", real), ("fake", fake))
                 if x is not None}
        if self._paired and len(batch["real"]) != len(batch["fake"]):
            raise ValueError(f"fake: {len(batch['fake'])} videos but real has {len(batch['real'])}; paired "
                             "metrics need the same number of each, in the same order")
        shape = self._shape
        if self._flow:
            if "fake" in batch:
                t, size = common_shape(batch["fake"], "fake")
                if shape is not None and (t, size) != shape:
                    raise ValueError(f"fake: {t} frames at {size[1]}x{size[0]}, but the diagnostics analyse "
                                     f"{shape[0]} frames at {shape[1][1]}x{shape[1][0]} (earlier batches or "
                                     "analysis=); every generated video must share length and size")
                shape = (t, size)
            elif shape is None:
                raise ValueError("update: the diagnostics analyse real videos at the generated length "
                                 "and size; pass a generated batch first or VideoMetrics(..., "
                                 "analysis=(T, H, W))")
        # Everything is checked: now the state grows.
        self._shape = shape
        for side, videos in batch.items():
            self._update_side(side, videos)
        if self._paired:
            values, compared, capped = paired_values(self._paired, batch["real"], batch["fake"], self.variant,
                                                     self._frame_slice, self._lpips)
            for m in self._paired:
                self._paired_values[m] += values[m]
            self._compared += compared
            self._capped += capped

    def _update_side(self, side: str, videos: list[np.ndarray]) -> None:
        from ffbench.metrics.features import extract

        start = self._seen[side]
        for g, group in enumerate(self._groups):
            limit = self.max_items if self.max_items is not None else group.first.max_items
            if (side == "real" and not group.need_real) or (limit is not None and start >= limit):
                continue
            source = ArraySource(videos, side, first_index=start)
            self._features[(g, side)].append(extract(
                source, group.first, group.extractor, group.outputs, seed=self.seed,
                batch_size=self.batch_size, max_items=limit, device=self.device, side=side))
        if self._flow:
            self._analyses[side].update(analyse(videos, *self._shape, first_index=start))
        self._seen[side] += len(videos)

    def compute(self) -> dict[str, Score]:
        """{metric: Score} over every video seen since the last reset; reads the state only."""
        out = {}
        for g, group in enumerate(self._groups):
            fake_x = _merge(self._features[(g, "fake")], group.outputs, "fake")
            real_x = _merge(self._features[(g, "real")], group.outputs, "real") if group.need_real else None
            for p in group.members:
                out[p.name] = Score.of(self._distribution_row(p, group, real_x, fake_x))
        if self._flow:
            for side in SIDES:
                if not self._analyses[side]:
                    raise ValueError(f"compute: no {side} videos seen; call update({side}=...) first")
            for name in self._flow:
                out[name] = Score.of(flow_result(name, self._analyses["fake"], self._analyses["real"],
                                                 *self._shape, self.bootstrap, self.seed))
        if self._paired:
            if not self._compared:
                raise ValueError("compute: no video pairs seen; call update(real=..., fake=...) first")
            for name in self._paired:
                out[name] = Score.of(paired_result(name, self._paired_values[name], self._compared,
                                                   self._capped, self.variant, self.frames, self._lpips,
                                                   self.bootstrap, self.seed))
        return {m: out[m] for m in self.names}

    def _distribution_row(self, p: Protocol, group: _Group, real_x, fake_x):
        """The row `evaluate_distribution` builds for one seed, from the accumulated features."""
        from ffbench.metrics.distribution import distribution_row

        spec = get_metric(p.name)
        value, detail = spec.compute(p, real_x, fake_x, self.seed)
        interval = spec.interval(p, real_x, fake_x, self.seed, self.bootstrap, detail.get("splits", p.splits))
        return distribution_row(p, group.extractor, real_x, fake_x, [value], [self.seed], detail, interval)


def _merge(parts: list, outputs: tuple[str, ...], side: str):
    """One `Extraction` from those of several updates (rows in stream order)."""
    from ffbench.metrics.features import Extraction
    from ffbench.metrics.stats import FeatureStats

    if not parts:
        raise ValueError(f"compute: no {side} videos seen; call update({side}=...) first")
    stats = {o: FeatureStats(parts[0].stats[o].dim, keep_features=True) for o in outputs}
    for x in parts:
        for o in outputs:
            stats[o].merge(x.stats[o])
    item_video = np.concatenate([x.item_video for x in parts])
    return Extraction(stats, sum(x.n_items for x in parts), len(np.unique(item_video)),
                      min(x.frames_min for x in parts), max(x.frames_max for x in parts), {}, item_video,
                      [s for x in parts for s in x.skipped])
