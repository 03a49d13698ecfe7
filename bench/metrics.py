"""Metrics benchmark: I3D throughput at 16x224x224 and `ffbench eval` peak memory at two N.

    python bench/metrics.py [--threads 2] [--n 8 32] [--json PATH]

Prints I3D clips per second (random-init weights: the speed does not depend on the values) and the
peak resident memory of an FVD evaluation (random-init extractor, synthetic 128x96 videos of 24
frames) at two set sizes; streaming keeps the second figure flat as N grows.
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


def make_videos(folder: Path, n: int, offset: int) -> None:
    from ffbench.synthetic import render_video
    from ffbench.video import write_video

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_video(folder / f"v{i:03d}.mp4", render_video(offset + i, 24, 128, 96), 30)


def child(real: str, fake: str, size: int) -> None:
    """Run one FVD evaluation and print its peak RSS (this process only) as JSON."""
    from ffbench.metrics.evaluate import evaluate
    from ffbench.metrics.protocols import PROTOCOLS

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    protocol = PROTOCOLS["fvd"].replace(size=(size, size))
    start = time.perf_counter()
    (result,) = evaluate("fvd", real, fake, i3d="random", protocols={"fvd": protocol}, recal_items=8)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n_fake": result.n_fake, "fvd": result.value, "peak_mb": peak_mb,
                      "seconds": time.perf_counter() - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, nargs=2, default=(8, 32), help="two fake-set sizes")
    parser.add_argument("--size", type=int, default=112, help="I3D input side for the memory runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    torch.set_num_threads(args.threads)
    i3d = i3d_clips_per_second()
    print(f"I3D (random-init) 16x224x224, {args.threads} threads: {i3d:.2f} clips/s")
    result = {"command": " ".join(["python", *sys.argv]), "threads": args.threads, "i3d_clips_per_s": i3d,
              "eval_size": args.size, "eval": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_videos(root / "real", 8, 0)
        for n in args.n:
            make_videos(root / f"fake{n}", n, 1000)
            cmd = [sys.executable, __file__, "--child", str(root / "real"), str(root / f"fake{n}"),
                   str(args.size)]
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=True,
                                 env={**os.environ, "BENCH_THREADS": str(args.threads)})
            stats = json.loads(out.stdout.strip().splitlines()[-1])
            result["eval"].append(stats)
            print(f"eval fvd (random-init, {args.size}x{args.size}) N fake {stats['n_fake']:>3}: peak RSS "
                  f"{stats['peak_mb']:.0f} MB, {stats['seconds']:.1f} s")
    if args.json:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
