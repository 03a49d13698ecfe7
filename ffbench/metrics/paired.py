"""Paired per-frame metrics: each generated `<id>.mp4` against the real test video with the same id.

Frame t of the generated video is compared with frame t of the real one, for the frames `frames` selects
(a Python slice of the generated frames, default "1:": frame 0 is the conditioning frame the model was
given). A video's value is the mean over its frames; the row reports the mean, the standard deviation and
a bootstrap interval over videos.

Two variants, named in every row:

`correct` (the default): the real frames are resized to the generated size (OpenCV, area when shrinking,
bilinear when enlarging); PSNR = 10 log10(255^2 / MSE) on float differences (scikit-image; identical
frames are capped at 100 dB); SSIM on RGB with the settings of Wang et al. 2004 (Gaussian window
sigma 1.5, population covariance; scikit-image); L1 = mean |difference| / 255; LPIPS-VGG with inputs in
[-1, 1].

`disco`: what DisCo's `tool/metrics/ssim_l1_lpips_psnr.py` computed in the version most UBC Fashion papers
copied (its first commit, June 2023; it was fixed in April 2024): the generated frame is resized to the
real size (`cv2.resize`, bilinear); PSNR from `np.mean((a - b) ** 2)` on uint8 arrays, where both the
difference and its square wrap around modulo 256 (so MSE <= 255 and PSNR >= 24 dB; 100 dB when that
"MSE" is 0); SSIM on grayscale with scikit-image's defaults (7x7 uniform window, sample covariance); L1
= mean |difference| (0-255) divided by H * W; LPIPS fed [0, 1] where it expects [-1, 1]. These numbers
can sit beside the published tables and nowhere else.
"""

from __future__ import annotations

import json
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ffbench.metrics.registry import get_metric, register_metric
from ffbench.metrics.results import (
    WEIGHT_FREE_LABEL,
    MetricResult,
    bootstrap_detail,
    build_result,
    frames_text,
)

if TYPE_CHECKING:  # the registry imports this module without torch
    from ffbench.distributed import DistInfo

PSNR_CAP = 100.0
VARIANTS = ("correct", "disco")
DESCRIPTIONS = {
    "correct": "real resized to the generated size; float maths; PSNR capped at 100 dB; SSIM on RGB "
               "(Gaussian sigma 1.5); L1 in [0, 1]; LPIPS-VGG inputs in [-1, 1]",
    "disco": "DisCo script (June 2023): generated resized to the real size; uint8 PSNR (wraps modulo "
             "256); SSIM on grayscale (7x7 uniform); L1 = mean |diff| / (H*W); LPIPS-VGG inputs in [0, 1]",
}


@dataclass(frozen=True)
class PairedProtocol:
    name: str  # psnr | ssim | l1 | lpips
    variant: str = "correct"  # correct | disco
    frames: str = "1:"  # slice of the generated frames that are compared

    family = "paired"

    def to_json(self) -> str:
        return json.dumps({"family": self.family, **asdict(self)}, sort_keys=True)

    def describe(self) -> str:
        return f"paired ({self.variant}), frames [{self.frames}]: {DESCRIPTIONS[self.variant]}"


def parse_frames(spec: str) -> slice:
    """'1:' / '0:' / '1:16' -> slice; raises ValueError naming --paired-frames."""
    parts = spec.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise ValueError(f"--paired-frames {spec!r}: give START:STOP like 1: (frames 1 to the end) or "
                         "0:16") from None
    if (start is not None and start < 0) or (stop is not None and stop <= (start or 0)):
        raise ValueError(f"--paired-frames {spec!r}: START must be >= 0 and STOP > START")
    return slice(start, stop)


def _resize(frames: np.ndarray, height: int, width: int, interpolation: int | None = None) -> np.ndarray:
    import cv2

    if frames.shape[1:3] == (height, width):
        return frames
    if interpolation is None:
        shrink = height * width < frames.shape[1] * frames.shape[2]
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (width, height), interpolation=interpolation) for f in frames])


