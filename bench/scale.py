"""Scale-out under torchrun: N processes against 1 for each stage, one run, a ratio, the commands printed.

    python bench/scale.py [--stages generate,prepare,eval] [--processes 2] [--videos 8] [--steps 10]
                          [--keep DIR] [--json FILE]

Stages (each a function of the list STAGES: a new stage adds one entry, the loop and the report stay):

- generate   `ffbench generate` of a FashionFlow pipeline at the cpu preset (128x96, 16 frames; random
             weights: the cost of sampling does not depend on them) over --videos conditioning images, one
             process against `torchrun --nproc_per_node=N`, every process with `--threads 1`. Also checks
             that both runs wrote the same bytes.
- prepare    the encoder stage of `ffbench prepare --synthetic` at the cpu preset (128x96, tiny VAE and
             CLIP): a set of 8 training and --videos test videos of 64 frames is rendered and its tiny VAE
             trained once; each run starts from a copy without samples or shards (so it encodes every
             video and packs the shards), one process against `torchrun --nproc_per_node=N`, `--threads 1`
             each. A rerun of each copy with everything cached times the fixed cost (start-up, imports,
             encoder load, checks); run minus rerun is the encoder stage, reported as frames/s. Checks
             that both runs wrote the same shards, manifests and cached samples.
- eval       `ffbench eval` of --videos generated against --videos real videos (128x96, 16 frames) on every
             family (random-init I3D and Inception at protocol sizes, paired, flow diagnostics, fvmd-flow),
             one process against torchrun, `--threads 1` each; checks the leaderboard values are equal.

Each run is timed from the launch to the exit (so it includes each process's imports and model load: what
a user waits for); the ratio is one-process seconds over N-process seconds. On a shared 2-core machine read
one run's figures against each other only.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def environment() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1",
                PYTHONPATH=path)


def launcher(processes: int) -> list[str]:
    """The interpreter line that starts `-m ffbench.cli ...` on one process or under torchrun."""
    if processes == 1:
        return [sys.executable, "-m", "ffbench.cli"]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--standalone",
            "-m", "ffbench.cli"]


def timed(cmd: list[str]) -> float:
    """Run `cmd` to the end; its wall seconds. A failure stops the benchmark with the command's output."""
    print("$", shlex.join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=environment(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return seconds


def _pipeline(folder: Path) -> Path:
    """A FashionFlow pipeline of the cpu preset's shape with random weights, saved to `folder`."""
    import torch

    from ffbench.datasets.tiny_vae import build_tiny_vae
    from ffbench.encoders import build_tiny_clip
    from ffbench.models.fashionflow import FashionFlowModel, FashionFlowPipeline, make_noise_scheduler
    from ffbench.models.fashionflow.config import fashionflow_config

    torch.manual_seed(0)
    clip, processor = build_tiny_clip(0)
    unet = FashionFlowModel(**fashionflow_config("cpu")).eval()
    pipe = FashionFlowPipeline(unet=unet, vae=build_tiny_vae(0), image_encoder=clip,
                               feature_extractor=processor,
                               scheduler=make_noise_scheduler("cosine", "dpmpp"))
    pipe.save_pretrained(folder)
    return folder


def _images(folder: Path, count: int) -> Path:
    """`count` conditioning photos at the cpu preset's 128x96 (smooth random colour fields)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:128, :96]
    for i in range(count):
        a, b, c = rng.uniform(0, 255, 3)
        image = np.stack([a + yy * 0.5, b + xx * 0.8, c + (yy + xx) * 0.3], -1) % 256
        Image.fromarray(image.astype(np.uint8)).save(folder / f"photo{i:03d}.png")
    return folder


def bench_generate(work: Path, args: argparse.Namespace) -> dict:
    pipe = _pipeline(work / "pipeline")
    images = _images(work / "images", args.videos)
    runs = {}
    for n in (1, args.processes):
        out = work / f"samples-{n}"
        cmd = [*launcher(n), "generate", str(images), "--checkpoint", str(pipe), "-o", str(out),
               "--steps", str(args.steps), "--threads", "1", "--no-progress"]
        runs[n] = {"command": shlex.join(cmd), "seconds": timed(cmd)}
    one, many = (sorted((work / f"samples-{n}").glob("*.mp4")) for n in (1, args.processes))
    same = [a.read_bytes() for a in one] == [b.read_bytes() for b in many] and len(one) == args.videos
    return {"work": f"{args.videos} videos x {args.steps} steps", "videos": args.videos, "steps": args.steps,
            "frames": 16, "size": [128, 96],
            "processes": args.processes, "runs": {str(n): r for n, r in runs.items()},
            "ratio": runs[1]["seconds"] / runs[args.processes]["seconds"], "identical_files": same}


def _eval_videos(folder: Path, count: int, seed: int) -> Path:
    """`count` 16-frame 128x96 videos (the cpu preset's size): a textured patch walking across a gradient,
    its path and texture from `seed` and the video's number, named v000.mp4, ... as a test set is."""
    import numpy as np

    from ffbench.video import write_video

    folder.mkdir(parents=True)
    yy, xx = np.mgrid[:128, :96]
    background = np.stack([xx * 2, yy * 2, np.full_like(xx, 90)], -1).astype(np.uint8)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        patch = rng.integers(0, 256, (32, 24, 3), dtype=np.uint8)
        x0, y0, vx, vy = rng.integers(0, 60), rng.integers(0, 80), rng.integers(-3, 4), rng.integers(-2, 3)
        frames = np.repeat(background[None], 16, 0)
        for t in range(16):
            x, y = (x0 + vx * t) % 72, (y0 + vy * t) % 96
            frames[t, y:y + 32, x:x + 24] = patch
        write_video(folder / f"v{i:03d}.mp4", frames, 8)
    return folder


EVAL_METRICS = "fvd,kvd,fid,is,psnr,ssim,l1,motion,colour-drift,flicker,fvmd-flow"


def bench_eval(work: Path, args: argparse.Namespace) -> dict:
    """`ffbench eval` of --videos generated against --videos real videos (128x96, 16 frames) on every family:
    I3D (FVD/KVD) and Inception (FID/IS) at their protocol sizes, random-init with BatchNorm re-estimated on
    8 real units, paired metrics and the flow diagnostics with fvmd-flow; one process against torchrun,
    every process with `--threads 1`, each run with its own empty feature cache. `--batch-size 2`: eval
    deals blocks of --batch-size videos to the processes, so 8 videos make 4 blocks, 2 per process. Also
    checks that both runs wrote the same leaderboard values."""
    import csv

    real = _eval_videos(work / "real", args.videos, 1)
    fake = _eval_videos(work / "fake", args.videos, 2)
    runs, values = {}, {}
    for n in (1, args.processes):
        out = work / f"eval-{n}"
        cmd = [*launcher(n), "eval", "--real", str(real), "--fake", str(fake), "--metric", EVAL_METRICS,
               "--method", "bench", "--dataset", "scale", "--i3d", "random", "--inception", "random",
               "--recal-items", "8", "--batch-size", "2", "--bootstrap", "50", "--threads", "1",
               "--cache-dir", str(out / "cache"), "--weights-dir", str(out / "weights"),
               "--leaderboard-dir", str(out / "board")]
        runs[n] = {"command": shlex.join(cmd), "seconds": timed(cmd)}
        with (out / "board" / "scale.csv").open(newline="") as fh:
            values[n] = {r["metric"]: (r["value"], r["ci_low"], r["ci_high"], r["real_value"])
                         for r in csv.DictReader(fh)}
    return {"work": f"{args.videos} + {args.videos} videos, {EVAL_METRICS}", "videos": args.videos,
            "frames": 16, "size": [128, 96], "processes": args.processes,
            "runs": {str(n): r for n, r in runs.items()},
            "ratio": runs[1]["seconds"] / runs[args.processes]["seconds"],
            "identical_files": values[1] == values[args.processes] and len(values[1]) == 11}


PREPARE_FRAMES, PREPARE_TRAIN = 64, 8  # frames per synthetic video, training videos


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def bench_prepare(work: Path, args: argparse.Namespace) -> dict:
    videos = PREPARE_TRAIN + args.videos  # the tiny VAE needs 8 training videos (one held out)
    flags = ["--synthetic", "--quiet", "--n-train", str(PREPARE_TRAIN), "--n-test", str(args.videos),
             "--frames", str(PREPARE_FRAMES), "--vae-steps", "50", "--threads", "1"]
    base = work / "base"
    timed([*launcher(1), "prepare", "--out", str(base), *flags])  # sources and the tiny VAE, not timed
    shutil.rmtree(base / "shards")
    runs = {}
    for n in (1, args.processes):
        data = work / f"data-{n}"
        shutil.copytree(base, data)
        cmd = [*launcher(n), "prepare", "--out", str(data), *flags]
        seconds = timed(cmd)
        fixed = timed(cmd)  # the same command again: everything cached, only the fixed cost
        encoding = max(seconds - fixed, 1e-9)
        runs[n] = {"command": shlex.join(cmd), "seconds": seconds, "fixed_seconds": fixed,
                   "encoder_stage_seconds": encoding, "frames_per_second": videos * PREPARE_FRAMES / encoding}
        print(f"prepare, {n} process(es): {seconds:.1f} s = {encoding:.1f} s encoding "
              f"({videos * PREPARE_FRAMES / encoding:.0f} frames/s) + {fixed:.1f} s fixed", flush=True)
    one, many = runs[1], runs[args.processes]
    same = _tree_bytes(work / "data-1" / "shards") == _tree_bytes(work / f"data-{args.processes}" / "shards")
    print(f"prepare: encoder stage alone {one['encoder_stage_seconds'] / many['encoder_stage_seconds']:.2f}x",
          flush=True)
    return {"work": f"{videos} videos x {PREPARE_FRAMES} frames", "videos": videos, "frames": PREPARE_FRAMES,
            "size": [128, 96], "processes": args.processes, "runs": {str(n): r for n, r in runs.items()},
            "ratio": one["seconds"] / many["seconds"],
            "encoder_stage_ratio": one["encoder_stage_seconds"] / many["encoder_stage_seconds"],
            "identical_files": same}


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Path, argparse.Namespace], dict]
    what: str


STAGES = [Stage("generate", bench_generate, "FashionFlow cpu preset, DPM-Solver++"),
          Stage("prepare", bench_prepare, "prepare's encoder stage, cpu preset, tiny VAE and CLIP"),
          Stage("eval", bench_eval, "eval's extraction (random-init I3D, Inception) and weight-free metrics")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", default=",".join(s.name for s in STAGES),
                        help="comma-separated stages (default: all of %(default)s)")
    parser.add_argument("--processes", type=int, default=2, help="N of torchrun (default 2)")
    parser.add_argument("--videos", type=int, default=8,
                        help="generate: conditioning images; prepare: test videos, beside 8 training ones "
                             "(default 8)")
    parser.add_argument("--steps", type=int, default=10, help="generate: sampler steps (default 10)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work folder to keep (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    known = {s.name: s for s in STAGES}
    wanted = [s for s in args.stages.split(",") if s]
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        parser.error(f"--stages: unknown {unknown}; choose from {', '.join(known)}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="ffbench-scale-"))
    results = {}
    try:
        for name in wanted:
            work = root / name
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            before = os.getloadavg()[0]  # other work here: with no free core, N processes gain little
            results[name] = {"what": known[name].what, **known[name].run(work, args),
                             "load_average": [before, os.getloadavg()[0]], "cores": os.cpu_count()}
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n| stage | work | 1 process (s) | {args.processes} processes (s) | ratio | same bytes |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['what']}, {r['work']} | "
              f"{r['runs']['1']['seconds']:.1f} | {r['runs'][str(args.processes)]['seconds']:.1f} | "
              f"{r['ratio']:.2f}x | {'yes' if r['identical_files'] else 'NO'} |")
    for name, r in results.items():
        print(f"{name}: load average {r['load_average'][0]:.1f} before, {r['load_average'][1]:.1f} after, on "
              f"{r['cores']} cores")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["identical_files"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
