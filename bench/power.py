"""How many test videos does each weight-free metric need to tell methods apart with the paired test?

On the embedded synthetic generator, three candidate "methods" are scored against the real test videos:

    static     every frame is the test video's frame 0 (a model that learned no motion)
    reversed   the same person from the same frame 0 with her motion played backwards in time (a perfect
               model that cannot know which way the video goes; bench/quality.py renders it the same way)
    split      a real video of another split (the train video of the same index): realistic motion and
               colour, but not the conditioned person

For each N (the first N test videos) and each dataset seed, every pair of the three is compared with
`ffbench.metrics.comparison` exactly as the leaderboard will: paired metrics (psnr, ssim, l1) by the mean
per-video difference, diagnostics (motion, colour-drift, flicker) by "closer to the real videos" (|log
ratio to the real videos' mean|, one resample of the test ids for the method and the real videos), and
fvmd-flow by the difference of the two Frechet distances with one shared resample; Holm's correction over
the three pairs of each metric. The table gives, per metric and pair, in how many seeds the pair was told
apart, and per metric the smallest N at which all three pairs were in every seed.

It also times what eval costs per generated video for these metrics (paired scores against the real
video and the flow analysis of the generated video; the real videos' analysis is cached once per test
set) and adds the network metrics' cost measured on the demo (docs/measurements.md: about 100 s per
method for 16 videos, eval of static, random-init networks, one thread) to give the demo's test-set
size within its 30-minute budget.

    python bench/power.py [--sizes 8,16,32,64] [--seeds 0,1,2] [--frames 16] [--size 128x96]
        [--resamples 1000] [--threads 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ffbench.metrics.comparison import Scored, compare_methods, distribution_difference, holm  # noqa: E402
from ffbench.metrics.diagnostics import PER_VIDEO  # noqa: E402

CANDIDATES = ("static", "reversed", "split")
PAIRED = ("psnr", "ssim", "l1")
DIAGNOSTICS = ("motion", "colour-drift", "flicker")
METRICS = PAIRED + DIAGNOSTICS + ("fvmd-flow",)
HIGHER = {"psnr", "ssim"}
# Demo figures (docs/measurements.md, 2026-12-06, e07fe72): wall time of the demo at 16 test videos, and
# per method the eval (network metrics included) and generation time per test video.
DEMO_MINUTES, DEMO_VIDEOS, BUDGET_MINUTES = 28.1, 16, 30.0
DEMO_EVAL_S_PER_VIDEO = 100 / 16  # one method's eval, all metrics, one thread
DEMO_GENERATE_S_PER_VIDEO = (83 + 3 * 15) / 16 / 4  # FashionFlow's 83 s and three baselines' < 15 s each
DEMO_METHODS = 5


class Backwards:
    """A synthetic motion played backwards in time (as bench/quality.py's reversed reference)."""

    def __init__(self, motion) -> None:
        self.motion = motion

    def pose(self, t):
        return self.motion.pose(-np.asarray(t, dtype=np.float64))


def render_set(seed: int, n: int, frames: int, height: int, width: int) -> dict[str, list[np.ndarray]]:
    """The real test videos and the three candidates, n of each: name -> list of uint8 (F, H, W, 3)."""
    from ffbench.synthetic import render_clip, sample_video
    from ffbench.synthetic.dataset import video_seed

    out: dict[str, list[np.ndarray]] = {k: [] for k in ("real",) + CANDIDATES}
    for k in range(n):
        look, motion = sample_video(video_seed(seed, "test", k))
        real = render_clip(look, motion, frames, height, width)
        out["real"].append(real)
        out["static"].append(np.ascontiguousarray(np.broadcast_to(real[:1], real.shape)))
        out["reversed"].append(render_clip(look, Backwards(motion), frames, height, width))
        other_look, other_motion = sample_video(video_seed(seed, "train", k))
        out["split"].append(render_clip(other_look, other_motion, frames, height, width))
    return out


def score_set(videos: dict[str, list[np.ndarray]]) -> tuple[dict, dict, dict[str, float]]:
    """Per-video values: values[name][metric] -> (n,) array; fvmd[name] -> (n, D); seconds per video."""
    from ffbench.metrics.paired import parse_frames, score_pair
    from ffbench.metrics.video_analysis import analyse_video

    frames = parse_frames("1:")  # eval's default --paired-frames
    values = {name: {m: [] for m in METRICS} for name in videos}
    fvmd = {name: [] for name in videos}
    cost = {"paired": 0.0, "analysis": 0.0}
    n = len(videos["real"])
    for k in range(n):
        real = videos["real"][k]
        for name in videos:
            t = time.perf_counter()
            if name != "real":
                scores = score_pair(videos[name][k], real, list(PAIRED), "correct", frames)
                for m in PAIRED:
                    values[name][m].append(float(np.mean(scores[m])))
            t1 = time.perf_counter()
            analysis = analyse_video(videos[name][k])
            t2 = time.perf_counter()
            if name != "real":
                cost["paired"] += t1 - t
                cost["analysis"] += t2 - t1
            for m in DIAGNOSTICS:
                values[name][m].append(PER_VIDEO[m](analysis))
            fvmd[name].append(analysis.fvmd)
    per_video = {k: v / (n * len(CANDIDATES)) for k, v in cost.items()}
    arrays = {name: {m: np.array(v, np.float64) for m, v in d.items()} for name, d in values.items()}
    return arrays, {k: np.stack(v) for k, v in fvmd.items()}, per_video


def separated(values: dict, fvmd: dict, metric: str, n: int, resamples: int, seed: int) -> dict[tuple, bool]:
    """(a, b) -> whether the paired test (Holm over the three pairs) tells a and b apart on n videos."""
    if metric == "fvmd-flow":
        ids = np.arange(n)
        pairs = list(itertools.combinations(CANDIDATES, 2))
        p = [distribution_difference(fvmd["real"][:n], ids, fvmd[a][:n], ids, fvmd[b][:n], ids,
                                     resamples=resamples, seed=seed)[2] for a, b in pairs]
        return {pair: ph < 0.05 for pair, ph in zip(pairs, holm(p), strict=True)}
    ident = dict(real="synthetic-test", protocol=json.dumps({"name": metric}), extractor="weight-free")
    ids = [f"{i:04d}" for i in range(n)]
    statistic = "mean" if metric in PAIRED else "closer-to-real"
    real = {} if metric in PAIRED else dict(zip(ids, values["real"][metric][:n], strict=True))
    scored = [Scored(name, metric, dict(zip(ids, values[name][metric][:n], strict=True)),
                     per_video_real=real, **ident) for name in CANDIDATES]
    diffs = compare_methods(scored, metric in HIGHER, resamples=resamples, seed=seed, statistic=statistic)
    return {(d.a, d.b): bool(d.better) for d in diffs}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="8,16,32,64", help="test-set sizes N (default 8,16,32,64)")
    parser.add_argument("--seeds", default="0,1,2", help="dataset seeds (default 0,1,2)")
    parser.add_argument("--frames", type=int, default=16, help="frames per video (default 16, the demo's)")
    parser.add_argument("--size", default="128x96", help="HxW (default 128x96, preset cpu)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads (default 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    height, width = (int(v) for v in args.size.lower().split("x"))
    if min(sizes) < 3:
        parser.error(f"--sizes {args.sizes}: the paired test needs N >= 3")
    import torch

    torch.set_num_threads(args.threads)
    try:
        import cv2

        cv2.setNumThreads(args.threads)
    except ImportError:
        pass

    pairs = list(itertools.combinations(CANDIDATES, 2))
    apart = {(m, n, p): 0 for m in METRICS for n in sizes for p in pairs}
    costs = []
    t0 = time.time()
    for seed in seeds:
        videos = render_set(seed, max(sizes), args.frames, height, width)
        values, fvmd, cost = score_set(videos)
        costs.append(cost)
        for m in METRICS:
            for n in sizes:
                for pair, ok in separated(values, fvmd, m, n, args.resamples, seed).items():
                    apart[(m, n, pair)] += ok
        print(f"seed {seed} done ({time.time() - t0:.0f} s)", file=sys.stderr)

    names = [f"{a}-{b}" for a, b in pairs]
    print(f"Pairs told apart by the paired test (Holm over 3 pairs, 95%), of {len(seeds)} seeds; "
          f"{args.frames} frames at {height}x{width}, {args.resamples} resamples")
    print(f"{'metric':<13} {'N':>3}  " + "  ".join(f"{n:>15}" for n in names))
    for m in METRICS:
        for n in sizes:
            counts = [apart[(m, n, p)] for p in pairs]
            print(f"{m:<13} {n:>3}  " + "  ".join(f"{c:>13}/{len(seeds)}" for c in counts))
    # Per pair, the smallest N from which the pair is told apart in every seed at every larger N too.
    needed = {}
    for m, (a, b) in itertools.product(METRICS, pairs):
        ok = [n for n in sizes if all(apart[(m, k, (a, b))] == len(seeds) for k in sizes if k >= n)]
        needed[f"{m}|{a}-{b}"] = min(ok) if ok else None
    print("\nsmallest N that tells each pair apart in every seed (and at every larger N):")
    print(f"{'metric':<13}      " + "  ".join(f"{n:>15}" for n in names))
    for m in METRICS:
        cells = [needed[f"{m}|{a}-{b}"] for a, b in pairs]
        print(f"{m:<13}      " + "  ".join(f"{c if c else f'> {max(sizes)}':>15}" for c in cells))
    paired_s = float(np.mean([c["paired"] for c in costs]))
    analysis_s = float(np.mean([c["analysis"] for c in costs]))
    weight_free = paired_s + analysis_s
    per_video = DEMO_METHODS * (DEMO_EVAL_S_PER_VIDEO + DEMO_GENERATE_S_PER_VIDEO)
    # Two lanes run side by side in the demo, so its wall time grows by about half the added work.
    spare = (BUDGET_MINUTES - DEMO_MINUTES) * 60
    extra = int(spare // (per_video / 2))
    print(f"\neval cost per generated video, these metrics: paired psnr/ssim/l1 {paired_s:.3f} s, flow "
          f"analysis (motion, colour-drift, flicker, fvmd-flow) {analysis_s:.3f} s, "
          f"{weight_free:.3f} s in all")
    print(f"demo (docs/measurements.md): eval {DEMO_EVAL_S_PER_VIDEO:.2f} s and generation "
          f"{DEMO_GENERATE_S_PER_VIDEO:.2f} s per test video and method, {DEMO_METHODS} methods in two "
          "lanes: "
          f"about {per_video / 2:.0f} s of wall time per added test video; {DEMO_MINUTES} of "
          f"{BUDGET_MINUTES:.0f} min used at N={DEMO_VIDEOS}, so N <= {DEMO_VIDEOS + extra} fits the budget")
    out = {"sizes": sizes, "seeds": seeds, "frames": args.frames, "size": [height, width],
           "resamples": args.resamples,
           "apart": {f"{m}|{n}|{a}-{b}": c for (m, n, (a, b)), c in apart.items()},
           "needed": needed, "seconds_per_video": {"paired": paired_s, "analysis": analysis_s},
           "demo_max_videos": DEMO_VIDEOS + extra}
    if args.json:
        from ffbench.fileio import write_text_atomic

        write_text_atomic(args.json, json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