def align(fake: np.ndarray, real: np.ndarray, variant: str, frames: slice) -> tuple[np.ndarray, np.ndarray]:
    """The compared frames of both videos at one size: uint8 (T, H, W, 3) each.

    Selects `frames` of the generated video and the same indices of the real one (as many as both have),
    then resizes as the variant does.
    """
    import cv2

    idx = np.arange(len(fake))[frames]
    idx = idx[idx < len(real)]
    if not len(idx):
        raise ValueError(f"no frames to compare: the generated video has {len(fake)} frames, the real one "
                         f"{len(real)}, selection {frames.start}:{frames.stop}")
    a, b = fake[idx], real[idx]
    if variant == "correct":
        b = _resize(b, *a.shape[1:3])
    else:  # DisCo resizes the generated image to the ground truth's size, bilinear (cv2's default)
        a = _resize(a, *b.shape[1:3], interpolation=cv2.INTER_LINEAR)
    return a, b


@register_metric("psnr", family="paired", higher_is_better=True,
                 help="PSNR (dB, capped at 100 for identical frames) of each frame against the real one's")
def psnr_frames(fake: np.ndarray, real: np.ndarray, variant: str) -> np.ndarray:
    """Per-frame PSNR (dB) of aligned uint8 frames (T, H, W, 3)."""
    if variant == "disco":
        out = []
        for a, b in zip(fake, real, strict=True):
            mse = np.mean((a - b) ** 2)  # uint8: the difference and the square wrap modulo 256
            out.append(PSNR_CAP if mse == 0 else 20 * np.log10(255.0 / np.sqrt(mse)))
        return np.array(out, dtype=np.float64)
    from skimage.metrics import peak_signal_noise_ratio

    with warnings.catch_warnings():  # identical frames: division by zero -> inf, capped below
        warnings.simplefilter("ignore", RuntimeWarning)
        values = [peak_signal_noise_ratio(b, a, data_range=255) for a, b in zip(fake, real, strict=True)]
    return np.minimum(np.array(values, dtype=np.float64), PSNR_CAP)


@register_metric("ssim", family="paired", higher_is_better=True,
                 help="SSIM on RGB (Gaussian window, sigma 1.5) of each frame against the real one's")
def ssim_frames(fake: np.ndarray, real: np.ndarray, variant: str) -> np.ndarray:
    """Per-frame SSIM of aligned uint8 frames (T, H, W, 3)."""
    import cv2
    from skimage.metrics import structural_similarity

    out = []
    for a, b in zip(fake, real, strict=True):
        if variant == "disco":
            ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
            out.append(structural_similarity(ga, gb))
        else:
            out.append(structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True,
                                             sigma=1.5, use_sample_covariance=False))
    return np.array(out, dtype=np.float64)


@register_metric("l1", family="paired", higher_is_better=False,
                 help="mean absolute difference in [0, 1] of each frame against the real one's")
def l1_frames(fake: np.ndarray, real: np.ndarray, variant: str) -> np.ndarray:
    """Per-frame L1 of aligned uint8 frames (T, H, W, 3)."""
    diff = np.abs(fake.astype(np.float64) - real.astype(np.float64)).mean(axis=(1, 2, 3))
    if variant == "disco":
        return diff / (fake.shape[1] * fake.shape[2])
    return diff / 255.0


def _lpips_frames(fake: np.ndarray, real: np.ndarray, variant: str, model) -> np.ndarray:
    from ffbench.metrics.perceptual import lpips_frames

    return lpips_frames(model, fake, real, variant)


register_metric("lpips", family="paired", higher_is_better=False, compute=_lpips_frames,
                weights="lpips_vgg",
                help="LPIPS-VGG distance of each frame to the real one's (needs torchvision's VGG16)")


