"""The metrics of `ffbench eval` as functions of videos in memory: numpy arrays or torch tensors.

    >>> import numpy as np
    >>> from ffbench.metrics import fvd, psnr, motion
    >>> real = np.random.randint(0, 256, (8, 16, 64, 64, 3), np.uint8)  # (N, T, H, W, 3) uint8
    >>> fake = np.random.randint(0, 256, (8, 16, 64, 64, 3), np.uint8)
    >>> fvd(real, fake, extractor="i3d_pretrained_400.pt")       # a float, like pytorch-fid / cd-fvd
    >>> s = fvd(real, fake, extractor="random", return_result=True)  # a Score: value, interval, N, ...
    >>> s.value, (s.ci_low, s.ci_high), s.n_real, s.extractor_sha256, s.flags
    >>> psnr(real, fake)   # paired: real[i] against fake[i]

Inputs: a batch `(N, T, H, W, 3)` or a list of `(T, H, W, 3)` videos (of any lengths), numpy or torch,
uint8 in [0, 255] or floating point in [0, 1]; floats are rounded to uint8 (round(x * 255)), as a video
writer stores them, so a value equals `ffbench eval`'s on the same frames written losslessly (and on a
lossy file, `eval`'s value is the API's on the frames `ffbench.video.read_video` decodes from it). Channels
last, RGB. Videos are numbered by position: video i takes the clip start `clip_start(.., seed, i)` that
`eval` gives the i-th file in sorted order, and paired metrics compare real[i] with fake[i].

Returns: a float, or with `return_result=True` a frozen `Score` (value, bootstrap 95% interval, N real /
fake, the extractor's label and sha256 or `random-init`, flags such as N<=dim); `Score.result` is the full
`MetricResult` row that `eval` writes.

`extractor`: None (the canonical weight file, from the cache or downloaded), a weight file path,
"random" (a random-init network whose BatchNorm statistics are re-estimated on `real`, exactly as `eval`
does; labelled random-init, for tests and offline runs only), or an `Extractor` built once with
`build_extractor` (in a training loop). Protocols are those of `ffbench.metrics.protocols`; `protocol=`
replaces one (tests shrink the input size with `PROTOCOLS["fvd"].replace(size=(64, 64))`).

For streaming (update with batches, compute at the end) see `ffbench.metrics.streaming.VideoMetrics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ffbench.metrics.arrays import ArraySource, as_videos, common_shape
from ffbench.metrics.bootstrap import DEFAULT_RESAMPLES
from ffbench.metrics.options import EvalOptions
from ffbench.metrics.protocols import PROTOCOLS, Protocol
from ffbench.metrics.registry import get_metric
from ffbench.metrics.results import MetricResult

MIN_I3D_FRAMES = 9  # ffbench.metrics.i3d.MIN_FRAMES, without importing torch for the check


@dataclass(frozen=True)
class Score:
    """One metric's value on arrays, with what a result row must say about it.

    value: the metric; ci_low / ci_high: bootstrap 95% interval over videos (NaN with bootstrap=0);
    n_real / n_fake: units scored (clips, videos or frames); extractor / extractor_sha256: the network's
    label and weight hash, "random-init:..." for random extractors; flags: warnings such as
    "N<=dim (...)"; real_value / ratio: the real set's value and fake / real (diagnostics);
    per_video: the per-video values in input order (paired metrics, diagnostics).
    """

    metric: str
    value: float
    ci_low: float
    ci_high: float
    n_real: int
    n_fake: int
    extractor: str
    extractor_sha256: str
    flags: tuple[str, ...] = ()
    real_value: float = math.nan
    ratio: float = math.nan
    per_video: tuple[float, ...] = ()
    result: MetricResult | None = field(default=None, repr=False, compare=False)

    @property
    def random_init(self) -> bool:
        return self.extractor_sha256.startswith("random-init")

    def __float__(self) -> float:
        return self.value

    @classmethod
    def of(cls, r: MetricResult) -> Score:
        return cls(r.metric, r.value, r.ci_low, r.ci_high, r.n_real, r.n_fake, r.extractor,
                   r.extractor_sha256, tuple(r.flags), r.real_value, r.ratio, tuple(r.per_video.values()), r)


def _out(result: MetricResult, return_result: bool) -> float | Score:
    return Score.of(result) if return_result else result.value


def _is_extractor(x: Any) -> bool:
    from ffbench.metrics.weights import Extractor

    return isinstance(x, Extractor)


def check_extractor(extractor: Any, protocol: Protocol, arg: str = "extractor") -> None:
    """ValueError unless `extractor` is None, a path, "random" or an Extractor fit for `protocol`."""
    if extractor is None or isinstance(extractor, (str, Path)):
        return
    if not _is_extractor(extractor):
        raise ValueError(f"{arg}: expected None, a weight file path, 'random' or an Extractor from "
                         f"build_extractor, got {type(extractor).__name__}")
    if extractor.network != protocol.network:
        raise ValueError(f"{arg}: {protocol.name} needs an {protocol.network} extractor, got "
                         f"{extractor.label}; build one with build_extractor({protocol.name!r}, ...)")
    if protocol.weights == "imagenet" and extractor.weights != "imagenet":
        raise ValueError(f"{arg}: vfid needs the rgb_imagenet I3D (1024-d pool), got {extractor.label}")
    if protocol.weights == "k400" and extractor.weights == "imagenet":
        raise ValueError(f"{arg}: {protocol.name} needs the Kinetics-400 I3D, got {extractor.label}")


def _protocol(name: str, protocol: Protocol | None) -> Protocol:
    p = protocol if protocol is not None else PROTOCOLS[name]
    if not isinstance(p, Protocol) or p.name != name:
        raise ValueError(f"protocol: expected a Protocol named {name!r} (PROTOCOLS[{name!r}].replace(...)), "
                         f"got {p!r}")
    return p


def build_extractor(metric: str, weights: Any = None, real=None, *, protocol: Protocol | None = None,
                    recal_items: int = 64, batch_size: int = 8, device: str = "cpu",
                    weights_dir: str | Path | None = None):
    """The network of `metric` ("fvd", "kvd", "vfid", "fid", "is", ...), built once for many calls.

    weights: None (canonical file), a path, or "random"; a random network gets its BatchNorm statistics
    re-estimated on up to `recal_items` units of `real` (required then), as `ffbench eval` does.
    """
    from ffbench.metrics.distribution import _recalibrate, build_network

    p = _protocol(metric, protocol)
    if _is_extractor(weights):
        raise ValueError("weights: already an Extractor; pass it as extractor= directly")
    extractor = build_network(p, None if weights is None else str(weights), weights_dir)
    if extractor.random_init:
        if real is None:
            raise ValueError(f"real: a random {p.network} extractor re-estimates its BatchNorm statistics on "
                             "real videos; pass real=(N, T, H, W, 3) videos of the real set")
        videos = as_videos(real, "real", MIN_I3D_FRAMES if p.network == "i3d" else 1)
        _recalibrate(extractor, p, ArraySource(videos, "real"), batch_size, recal_items, device)
    return extractor


def _distribution(name: str, real, fake, extractor: Any, seed: int, protocol: Protocol | None,
                  batch_size: int, device: str, max_items: int | None, recal_items: int, bootstrap: int,
                  weights_dir: str | Path | None, progress: bool) -> MetricResult:
    from ffbench.metrics.distribution import evaluate_distribution

    p = _protocol(name, protocol)
    check_extractor(extractor, p)
    if bootstrap < 0:
        raise ValueError(f"bootstrap={bootstrap}: give 0 (no interval) or a number of resamples")
    min_frames = MIN_I3D_FRAMES if p.network == "i3d" else 1
    fake_v = as_videos(fake, "fake", min_frames)
    random_spec = isinstance(extractor, str) and extractor == "random"
    if real is None and (p.distance != "inception_score" or random_spec):
        why = "a random extractor re-estimates its BatchNorm statistics on them" if random_spec else \
            f"{name} compares the two sets"
        raise ValueError(f"real: missing; {why}: pass real=(N, T, H, W, 3) videos")
    real_v = as_videos(real, "real", min_frames) if real is not None else []
    weights = {get_metric(name).weights: str(extractor) if isinstance(extractor, Path) else extractor}
    options = EvalOptions(seeds=(seed,), batch_size=batch_size, device=device, weights_dir=weights_dir,
                          max_items=max_items, recal_items=recal_items, progress=progress,
                          bootstrap=bootstrap, **weights)
    return evaluate_distribution([p], ArraySource(real_v, "real"), ArraySource(fake_v, "fake"), options)[0]


def _doc(name: str) -> str:
    """The first docstring line of a metric's function: its registered help and direction."""
    spec = get_metric(name)
    direction = "closer to the real set's value is better" if spec.family == "diagnostic" else \
        "higher is better" if spec.higher_is_better else "lower is better"
    return f"{name}: {spec.help}; {direction}."


