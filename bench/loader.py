"""Clips per second: cached-latent shards versus decoding the mp4 and VAE-encoding on the fly.

Both paths produce the same thing for the same clip settings: F-frame windows with their latents
(B, 4, F, h, w) and the CLIP tokens of the window's first frame. The cached path is the training
loader (`latent_clip_loader`); the on-the-fly path reads the same shards, decodes the window from the
stored mp4, and runs the VAE and CLIP on it, which is what a loader without a feature cache does.

    python bench/loader.py --data data/synthetic --frames 16 --batch-size 2 --batches 20 [--json PATH]
"""

from __future__ import annotations

import json
import random
import shlex
import sys
import time
from pathlib import Path

import click
import numpy as np
import torch


def _cached(data: Path, frames: int, batch_size: int, batches: int) -> tuple[float, int]:
    from ffbench.datasets.loader import latent_clip_loader

    loader = latent_clip_loader(data, frames=frames, batch_size=batch_size, seed=0)
    it = iter(loader)
    next(it)  # warm-up: opens the first shard and fills the shuffle buffer
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(it)
        assert batch["latents"].shape[2] == frames
    return time.perf_counter() - start, batches * batch_size


def _on_the_fly(data: Path, frames: int, batch_size: int, batches: int) -> tuple[float, int]:
    import webdataset as wds

    from ffbench.datasets.manifest import read_manifest
    from ffbench.encoders import clip_image_tokens, frames_to_tensor, load_clip, load_vae, vae_encode
    from ffbench.video import read_video

    split = data / "shards" / "train"
    manifest = read_manifest(split)
    ident = manifest["encoders"]
    vae = load_vae(ident["vae"]["spec"], data_dir=data)
    clip, processor = load_clip(ident["clip"]["spec"], data_dir=data, seed=ident["clip"].get("seed", 0))
    urls = [str(split / s["name"]) for s in manifest["shards"]]
    rng = random.Random(0)

    def clips():
        while True:
            for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
                n = json.loads(sample["json"])["frames"]
                if n < frames:
                    continue
                start = rng.randrange(n - frames + 1)
                yield read_video(sample["mp4"], indices=range(start, start + frames))  # (F, H, W, 3)

    source = clips()

    def batch() -> None:
        video = np.stack([next(source) for _ in range(batch_size)])  # (B, F, H, W, 3)
        latents = vae_encode(vae, frames_to_tensor(video))  # (B, 4, F, h, w)
        tokens = clip_image_tokens(clip, processor, video[:, 0])  # (B, T, D)
        assert latents.shape[2] == frames and tokens.shape[0] == batch_size

    batch()  # warm-up: first calls allocate and pick kernels
    start = time.perf_counter()
    for _ in range(batches):
        batch()
    return time.perf_counter() - start, batches * batch_size


@click.command()
@click.option("--data", default="data/synthetic", show_default=True, type=click.Path(exists=True),
              help="A prepared dataset directory (ffbench prepare --out).")
@click.option("--frames", default=16, show_default=True, help="Frames per clip.")
@click.option("--batch-size", default=2, show_default=True)
@click.option("--batches", default=20, show_default=True, help="Timed batches per path.")
@click.option("--threads", default=2, show_default=True, help="torch threads.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the figures here.")
def main(data: str, frames: int, batch_size: int, batches: int, threads: int, json_path: str | None) -> None:
    """Print clips/s of the cached-latent loader and of decode + encode on the fly, and their ratio."""
    torch.set_num_threads(threads)
    data_dir = Path(data)
    cached_s, n_cached = _cached(data_dir, frames, batch_size, batches)
    fly_s, n_fly = _on_the_fly(data_dir, frames, batch_size, max(2, batches // 4))
    cached, fly = n_cached / cached_s, n_fly / fly_s
    manifest = json.loads((data_dir / "shards" / "train" / "manifest.json").read_text())
    command = f"python {' '.join(shlex.quote(a) for a in sys.argv)}"
    print(f"command: {command}")
    preset = manifest["preset"]
    print(f"preset {preset['name']} ({preset['height']}x{preset['width']}), {frames}-frame clips, "
          f"batch {batch_size}, torch threads {threads}")
    print(f"cached latents:      {cached:8.1f} clips/s ({n_cached} clips in {cached_s:.2f} s)")
    print(f"decode + encode:     {fly:8.1f} clips/s ({n_fly} clips in {fly_s:.2f} s)")
    print(f"speed-up of the cache: {cached / fly:.1f}x")
    if json_path:
        out = Path(json_path)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps({
            "command": command, "preset": preset["name"], "frames": frames, "batch_size": batch_size,
            "threads": threads, "cached_clips_per_s": cached, "on_the_fly_clips_per_s": fly,
            "cached_clips": n_cached, "on_the_fly_clips": n_fly, "speedup": cached / fly,
        }, indent=2) + "\n")
        tmp.replace(out)


if __name__ == "__main__":
    with torch.no_grad():
        main()