def score_pair(fake: np.ndarray, real: np.ndarray, metrics: list[str], variant: str, frames: slice,
               lpips_model=None) -> dict[str, np.ndarray]:
    """Per-frame values of each paired metric for one video pair (uint8 (F, H, W, 3) each)."""
    if variant not in VARIANTS:
        raise ValueError(f"--paired-protocol must be one of {', '.join(VARIANTS)}, got {variant!r}")
    a, b = align(fake, real, variant, frames)
    out = {}
    for m in metrics:
        spec = get_metric(m)
        out[m] = spec.compute(a, b, variant, lpips_model) if spec.weights else spec.compute(a, b, variant)
    return out


def paired_result(name: str, per_video: dict[str, float], compared: list[int], capped: int, variant: str,
                  frames: str, lpips_model, resamples: int, seed: int,
                  flags: list[str] | None = None) -> MetricResult:
    """The row of one paired metric from its per-video values (`eval` and the Python API)."""
    from ffbench.metrics import bootstrap

    values = np.array(list(per_video.values()), dtype=np.float64)
    lo, hi = bootstrap.mean_interval(values, resamples, seed)
    lo_f, hi_f = min(compared), max(compared)
    flags = list(flags or [])
    if variant == "disco":
        flags.append("disco protocol: reproduces the DisCo script's bugs, comparable with published "
                     "tables only")
    if name == "psnr" and capped:
        flags.append(f"{capped} identical frame pairs: PSNR capped at 100 dB")
    detail: dict = {"bootstrap": bootstrap_detail(resamples, seed), "frames_compared": [lo_f, hi_f]}
    if get_metric(name).weights:
        extractor = (lpips_model.label, lpips_model.sha256)
        detail["lin_sha256"] = lpips_model.lin_sha256
    else:
        extractor = (f"{WEIGHT_FREE_LABEL}: scikit-image / OpenCV", f"{WEIGHT_FREE_LABEL}:paired")
    return build_result(name, PairedProtocol(name, variant, frames), float(values.mean()),
                        std=float(values.std()), seeds=[seed], n_real=len(values), n_fake=len(values),
                        frames=frames_text(lo_f, hi_f), extractor=extractor, interval=(lo, hi, resamples),
                        flags=flags, detail=detail, per_video=per_video)


def paired_scores(real_items: dict[str, Path | bytes], fake_items: dict[str, Path], ids: list[str],
                  metrics: list[str], variant: str, frames: str, lpips_model=None,
                  progress: bool = False,
                  dist: DistInfo | None = None) -> tuple[dict[str, dict[str, float]], dict]:
    """Per-video values {metric: {id: mean over frames}} for the ids both sides have, plus facts for the
    rows (frames compared per video, PSNR caps).

    Under torchrun (`dist`) each process scores its `share` of the sorted ids; every process then gets
    all of them, in the order of `ids` (a pair's values do not depend on the other pairs)."""
    from ffbench.distributed import gather_objects, share, together
    from ffbench.video import read_video

    sel = parse_frames(frames)
    mine = ids if dist is None or not dist.distributed else share(ids, dist)
    iterator = mine
    if progress:
        from ffbench.progress import progress_bar

        iterator = progress_bar(mine, desc="paired", unit="video", leave=False)
    done: dict[str, tuple[dict[str, float], int, int]] = {}  # id: (values, frames compared, PSNR caps)
    with together(dist) if dist is not None else nullcontext():  # a pair only this process reads fails:
        for vid in iterator:  # every process stops with its message
            fake, real = read_video(fake_items[vid]), read_video(real_items[vid])
            per_frame = score_pair(fake, real, metrics, variant, sel, lpips_model)
            capped = int((per_frame["psnr"] >= PSNR_CAP).sum()) if "psnr" in per_frame else 0
            done[vid] = ({m: float(values.mean()) for m, values in per_frame.items()},
                         len(next(iter(per_frame.values()))), capped)
    if dist is not None and dist.distributed:
        done = {vid: v for part in gather_objects(done, dist) for vid, v in part.items()}
    scores = {m: {vid: done[vid][0][m] for vid in ids} for m in metrics}
    info = {"frames_compared": [done[vid][1] for vid in ids], "psnr_capped": sum(done[vid][2] for vid in ids)}
    return scores, info