def metric_function(name: str):
    """The array function of a registered metric (a plugin's too), as `ffbench.metrics.<api_name>`."""
    spec = get_metric(name)
    if spec.runner == "network":
        return _distribution_function(name)
    if spec.runner == "paired" and not spec.weights:
        return _paired_function(name)
    if spec.runner in ("diagnostic", "flow-distance"):
        return _flow_function(name)
    raise ValueError(f"{name}: no array form (a paired metric with weights); score it with VideoMetrics")


def _distribution_function(name: str):
    def metric(real, fake, extractor: Any = None, *, seed: int = 0, protocol: Protocol | None = None,
               batch_size: int = 8, device: str = "cpu", max_items: int | None = None, recal_items: int = 64,
               bootstrap: int = DEFAULT_RESAMPLES, weights_dir: str | Path | None = None,
               progress: bool = False, return_result: bool = False) -> float | Score:
        return _out(_distribution(name, real, fake, extractor, seed, protocol, batch_size, device, max_items,
                                  recal_items, bootstrap, weights_dir, progress), return_result)

    metric.__name__ = metric.__qualname__ = get_metric(name).api_name
    metric.__doc__ = _doc(name) + """

    Args:
        real, fake: (N, T, H, W, 3) uint8 (or [0, 1] float) arrays/tensors, or lists of (T, H, W, 3).
        extractor: None (canonical weights), a weight file, "random" or an Extractor (`build_extractor`).
        seed: clip starts (clip protocols) and the bootstrap. protocol: a replacement of the protocol.
        max_items: cap on units per side; recal_items: real units for a random extractor's BatchNorm.
        bootstrap: resamples of the 95% interval (0: none). return_result: a Score instead of a float.
    """
    return metric


