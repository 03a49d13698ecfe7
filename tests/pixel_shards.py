"""Small prepared-data folders for the pixel-space baselines' tests: videos of a coloured disc moving over a
gradient, at the cpu preset's 128x96, written with the datasets package's own sample and shard writers.
The cached features come from toy encoders (pixel models never read them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ffbench.datasets.clips import area_downsample
from ffbench.datasets.features import FeatureEncoders, build_sample
from ffbench.datasets.manifest import MANIFEST_VERSION
from ffbench.datasets.shards import pack_shards, write_sample_file
from ffbench.fileio import write_json_atomic
from ffbench.presets import get_preset

PRESET = get_preset("cpu")
IDENT = {"vae": {"fingerprint": "toy-vae", "kind": "toy"}, "clip": {"fingerprint": "toy-clip", "kind": "toy"}}


def disc_frames(seed: int, n: int) -> np.ndarray:
    """A coloured disc moving across a gradient background: uint8 (n, 128, 96, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: PRESET.height, : PRESET.width]
    colour, start, vel = rng.uniform(60, 255, 3), rng.uniform(30, 60, 2), rng.uniform(-2, 2, 2)
    background = np.stack([yy, xx, yy + xx], axis=-1) * 0.5
    out = np.empty((n, PRESET.height, PRESET.width, 3), np.uint8)
    for t in range(n):
        cy, cx = start + vel * t
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < 18**2)[..., None]
        out[t] = np.where(disc, colour, background).clip(0, 255).astype(np.uint8)
    return out


def _latents(frames: np.ndarray) -> np.ndarray:
    low = area_downsample(frames, PRESET.vae_downsample).astype(np.float32) / 127.5 - 1.0
    return np.concatenate([low, low.mean(axis=1, keepdims=True)], axis=1)  # (N, 4, h, w)


def _tokens(frames: np.ndarray) -> np.ndarray:
    level = frames.reshape(len(frames), -1).mean(axis=1) / 255.0
    return np.repeat(level[:, None, None], PRESET.clip_tokens, axis=1).repeat(PRESET.clip_dim, axis=2)


def write_data(root: Path, videos: dict[str, int], frames: int = 18) -> Path:
    """`root/shards/<split>/` for each split in `videos` (split -> number of videos), cpu preset geometry;
    returns `root`."""
    encoders = FeatureEncoders(_latents, _tokens, IDENT)
    for s, (split, count) in enumerate(videos.items()):
        files = []
        for i in range(count):
            sample = build_sample(f"{split}{i}", disc_frames(100 * s + i, frames), split=split, url="",
                                  native={}, height=PRESET.height, width=PRESET.width,
                                  downsample=PRESET.vae_downsample, resize="stretch", fps=PRESET.fps,
                                  clip_all_frames=False, encoders=encoders)
            files.append(root / "work" / f"{split}{i}.tar")
            write_sample_file(files[-1], sample)
        out = root / "shards" / split
        shards = pack_shards(files, out, 10**12, max_samples=2)
        write_json_atomic(out / "manifest.json", {
            "version": MANIFEST_VERSION, "split": split, "preset": PRESET.to_dict(), "encoders": IDENT,
            "shards": [sh.to_dict() for sh in shards], "samples": count})
    return root
