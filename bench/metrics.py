"""Metrics benchmark: I3D throughput, the weight-free diagnostics' speed, and eval peak memory at two N.

    python bench/metrics.py [--threads 2] [--n 8 32] [--skip-i3d] [--skip-memory] [--json PATH]

Prints I3D clips per second at 16x224x224 (random-init weights: the speed does not depend on the
values); the frames per second of one diagnostics pass (`analyse_video`: forward and backward Farneback
flow, flicker warp, CIELAB colour, gradients, fvmd-flow tracks) at 128x96 and 640x512, per second of
wall time and per second of this process's CPU time (the second does not depend on how busy a shared
machine is); and the peak
resident memory of two evaluations, FVD (random-init extractor) and every weight-free metric (paired,
diagnostics, fvmd-flow), on synthetic 128x96 videos of 24 frames at two set sizes: videos are streamed
one at a time, so the figure stays flat as N grows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def i3d_clips_per_second(batch: int = 2, repeats: int = 3) -> float:
    from ffbench.metrics.i3d import InceptionI3d

    model = InceptionI3d(400).eval()
    x = torch.rand(batch, 3, 16, 224, 224) * 2 - 1
    with torch.no_grad():
        model(x[:1])  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return batch * repeats / (time.perf_counter() - start)


def diagnostics_frames_per_second(width: int, height: int, frames: int = 16) -> tuple[float, float]:
    """(wall, CPU) frames per second of `analyse_video` on a synthetic video of `frames` frames."""
    from ffbench.metrics.video_analysis import analyse_video
    from ffbench.synthetic import render_video

    video = render_video(7, frames, width, height)
    analyse_video(video[:3])  # warm-up (imports, OpenCV buffers)
    start, cpu = time.perf_counter(), time.process_time()
    analyse_video(video)
    return frames / (time.perf_counter() - start), frames / (time.process_time() - cpu)


def make_videos(folder: Path, n: int, offset: int) -> None:
    from ffbench.synthetic import render_video
    from ffbench.video import write_video

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_video(folder / f"v{i:03d}.mp4", render_video(offset + i, 24, 128, 96), 30)


WEIGHT_FREE = "fvmd-flow,psnr,ssim,l1,motion,colour-drift,saturation-drift,detail-drift,flicker"


def child(real: str, fake: str, size: int, metric: str = "fvd") -> None:
    """Run one evaluation and print its peak RSS (this process only) as JSON."""
    from ffbench.metrics.evaluate import evaluate
    from ffbench.metrics.protocols import PROTOCOLS

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    protocol = PROTOCOLS["fvd"].replace(size=(size, size))
    start = time.perf_counter()
    results = evaluate(metric, real, fake, i3d="random", protocols={"fvd": protocol}, recal_items=8,
                       allow_missing=True)  # paired metrics: the real set holds more ids than N
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n_fake": results[0].n_fake, "value": results[0].value, "peak_mb": peak_mb,
                      "seconds": time.perf_counter() - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, nargs=2, default=(8, 32), help="two fake-set sizes")
    parser.add_argument("--size", type=int, default=112, help="I3D input side for the memory runs")
    parser.add_argument("--skip-i3d", action="store_true", help="skip the I3D throughput and FVD memory")
    parser.add_argument("--skip-memory", action="store_true", help="skip the eval peak-memory runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (bench/summary.py)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), args.child[3])
        return
    torch.set_num_threads(args.threads)
    print("command: python bench/metrics.py " + " ".join(sys.argv[1:]))
    result = {"command": " ".join(["python", *sys.argv]), "threads": args.threads, "eval_size": args.size,
              "eval": [], "eval_weight_free": [], "diagnostics": []}
    if not args.skip_i3d:
        result["i3d_clips_per_s"] = i3d = i3d_clips_per_second()
        print(f"I3D (random-init) 16x224x224, {args.threads} threads: {i3d:.2f} clips/s")
    for width, height in ((128, 96), (640, 512)):
        wall, cpu = diagnostics_frames_per_second(width, height)
        result["diagnostics"].append({"width": width, "height": height, "frames_per_s_wall": wall,
                                      "frames_per_cpu_s": cpu})
        print(f"diagnostics (analyse_video, 16 frames) at {width}x{height}: {wall:.2f} frames/s wall, "
              f"{cpu:.2f} frames per CPU-second")
    if args.skip_memory:
        _write_json(args.json, result)
        return
    runs = [("weight-free", WEIGHT_FREE)] + ([] if args.skip_i3d else [(f"fvd (random-init, {args.size}x"
                                                                          f"{args.size})", "fvd")])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_videos(root / "real", max(args.n), 1000)  # the same ids as the generated videos
        for n in args.n:
            make_videos(root / f"fake{n}", n, 2000)  # other videos under the same names
        for label, metric in runs:
            for n in args.n:
                cmd = [sys.executable, __file__, "--child", str(root / "real"), str(root / f"fake{n}"),
                       str(args.size), metric]
                out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=True,
                                     env={**os.environ, "BENCH_THREADS": str(args.threads)})
                stats = json.loads(out.stdout.strip().splitlines()[-1])
                result["eval" if metric == "fvd" else "eval_weight_free"].append(stats)
                print(f"eval {label} N fake {stats['n_fake']:>3}: peak RSS {stats['peak_mb']:.0f} MB, "
                      f"{stats['seconds']:.1f} s")
    _write_json(args.json, result)


def _write_json(path: Path | None, result: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
