"""Does a trained FashionFlow pipeline generate the test videos, or noise?

For each test video of a prepared split, the pipeline generates a clip from the video's stored
conditioning frame (cond.png, as `ffbench generate` does) and every generated frame is compared with
the real frame at the same index: PSNR (dB) and L1 (mean absolute error, pixel values in [0, 1]).
Beside the model, three references scored the same way:

    copy-frame-0   every frame is the conditioning frame: what a model that learned no motion scores;
                   on the slowly moving synthetic data a good model comes close to it
    vae-recon      the real latents decoded by the pipeline's VAE: the ceiling for anything that
                   generates through this VAE (the tiny CPU VAE caps it around 23-24 dB)
    noise          uniform random pixels: what the model must beat clearly

Frame 0 is the conditioning frame itself and is left out. Per-frame rows are averaged over videos.

    python bench/quality.py PIPELINE SHARDS/test [--videos 4] [--steps 25] [--sampler dpmpp] [--threads 1]
"""

from __future__ import annotations

import argparse
import io
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REFERENCES = ("model", "copy-frame-0", "vae-recon", "noise")


def psnr(fake: np.ndarray, real: np.ndarray) -> float:
    """PSNR in dB of uint8 images (..., H, W, 3), peak 255."""
    mse = np.mean((fake.astype(np.float64) - real.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def l1(fake: np.ndarray, real: np.ndarray) -> float:
    """Mean absolute difference of uint8 images in units of the full range ([0, 1])."""
    return float(np.mean(np.abs(fake.astype(np.float64) - real.astype(np.float64))) / 255.0)


def load_split(split_dir: Path, limit: int) -> list[dict]:
    """The first `limit` samples of a split: key, cond.png bytes, mp4 bytes, latents (N, 4, h, w)."""
    from ffbench.datasets.shards import iter_split_entries

    samples: dict[str, dict] = {}
    for ext in ("cond.png", "mp4", "latents.npy"):
        for key, data in iter_split_entries(split_dir, ext):
            samples.setdefault(key, {"key": key})[ext] = data
    complete = [s for _, s in sorted(samples.items()) if len(s) == 4]
    if not complete:
        raise ValueError(f"{split_dir}: no sample with cond.png, mp4 and latents.npy; pass a split folder "
                         "written by `ffbench prepare` (e.g. DATA/shards/test)")
    return complete[:limit]


def score_video(pipe, sample: dict, frames: int, steps: int, seed: int) -> dict[str, np.ndarray]:
    """Per-frame (PSNR, L1) of the model and the references for one test video: name -> (F-1, 2)."""
    from PIL import Image

    from ffbench.video import read_video

    real = read_video(sample["mp4"], indices=range(frames))  # (F, H, W, 3) uint8
    image = np.asarray(Image.open(io.BytesIO(sample["cond.png"])).convert("RGB"))
    generator = torch.Generator("cpu").manual_seed(seed)
    fake = pipe(image, num_frames=frames, num_inference_steps=steps, generator=generator,
                output_type="np").frames[0]
    fake = (np.clip(fake, 0.0, 1.0) * 255).round().astype(np.uint8)
    latents = torch.from_numpy(np.load(io.BytesIO(sample["latents.npy"]))[:frames].astype(np.float32))
    recon = pipe.decode(latents.permute(1, 0, 2, 3)[None], chunk_size=8)[0]  # (3, F, H, W) in [-1, 1]
    recon = ((recon.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 3, 0).numpy()
    rng = np.random.default_rng(seed)
    candidates = {
        "model": fake,
        "copy-frame-0": np.broadcast_to(real[:1], real.shape),
        "vae-recon": recon,
        "noise": rng.integers(0, 256, real.shape, dtype=np.uint8),
    }
    for name, video in candidates.items():
        if video.shape != real.shape:
            raise ValueError(f"{name} video has shape {video.shape}, the real one {real.shape}: the "
                             "pipeline's frame size differs from the shards'; score shards of its preset")
    return {name: np.array([(psnr(v[f], real[f]), l1(v[f], real[f])) for f in range(1, frames)])
            for name, v in candidates.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", type=Path, help="FashionFlowPipeline directory (<run>/pipeline)")
    parser.add_argument("shards", type=Path, help="prepared split folder, e.g. DATA/shards/test")
    parser.add_argument("--videos", type=int, default=4, help="test videos to score (default 4)")
    parser.add_argument("--frames", type=int, default=None, help="frames (default: the model's clip length)")
    parser.add_argument("--steps", type=int, default=25, help="sampler steps (default 25)")
    parser.add_argument("--sampler", default="dpmpp", choices=("ddpm", "ddim", "dpmpp"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args(argv)
    if args.videos < 1:
        parser.error(f"--videos {args.videos}: give at least 1")
    torch.set_num_threads(args.threads)

    from ffbench.models.fashionflow.generate import load_pipeline
    from ffbench.models.fashionflow.schedule import switch_sampler

    print("$ python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))
    pipe = load_pipeline(args.pipeline, device="cpu")
    pipe.scheduler = switch_sampler(pipe.scheduler, args.sampler)
    pipe.set_progress_bar_config(disable=True)
    frames = args.frames or pipe.unet.config.num_frames
    if frames < 2:
        parser.error(f"--frames {frames}: frame 0 is the conditioning frame; give at least 2")
    samples = load_split(args.shards, args.videos)
    start = time.perf_counter()
    scores = [score_video(pipe, s, frames, args.steps, args.seed) for s in samples]
    seconds = time.perf_counter() - start
    mean = {name: np.mean([s[name] for s in scores], axis=0) for name in REFERENCES}  # (F-1, 2)

    print(f"{len(samples)} test videos x {frames} frames, {args.sampler}-{args.steps}, seed {args.seed}, "
          f"{seconds / len(samples):.1f} s per video ({args.threads} thread(s))")
    print("PSNR dB (higher is better) | L1 in [0, 1] (lower is better), mean over videos; frame 0 is given")
    print("frame " + "".join(f"{n:>20s}" for n in REFERENCES))
    def row(label: str, rows: slice | int) -> str:
        cells = (mean[n][rows].reshape(-1, 2).mean(0) for n in REFERENCES)
        return f"{label:>5s} " + "".join(f"{p:11.2f} |{d:7.4f}" for p, d in cells)

    for f in range(frames - 1):
        print(row(str(f + 1), f))
    print(row("mean", slice(None)))
    per_video = " ".join(f"{s['model'][:, 0].mean():.1f}" for s in scores)
    print(f"model mean PSNR per video: {per_video}")


if __name__ == "__main__":
    main()