fvd = _distribution_function("fvd")
fvd_stylegan_v = _distribution_function("fvd-stylegan-v")
fvd_cdfvd = _distribution_function("fvd-cdfvd")
kvd = _distribution_function("kvd")
vfid = _distribution_function("vfid")
fid = _distribution_function("fid")


def is_(fake, extractor: Any = None, *, real=None, seed: int = 0, protocol: Protocol | None = None,
                    batch_size: int = 8, device: str = "cpu", max_items: int | None = None,
                    recal_items: int = 64, bootstrap: int = DEFAULT_RESAMPLES,
                    weights_dir: str | Path | None = None, progress: bool = False,
                    return_result: bool = False) -> float | Score:
    """IS of the generated frames (Inception softmax, 10 splits after a seeded shuffle); higher is better.

    Named `is_` after the metric "is" (a Python keyword; `ffbench.metrics.inception_score` is the module
    of the score's formula).

    `real` is needed only by extractor="random" (its BatchNorm statistics are re-estimated on it, as
    `eval` does). Other arguments as in `fvd`.
    """
    return _out(_distribution("is", real, fake, extractor, seed, protocol, batch_size, device, max_items,
                              recal_items, bootstrap, weights_dir, progress), return_result)


# --- paired metrics: real[i] against fake[i] ---------------------------------------------------------

def paired_videos(real, fake) -> tuple[list[np.ndarray], list[np.ndarray]]:
    real_v, fake_v = as_videos(real, "real"), as_videos(fake, "fake")
    if len(real_v) != len(fake_v):
        raise ValueError(f"fake: {len(fake_v)} videos but real has {len(real_v)}; paired metrics compare "
                         "fake[i] with real[i], so pass the same number of each, in the same order")
    return real_v, fake_v


def frame_selection(frames: str) -> slice:
    from ffbench.metrics.paired import parse_frames

    try:
        return parse_frames(frames)
    except ValueError as exc:
        raise ValueError(str(exc).replace("--paired-frames", "frames=")) from None


def paired_values(names: Sequence[str], real_v: list[np.ndarray], fake_v: list[np.ndarray], variant: str,
                  frames: slice, lpips_model=None) -> tuple[dict[str, list[float]], list[int], int]:
    """Per-video means {metric: [value per pair]}, frames compared per pair and PSNR-capped frames."""
    from ffbench.metrics.paired import PSNR_CAP, score_pair

    values: dict[str, list[float]] = {m: [] for m in names}
    compared, capped = [], 0
    for i, (f, r) in enumerate(zip(fake_v, real_v, strict=True)):
        try:
            per_frame = score_pair(f, r, list(names), variant, frames, lpips_model)
        except ValueError as exc:
            raise ValueError(f"fake[{i}] / real[{i}]: {exc}") from None
        for m, v in per_frame.items():
            values[m].append(float(v.mean()))
        compared.append(len(next(iter(per_frame.values()))))
        if "psnr" in per_frame:
            capped += int((per_frame["psnr"] >= PSNR_CAP).sum())
    return values, compared, capped


