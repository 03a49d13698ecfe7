"""Weight-free video diagnostics: what a generated set does that its real set does not, with no network.

Each diagnostic is a number per video (the function registered with it, `registry`), reported for the
generated set (the row's value), for the real set (`real_value`) and as their ratio, each with a bootstrap
interval over videos. The real videos are cut to the generated length and resized to the generated size
first, so both sides are analysed on the same frames and pixels (`video_analysis`). Every row's `detail`
keeps the mean per-frame curves of both sides (`curves`: {"fake": [...], "real": [...]}, index t = frame t
or pair (t, t+1)), which the report plots.

- motion: mean flow magnitude, px per frame. Sees the range of motion: frozen or slowed (ratio < 1),
  faster (> 1).
- colour-drift: mean over t of CIEDE2000(mean Lab of the person box at t, at frame 0). Sees colours
  shifting over time (a change of hue or lightness of the region as a whole).
- saturation-drift: mean over t of the person box's mean chroma C* at t over that at frame 0. Sees
  colours fading (< 1) or growing more saturated (> 1); unlike colour-drift it sees a fade of a frame
  whose mean colour is near grey (many hues, or muted clothing), since every pixel's chroma drops.
- detail-drift: mean over t of the gradient energy at t over that at frame 0. Sees texture lost (blur)
  or noise added over time.
- flicker: mean over t of the flow-warped frame difference, 0-255. Sees changes the motion does not
  explain: brightness flicker, shuffled frames.

`fvmd-flow` (a distribution distance on motion histograms, `fvmd`) is computed from the same analysis.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ffbench.flow import flow_settings
from ffbench.metrics import bootstrap, fvmd
from ffbench.metrics.frechet import frechet_distance_weighted
from ffbench.metrics.registry import find_metric, get_metric, register_metric
from ffbench.metrics.results import WEIGHT_FREE_LABEL, MetricResult, bootstrap_detail, build_result
from ffbench.metrics.video_analysis import VideoAnalysis, analysis_settings, cached_analysis

if TYPE_CHECKING:  # the registry imports this module without torch
    from ffbench.distributed import DistInfo


def _diagnostic(name: str, curve: str, help: str):
    """Declare a per-video diagnostic (see `registry`): compute(VideoAnalysis) -> the video's value."""
    return register_metric(name, family="diagnostic", higher_is_better=False, help=help, curve=curve)


@_diagnostic("motion", "motion", "mean dense-flow magnitude between consecutive frames (px/frame): the range "
             "of motion")
def _motion(a: VideoAnalysis) -> float:
    return float(np.mean(a.motion))


@_diagnostic("colour-drift", "colour", "CIEDE2000 of the person box's mean colour at frame t vs frame 0, "
             "mean over t: colours shifting (hue or lightness of the region)")
def _colour_drift(a: VideoAnalysis) -> float:
    return float(np.mean(a.colour[1:]))


@_diagnostic("saturation-drift", "chroma", "mean CIELAB chroma of the person box at frame t over frame 0, "
             "mean over t: colours fading (<1) or saturating (>1)")
def _saturation_drift(a: VideoAnalysis) -> float:
    return float(np.mean(a.chroma[1:]))


@_diagnostic("detail-drift", "detail", "gradient energy of frame t over frame 0, mean over t: detail lost "
             "(<1) or noise added (>1)")
def _detail_drift(a: VideoAnalysis) -> float:
    return float(np.mean(a.detail[1:]))


@_diagnostic("flicker", "flicker", "|frame t+1 - frame t warped by the flow| over flow-consistent pixels "
             "(0-255): changes the motion does not explain")
def _flicker(a: VideoAnalysis) -> float:
    return float(np.nanmean(a.flicker)) if np.isfinite(a.flicker).any() else float("nan")


@dataclass(frozen=True)
class DiagnosticProtocol:
    name: str
    frames: int  # frames analysed per video (the generated length; real videos are cut to it)
    size: tuple[int, int]  # (H, W) analysed (the generated size; real videos are resized to it)

    family = "diagnostic"

    def to_json(self) -> str:
        flow = {k: v for k, v in flow_settings().items() if k != "opencv"}
        return json.dumps({"family": self.family, "name": self.name, "frames": self.frames,
                           "size": list(self.size), "flow": flow}, sort_keys=True)

    def describe(self) -> str:
        return (f"weight-free, first {self.frames} frames at {self.size[1]}x{self.size[0]} (real resized "
                f"to the generated size), OpenCV Farneback flow: {_help(self.name)}")


