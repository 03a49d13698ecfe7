"""Which clips FVD sees, and how they are resized, in StyleGAN-V's and cd-fvd's code.

The features (I3D), the cache and the Frechet distance are ffbench's own; only the sampling differs, and
with it the number: the FashionFlow paper scored with StyleGAN-V's code, most later video papers with
cd-fvd. Facts read from the two projects (not copied):

StyleGAN-V (`src/scripts/calc_metrics_for_dataset.py`, `src/metrics/frechet_video_distance.py`,
`src/training/dataset.py`), metric `fvd2048_16f`:
- real: each video gives one 16-frame clip at a random offset, uniform over every possible start;
  with `--mirror 1` (its README's command) the dataset is doubled: every video again, flipped
  left-right, with its own random offset, listed after all the originals;
- generated (a folder, `generator_as_dataset`): frames 0-15 of each video, never mirrored;
- N = min(items, 2048) per side, the first items in order; videos shorter than 16 frames are dropped;
- its TorchScript detector rescales to [-1, 1] and resizes to 224x224 itself; ffbench stretches the
  frames to 224x224 (bilinear) before its I3D;
- mean and covariance as in StyleGAN2-ADA's FeatureStats: the covariance divides by N.

cd-fvd (`cdfvd/fvd.py`, `utils/data_utils.py`, `third_party/i3d/utils.py`), `cd_fvd('i3d')` on video
folders:
- real: `n_real='full'`: one pass, one random 16-frame clip per video (uniform start);
- generated: `n_fake=2048`: the (shuffled) folder is read again and again, a new random clip each time,
  until 2048 clips: with 100 videos each one contributes 20 or 21 clips;
- each clip: short side resized to 256 (bilinear, antialiased), centre crop 256x256, scaled by 255 and
  truncated to uint8, then stretched to 224x224 (bilinear, no antialiasing) and mapped to [-1, 1];
- covariance divided by N.

Random draws come from ffbench's seeded generator (seed, video, pass), not from Python's global `random`
state the two projects use: the same distribution of clips, not the same draws. Two generated clips of
one video that start at the same frame give the same features, so each distinct (video, start) is run
through I3D once and counted as often as it was drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ffbench.metrics.protocols import Protocol

CDFVD_RESOLUTION = 256


@dataclass(frozen=True)
class Unit:
    """One clip to run through I3D: frames start..start+length-1 of a video, maybe mirrored, `count`
    times in the set."""

    start: int
    mirrored: bool = False
    count: int = 1
    order: int = 0  # position in the reference code's item order (StyleGAN-V keeps the first N)


def _start(num_frames: int, length: int, *key: int) -> int:
    return int(np.random.default_rng(list(key)).integers(0, num_frames - length + 1))


def stylegan_v_units(num_frames: int, length: int, index: int, n_videos: int, side: str, seed: int,
                     mirror: bool, cap: int) -> list[Unit]:
    """The clips of video `index` under StyleGAN-V's sampling (see the module docstring)."""
    if side == "fake":
        return [Unit(0, order=index)] if index < cap else []
    units = [Unit(_start(num_frames, length, seed, index), order=index)] if index < cap else []
    if mirror and n_videos + index < cap:
        units.append(Unit(_start(num_frames, length, seed, index, 1), mirrored=True, order=n_videos + index))
    return units


def cdfvd_fake_counts(n_videos: int, total: int, seed: int) -> list[list[int]]:
    """For each generated video, the passes in which cd-fvd's loop draws it, until `total` clips.

    Every pass visits all videos in a fresh random order; the last pass stops at `total`.
    """
    passes: list[list[int]] = [[] for _ in range(n_videos)]
    drawn, p = 0, 0
    while drawn < total:
        order = np.random.default_rng([seed, 7, p]).permutation(n_videos)
        for v in order[: total - drawn]:
            passes[int(v)].append(p)
        drawn += min(n_videos, total - drawn)
        p += 1
    return passes


def cdfvd_units(num_frames: int, length: int, index: int, side: str, seed: int,
                fake_passes: list[list[int]] | None) -> list[Unit]:
    """The clips of video `index` under cd-fvd's sampling; equal starts merged into one counted unit."""
    if side == "real":
        return [Unit(_start(num_frames, length, seed, index), order=index)]
    counts: dict[int, int] = {}
    for p in fake_passes[index]:
        s = _start(num_frames, length, seed, index, p)
        counts[s] = counts.get(s, 0) + 1
    return [Unit(s, count=c, order=index) for s, c in sorted(counts.items())]


def cdfvd_resize(frames: np.ndarray, resolution: int = CDFVD_RESOLUTION) -> np.ndarray:
    """uint8 (F, H, W, 3) -> uint8 (F, r, r, 3): short side to r (bilinear, antialiased), centre crop,
    then x255 truncated to uint8, as cd-fvd's video loader and its `.byte()` conversion do."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    h, w = x.shape[2:]
    scale = resolution / min(h, w)
    size = (resolution, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), resolution)
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    top, left = (x.shape[2] - resolution) // 2, (x.shape[3] - resolution) // 2
    x = x[:, :, top:top + resolution, left:left + resolution]
    return (x * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()  # .to(uint8) truncates, like .byte()


def units_for(protocol: Protocol, side: str, num_frames: int, index: int, n_videos: int, seed: int,
              fake_passes: list[list[int]] | None = None) -> list[Unit]:
    """Dispatch on `protocol.sampling` (stylegan-v or cdfvd)."""
    length = protocol.frames
    if protocol.sampling == "stylegan-v":
        return stylegan_v_units(num_frames, length, index, n_videos, side, seed, protocol.mirror,
                                protocol.max_items or n_videos * 2)
    if protocol.sampling == "cdfvd":
        return cdfvd_units(num_frames, length, index, side, seed, fake_passes)
    raise ValueError(f"unknown FVD sampling {protocol.sampling!r}")


def unit_clip(frames: np.ndarray, unit: Unit, length: int) -> np.ndarray:
    """The uint8 clip (length, H, W, 3) of `unit` from the decoded frames of its video."""
    clip = frames[unit.start:unit.start + length]
    return np.ascontiguousarray(clip[:, :, ::-1]) if unit.mirrored else clip


def iter_units(frames: np.ndarray, units: list[Unit],
               protocol: Protocol) -> Iterator[tuple[np.ndarray, Unit]]:
    """(clip, unit) for every unit, cd-fvd clips already resized to 256x256 uint8."""
    for unit in units:
        clip = unit_clip(frames, unit, protocol.frames)
        yield (cdfvd_resize(clip) if protocol.sampling == "cdfvd" else clip), unit