def _paired(name: str, real, fake, variant: str, frames: str, bootstrap: int, seed: int,
            lpips_model=None) -> MetricResult:
    from ffbench.metrics.paired import VARIANTS

    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r}: choose one of {', '.join(VARIANTS)}")
    sel = frame_selection(frames)
    real_v, fake_v = paired_videos(real, fake)
    values, compared, capped = paired_values([name], real_v, fake_v, variant, sel, lpips_model)
    return paired_result(name, values[name], compared, capped, variant, frames, lpips_model, bootstrap, seed)


def paired_result(name: str, per_video: list[float], compared: list[int], capped: int, variant: str,
                  frames: str, lpips_model, resamples: int, seed: int) -> MetricResult:
    """The row `eval` writes for a paired metric, from per-video values in input order."""
    from ffbench.metrics import paired

    return paired.paired_result(name, {f"{i:06d}": float(v) for i, v in enumerate(per_video)}, compared,
                                capped, variant, frames, lpips_model, resamples, seed)


def _paired_function(name: str):
    def metric(real, fake, *, variant: str = "correct", frames: str = "1:", seed: int = 0,
               bootstrap: int = DEFAULT_RESAMPLES, return_result: bool = False) -> float | Score:
        return _out(_paired(name, real, fake, variant, frames, bootstrap, seed), return_result)

    metric.__name__ = metric.__qualname__ = get_metric(name).api_name
    metric.__doc__ = _doc(name) + """

    Pairs fake[i] with real[i] (equal N); frame t with frame t for the frames `frames` selects (a slice of
    the generated frames, "1:" skips the conditioning frame); real frames are resized to the generated
    size. variant: "correct" or "disco" (the DisCo script's bugs, `ffbench.metrics.paired`). The value is
    the mean over videos of the per-video mean over frames.
    """
    return metric


psnr = _paired_function("psnr")
ssim = _paired_function("ssim")
l1 = _paired_function("l1")


def lpips(real, fake, *, vgg: str | Path | None = None, weights_dir: str | Path | None = None,
          variant: str = "correct", frames: str = "1:", seed: int = 0, bootstrap: int = DEFAULT_RESAMPLES,
          return_result: bool = False) -> float | Score:
    """LPIPS-VGG (lower is better). Needs torchvision's ImageNet VGG16 (`vgg16-397923af.pth`): `vgg=PATH`,
    torch's hub cache, ffbench's cache, or a download; offline without it, a WeightsError (a ValueError)
    says where to get it. Pairing as in `psnr`."""
    from ffbench.metrics.perceptual import load_lpips

    model = load_lpips(None if vgg is None else str(vgg), weights_dir)
    return _out(_paired("lpips", real, fake, variant, frames, bootstrap, seed, model), return_result)


# --- weight-free diagnostics and fvmd-flow -----------------------------------------------------------

def analyse(videos: list[np.ndarray], frames: int, size: tuple[int, int], first_index: int = 0) -> dict:
    """{name: VideoAnalysis} of each video cut to `frames` and resized to `size`, as `eval` analyses."""
    from ffbench.metrics.video_analysis import analyse_video, fit

    return {f"{first_index + i:06d}": analyse_video(fit(v, frames, size)) for i, v in enumerate(videos)}


def flow_result(name: str, fake_analyses: dict, real_analyses: dict, frames: int, size: tuple[int, int],
                resamples: int, seed: int) -> MetricResult:
    from ffbench.metrics.diagnostics import flow_result

    return flow_result(name, fake_analyses, real_analyses, frames, size, resamples, seed)


def _flow(name: str, real, fake, bootstrap: int, seed: int) -> MetricResult:
    fake_v = as_videos(fake, "fake", 2)
    real_v = as_videos(real, "real", 2)
    frames, size = common_shape(fake_v, "fake")
    return flow_result(name, analyse(fake_v, frames, size), analyse(real_v, frames, size), frames, size,
                       bootstrap, seed)


def _flow_function(name: str):
    def metric(real, fake, *, seed: int = 0, bootstrap: int = DEFAULT_RESAMPLES,
               return_result: bool = False) -> float | Score:
        return _out(_flow(name, real, fake, bootstrap, seed), return_result)

    metric.__name__ = metric.__qualname__ = get_metric(name).api_name
    metric.__doc__ = _doc(name) + """

    Weight-free (OpenCV Farneback flow, scikit-image colour). The generated videos must share length and
    size; real videos are cut to that length and resized to that size first, as `eval` does. The value is
    the generated set's; `Score.real_value` and `Score.ratio` (return_result=True) give the real set's and
    fake / real.
    """
    return metric


motion = _flow_function("motion")
colour_drift = _flow_function("colour-drift")
saturation_drift = _flow_function("saturation-drift")
detail_drift = _flow_function("detail-drift")
flicker = _flow_function("flicker")
fvmd_flow = _flow_function("fvmd-flow")