@dataclass(frozen=True)
class FvmdProtocol(DiagnosticProtocol):
    """fvmd-flow: computed from the same analysis, but a distribution distance (lower is better)."""

    family = "distribution"

    def describe(self) -> str:
        return (f"weight-free, first {self.frames} frames at {self.size[1]}x{self.size[0]}, FVMD histograms "
                f"({fvmd.GRID}x{fvmd.GRID} points tracked on Farneback flow, {fvmd.SEGMENT}-frame segments, "
                f"{fvmd.CELL}x{fvmd.CELL}-point cells x {fvmd.CUBE}-frame cubes x {fvmd.ANGLE_BINS} "
                f"orientations, velocity + acceleration = {fvmd.DIM}-d, mean per video), Frechet distance")


def _help(name: str) -> str:
    spec = find_metric(name)
    return spec.help if spec is not None else "(metric not registered)"


def extractor_label() -> tuple[str, str]:
    """(label, sha) of the weight-free "extractor": OpenCV's flow and scikit-image, no weights."""
    from ffbench.metrics.weights import recipe_hash  # here: declaring the diagnostics needs no torch

    settings = flow_settings()
    return (f"{WEIGHT_FREE_LABEL}: OpenCV {settings['opencv']} Farneback flow, scikit-image colour",
            f"{WEIGHT_FREE_LABEL}:{recipe_hash(**analysis_settings(0, (0, 0)))}")


def analyse_set(items: dict[str, Path | bytes], frames: int, size: tuple[int, int],
                cache_dir: str | Path | None, progress: bool = False,
                desc: str = "", info: DistInfo | None = None) -> dict[str, VideoAnalysis]:
    """{id: analysis} of every video, each cut to `frames` and resized to `size` (H, W), in the order of
    `items`.

    Under torchrun (`info`) each process analyses its `share` of the sorted ids (and writes their cache
    entries: one writer per file), then every process gets all of them: the analysis of a video does not
    depend on the others, so every array is the one-process array."""
    from ffbench.distributed import gather_objects, share, together

    mine = list(items) if info is None or not info.distributed else share(list(items), info)
    iterator = [(vid, items[vid]) for vid in mine]
    if progress:
        from ffbench.progress import progress_bar

        iterator = progress_bar(iterator, total=len(mine), desc=f"diagnostics {desc}", unit="video",
                                leave=False)
    with together(info) if info is not None else nullcontext():  # a video only this process reads fails:
        done = {vid: cached_analysis(src, frames, size, cache_dir) for vid, src in iterator}  # all stop
    if info is not None and info.distributed:
        done = {vid: a for part in gather_objects(done, info) for vid, a in part.items()}
    return {vid: done[vid] for vid in items}


def _mean_curve(curves: list[np.ndarray]) -> list[float]:
    length = max(len(c) for c in curves)
    stack = np.full((len(curves), length), np.nan)
    for i, c in enumerate(curves):
        stack[i, :len(c)] = c
    with np.errstate(all="ignore"):
        mean = np.nanmean(stack, axis=0)
    return [float(f"{v:.5g}") if np.isfinite(v) else None for v in mean]


def _finite(values: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in values.items() if np.isfinite(v)}


def diagnostic_result(name: str, fake: dict[str, VideoAnalysis], real: dict[str, VideoAnalysis],
                      frames: int, size: tuple[int, int], resamples: int, seed: int) -> MetricResult:
    """One diagnostic row: fake value, real value, ratio, their intervals and both curves."""
    spec = get_metric(name)
    fv = _finite({k: spec.compute(a) for k, a in fake.items()})
    rv = _finite({k: spec.compute(a) for k, a in real.items()})
    if not fv or not rv:
        raise ValueError(f"{name}: no video gave a finite value (fake {len(fv)}, real {len(rv)})")
    f_arr, r_arr = np.array(list(fv.values())), np.array(list(rv.values()))
    value, real_value = float(f_arr.mean()), float(r_arr.mean())
    ratio = value / real_value if real_value != 0 else float("nan")
    lo, hi = bootstrap.mean_interval(f_arr, resamples, seed)
    real_ci = bootstrap.mean_interval(r_arr, resamples, seed + 1)
    ratio_ci = bootstrap.ratio_interval(f_arr, r_arr, resamples, seed)
    field = spec.curve
    detail = {
        "real_ci": list(real_ci), "ratio_ci": list(ratio_ci), "real_std": float(r_arr.std()),
        "curves": {"fake": _mean_curve([getattr(a, field) for a in fake.values()]),
                   "real": _mean_curve([getattr(a, field) for a in real.values()])},
        "curve_index": "pair (t, t+1)" if field in ("motion", "flicker") else "frame t",
        "bootstrap": bootstrap_detail(resamples, seed),
        "sees": spec.help,
    }
    if name == "motion":
        for side, an in (("fake", fake), ("real", real)):
            detail[f"p95_{side}"] = float(np.mean([np.percentile(a.motion_p95, 95) for a in an.values()]))
            detail[f"moving_fraction_{side}"] = float(np.mean([a.moving.mean() for a in an.values()]))
    if name == "colour-drift":
        for side, an in (("fake", fake), ("real", real)):
            detail[f"whole_frame_{side}"] = float(np.mean([a.colour_frame[1:].mean() for a in an.values()]))
        detail["curves_whole_frame"] = {"fake": _mean_curve([a.colour_frame for a in fake.values()]),
                                        "real": _mean_curve([a.colour_frame for a in real.values()])}
    label, sha = extractor_label()
    flags = []
    if len(fv) < len(fake) or len(rv) < len(real):
        flags.append(f"{len(fake) - len(fv)} generated and {len(real) - len(rv)} real videos without a "
                     "finite value left out")
    short = sum(len(a.detail) < frames for a in real.values())
    if short:
        flags.append(f"{short} real videos shorter than {frames} frames: analysed as they are")
    return build_result(
        name, DiagnosticProtocol(name, frames, size), value, std=float(f_arr.std()), seeds=[seed],
        n_real=len(rv), n_fake=len(fv), n_real_videos=len(real), n_fake_videos=len(fake), frames=str(frames),
        extractor=(label, sha), interval=(lo, hi, resamples), flags=flags, detail=detail,
        real_value=real_value, ratio=ratio, per_video=fv, per_video_real=rv)


