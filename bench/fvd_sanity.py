"""FVD sanity check: does the metric rank a frozen or faster copy of the real set behind a second real half?

    python bench/fvd_sanity.py [--n 32] [--size 112] [--i3d random|PATH] [--real DIR] [--threads 1]
        [--json PATH]

Builds (or reads, with --real) a set of 2N videos, splits it into halves A and B and makes two altered
copies of B: `frozen` (every frame is the first one) and `fast` (every second frame, so motion runs at
twice the speed). Prints FVD for

    A vs B          the noise floor: two samples of the same distribution
    A vs fast(B)    same content, different motion
    A vs frozen(B)  same content, no motion
    all vs frozen   the paired form: the same videos, real and frozen

A useful FVD puts the first row clearly below the others. Run it with the pretrained Kinetics-400 I3D
(`--i3d i3d_pretrained_400.pt`) to check an installation; with `--i3d random` it measures the offline
stand-in (random weights, BatchNorm statistics re-estimated on the real half), whose numbers are
labelled random-init everywhere. `--size` shrinks the I3D input from the protocol's 224x224 for speed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _videos(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".gif"))
    if len(files) < 4:
        raise SystemExit(f"--real {folder}: needs at least 4 videos, found {len(files)}")
    return files


def build_sets(root: Path, real: Path | None, n: int, frames: int) -> dict[str, Path]:
    """Write the halves and the altered copies of B as mp4 folders under `root`."""
    from ffbench.synthetic import render_video
    from ffbench.video import read_video, write_video

    if real is not None:
        sources = _videos(real)[: 2 * n]
        clips = (read_video(p) for p in sources)
    else:
        clips = (render_video(10_000 + i, frames, 128, 96) for i in range(2 * n))
    dirs = {k: root / k for k in ("all", "A", "B", "fast_B", "frozen_B", "frozen_all")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    count = 0
    for i, clip in enumerate(clips):
        name = f"v{i:04d}.mp4"
        frozen = np.repeat(clip[:1], len(clip), axis=0)
        write_video(dirs["all"] / name, clip, 30)
        write_video(dirs["frozen_all"] / name, frozen, 30)
        half = "A" if i % 2 == 0 else "B"  # interleaved, so both halves cover the whole set
        write_video(dirs[half] / name, clip, 30)
        if half == "B":
            write_video(dirs["frozen_B"] / name, frozen, 30)
            write_video(dirs["fast_B"] / name, clip[::2], 30)
        count += 1
    if count < 4:
        raise SystemExit(f"got {count} videos; need at least 4")
    return dirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="videos per half (default 32)")
    parser.add_argument("--frames", type=int, default=40, help="frames per synthetic video (default 40; "
                        "the fast copy keeps half, which must stay >= 16)")
    parser.add_argument("--size", type=int, default=112, help="I3D input side (protocol: 224)")
    parser.add_argument("--i3d", default="random", help="'random' or a Kinetics-400 I3D weight file")
    parser.add_argument("--real", type=Path, default=None, help="folder of real videos (default: synthetic)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from ffbench.metrics.evaluate import evaluate
    from ffbench.metrics.protocols import PROTOCOLS

    protocol = PROTOCOLS["fvd"].replace(size=(args.size, args.size))
    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv))
    with tempfile.TemporaryDirectory(prefix="ffbench-fvd-sanity-") as tmp:
        start = time.perf_counter()
        dirs = build_sets(Path(tmp), args.real, args.n, args.frames)
        print(f"videos written in {time.perf_counter() - start:.0f} s")
        rows = []
        for real, fake in (("A", "B"), ("A", "fast_B"), ("A", "frozen_B"), ("all", "frozen_all")):
            start = time.perf_counter()
            (result,) = evaluate("fvd", dirs[real], dirs[fake], seeds=[0], i3d=args.i3d,
                                 protocols={"fvd": protocol}, recal_items=2 * args.n)
            rows.append((f"{real} vs {fake}", result.value, result.n_real, result.n_fake,
                         time.perf_counter() - start))
        print(f"extractor: {result.extractor}")
        print(f"FVD protocol at {args.size}x{args.size}, 400-d logits, one 16-frame clip per video")
        print(f"{'pair':<20} {'FVD':>10} {'n_real':>7} {'n_fake':>7} {'seconds':>8}")
        for name, value, n_real, n_fake, seconds in rows:
            print(f"{name:<20} {value:>10.3f} {n_real:>7} {n_fake:>7} {seconds:>8.0f}")
        floor = rows[0][1]
        for name, value, *_ in rows[1:]:
            verdict = "above" if value > 1.5 * floor else "NOT clearly above"
            print(f"{name}: {value / floor:.2f} x the A-vs-B floor ({verdict}: threshold 1.5x)")
        if result.random_init:
            print("random-init extractor: these numbers check the pipeline, they are not FVD")
        if args.json:
            out = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "n": args.n,
                   "size": args.size, "extractor": result.extractor, "random_init": result.random_init,
                   "rows": [dict(zip(("pair", "fvd", "n_real", "n_fake", "seconds"), row, strict=True))
                            for row in rows]}
            tmp = args.json.with_name(args.json.name + ".tmp")
            tmp.write_text(json.dumps(out, indent=2) + "\n")
            tmp.replace(args.json)


if __name__ == "__main__":
    main()