@register_metric("fvmd-flow", family="distribution", higher_is_better=False, runner="flow-distance",
                 help="Frechet distance of per-video velocity/acceleration orientation histograms (FVMD "
                      "recipe on Farneback flow, an adaptation): the kind of motion")
def fvmd_result(fake: dict[str, VideoAnalysis], real: dict[str, VideoAnalysis], frames: int,
                size: tuple[int, int], resamples: int, seed: int) -> MetricResult:
    """fvmd-flow: Frechet distance between the per-video motion vectors of both sets, with its interval."""
    from ffbench.metrics.comparison import Features
    from ffbench.metrics.distribution import distance_flags

    f = {k: a.fvmd for k, a in fake.items() if np.isfinite(a.fvmd).all()}
    r = {k: a.fvmd for k, a in real.items() if np.isfinite(a.fvmd).all()}
    if len(f) < 2 or len(r) < 2:
        raise ValueError(f"fvmd-flow needs at least 2 videos of {fvmd.SEGMENT}+ frames per side; got "
                         f"{len(f)} generated and {len(r)} real (generated videos have {frames} frames)")
    x, y = np.stack(list(f.values())), np.stack(list(r.values()))
    value = frechet_distance_weighted(x, np.ones(len(x)), y, np.ones(len(y)))
    interval = bootstrap.frechet_interval_checked(x, np.arange(len(x)), y, np.arange(len(y)), resamples, seed)
    label, sha = extractor_label()
    flags = ["adaptation: FVMD recipe on dense Farneback flow, not PIPs++ tracks"]
    flags += distance_flags("frechet", len(y), len(x), fvmd.DIM)
    dropped = (len(fake) - len(f), len(real) - len(r))
    if any(dropped):
        flags.append(f"{dropped[0]} generated and {dropped[1]} real videos shorter than {fvmd.SEGMENT} "
                     "frames left out")
    result = build_result(
        "fvmd-flow", FvmdProtocol("fvmd-flow", frames, size), value, seeds=[seed], n_real=len(r),
        n_fake=len(f), n_real_videos=len(real), n_fake_videos=len(fake), frames=str(frames),
        extractor=(label, sha), interval=interval, flags=flags,
        detail={"bootstrap": bootstrap_detail(interval.resamples, seed), "dim": fvmd.DIM,
                "sees": _help("fvmd-flow")})
    # one vector per video: what the leaderboard's paired difference resamples (`feature_store`)
    result.unit_features = Features("", "fvmd-flow", x.astype(np.float32), np.array(list(f), dtype=str), "",
                                    result.protocol.to_json(), "", "frechet", y.astype(np.float32),
                                    np.arange(len(y)), seed=seed)
    return result


def flow_result(name: str, fake: dict[str, VideoAnalysis], real: dict[str, VideoAnalysis], frames: int,
                size: tuple[int, int], resamples: int, seed: int) -> MetricResult:
    """The row of a flow-analysis metric (a diagnostic or a flow distance such as fvmd-flow)."""
    spec = get_metric(name)
    if spec.runner == "flow-distance":
        return spec.compute(fake, real, frames, size, resamples, seed)
    return diagnostic_result(name, fake, real, frames, size, resamples, seed)


def _registered(field: str) -> dict:
    """Views of this module's declarations, kept for older callers (bench scripts, tests)."""
    from ffbench.metrics import registry

    flow = [s for s in registry.specs() if s.runner in ("diagnostic", "flow-distance")]
    if field == "SEES":
        return {s.name: s.help for s in flow}
    return {s.name: s.compute if field == "PER_VIDEO" else s.curve for s in flow if s.runner == "diagnostic"}


def __getattr__(name: str):
    if name in ("SEES", "PER_VIDEO", "CURVES"):
        return _registered(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
