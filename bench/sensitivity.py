"""Which metric sees which failure: every metric on real halves A vs B, and on A vs corrupted copies of B.

    PYTHONPATH=$PWD python bench/sensitivity.py --real data/synthetic --threads 1
    PYTHONPATH=$PWD python bench/sensitivity.py --synthetic 32 --metrics fvd --size 224 --json fvd.json

The real test videos (`--real`, or `--synthetic N`: 2N videos the synthetic renderer draws at 128x96, 40
frames, seeds 10000...) are split into two interleaved halves A and B. Each corruption is applied to every
video of B (frame 0, the conditioning frame, is kept where the corruption allows):

  frozen     every frame is frame 0
  fast       twice the speed: every second frame (half the frames)
  reversed   the frames in reverse order
  fade       colours fade linearly to half saturation by the last frame
  blur       a Gaussian blur growing from none to sigma 2 px by the last frame (detail loss)
  flicker    each frame's brightness scaled by a random factor in [0.85, 1.15]
  shuffled   frames 1..F-1 in a random order

Measured on the cpu-preset synthetic test set (16 videos, halves of 8; `--work` kept features between
runs): every corruption is outside the A-vs-B interval for at least one weight-free metric; six of the
seven for an unpaired diagnostic (frozen: motion, fvmd-flow, flicker; 2x speed: motion, fvmd-flow; fade:
saturation-drift; blur: detail-drift, flicker; brightness flicker: flicker, colour-drift; shuffled:
motion, fvmd-flow, flicker). Reversal is caught only by the paired metrics: a real video played backwards
is as plausible as forwards to any statistic of one set, unless its motion has an arrow of time.

One table: a row per corruption, a column per metric. A cell is the metric's value on (A, corrupted B)
divided by its value on (A, B); for diagnostics it is the generated/real ratio (corrupted B over A), and
the A-vs-B row shows the ratio of B over A. Paired metrics compare each corrupted B video with its own
original; their reference row is B against an uncorrupted re-encoded copy of itself (the encoder is
deterministic, so identical: PSNR capped at 100 dB, SSIM 1, L1 0), and their cells show the value
itself, not a ratio. Paired metrics therefore flag any change at all; the unpaired weight-free metrics
(fvmd-flow and the diagnostics) are the ones that say what changed. A cell is **bold** when its value
lies outside the reference row's bootstrap 95% interval.

Extractors are random-init (labelled, the only ones offline) and run at reduced input sizes (--size,
--inception-size), and fvd-cdfvd draws --cdfvd-clips generated clips instead of 2048, to keep the run to
minutes on 2 CPU cores; LPIPS runs only with its VGG16 backbone.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

CORRUPTIONS = ("frozen", "fast", "reversed", "fade", "blur", "flicker", "shuffled")
WEIGHT_FREE_SEES = {
    "fvmd-flow": "kind of motion (velocity/acceleration histograms)",
    "psnr": "pixel agreement with the same-id real video",
    "ssim": "local structure agreement with the same-id real video",
    "l1": "mean pixel difference from the same-id real video",
    "motion": "range of motion (flow magnitude)",
    "colour-drift": "colour change vs frame 0 (CIEDE2000)",
    "saturation-drift": "saturation (chroma) vs frame 0",
    "detail-drift": "texture energy vs frame 0 (gradients)",
    "flicker": "change the flow does not explain (warped difference)",
}


def corrupt(clip: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """A corrupted copy of a uint8 clip (F, H, W, 3)."""
    import cv2

    rng = np.random.default_rng(seed)
    f = len(clip)
    ramp = np.linspace(0.0, 1.0, f)
    if kind == "identity":
        return clip
    if kind == "frozen":
        return np.repeat(clip[:1], f, axis=0)
    if kind == "fast":
        return clip[::2].copy()
    if kind == "reversed":
        return clip[::-1].copy()
    if kind == "fade":
        out = []
        for t, frame in enumerate(clip):
            gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)[..., None]
            sat = 1.0 - 0.5 * ramp[t]
            out.append(np.clip(gray + sat * (frame.astype(np.float32) - gray), 0, 255))
        return np.stack(out).round().astype(np.uint8)
    if kind == "blur":
        return np.stack([frame if s == 0 else cv2.GaussianBlur(frame, (0, 0), s)
                         for frame, s in zip(clip, 2.0 * ramp, strict=True)])
    if kind == "flicker":
        gains = np.concatenate([[1.0], rng.uniform(0.85, 1.15, f - 1)])
        return np.clip(clip.astype(np.float32) * gains[:, None, None, None], 0, 255).round().astype(np.uint8)
    if kind == "shuffled":
        order = np.concatenate([[0], 1 + rng.permutation(f - 1)])
        return clip[order]
    raise ValueError(kind)


def render_synthetic(root: Path, n: int, frames: int = 40) -> Path:
    """2n synthetic videos (128x96, 30 fps) in `root`, for a run without a real set."""
    from ffbench.synthetic import render_video
    from ffbench.video import write_video

    root.mkdir(parents=True, exist_ok=True)
    for i in range(2 * n):
        path = root / f"v{i:04d}.mp4"
        if not path.is_file():  # kept from an earlier run with the same --work folder
            write_video(path, render_video(10_000 + i, frames, 128, 96), 30)
    return root


def build_sets(root: Path, real: Path, max_videos: int | None) -> dict[str, Path]:
    """Write halves A and B, a re-encoded copy of B and each corrupted B as mp4 folders under `root`.

    B keeps its videos' names in every folder, so paired metrics find each corrupted video's original.
    """
    from ffbench.metrics.sources import open_source
    from ffbench.metrics.validation import source_ids
    from ffbench.video import probe_video, read_video, write_video

    items, _ = source_ids(open_source(real, "--real"))
    names = sorted(items)[:max_videos]
    if len(names) < 4:
        raise SystemExit(f"--real {real}: needs at least 4 videos, found {len(names)}")
    dirs = {k: root / k for k in ("A", "B", "identity", *CORRUPTIONS)}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        if (dirs["A" if i % 2 == 0 else "shuffled"] / f"{name}.mp4").is_file():
            continue  # written by an earlier run with the same --work folder (written last, atomically)
        clip = read_video(items[name])
        fps = probe_video(items[name], check_end=False).fps
        if i % 2 == 0:  # interleaved halves: both cover the whole set
            write_video(dirs["A"] / f"{name}.mp4", clip, fps)
            continue
        write_video(dirs["B"] / f"{name}.mp4", clip, fps)
        for kind in ("identity", *CORRUPTIONS):
            write_video(dirs[kind] / f"{name}.mp4", corrupt(clip, kind, seed=i), fps)
    return dirs


def run(dirs: dict[str, Path], args, cache: Path) -> dict[str, dict]:
    """{row: {metric: MetricResult}} for the reference rows and every corruption."""
    from ffbench.metrics.evaluate import evaluate
    from ffbench.metrics.protocols import PAIRED, PROTOCOLS

    size, isize = (args.size, args.size), (args.inception_size, args.inception_size)
    protocols = {k: p.replace(size=size) for k, p in PROTOCOLS.items() if p.network == "i3d"}
    protocols["fvd-cdfvd"] = protocols["fvd-cdfvd"].replace(max_items=args.cdfvd_clips)
    protocols.update({k: PROTOCOLS[k].replace(size=isize) for k in ("fid", "is")})
    kwargs = dict(i3d="random", i3d_vfid="random", inception="random", protocols=protocols,
                  recal_items=args.recal_items, cache_dir=cache, bootstrap=args.bootstrap,
                  lpips_vgg=args.lpips_vgg)
    unpaired = ",".join(m for m in args.metrics.split(",") if m not in PAIRED)
    paired_names = [m for m in args.metrics.split(",") if m in PAIRED]
    rows: dict[str, dict] = {"_skipped": {}}
    if "lpips" in paired_names:  # offline there is no VGG16 backbone: say so and score the others
        from ffbench.metrics.perceptual import load_lpips
        from ffbench.metrics.weights import WeightsError

        try:
            load_lpips(args.lpips_vgg)
        except WeightsError as exc:
            rows["_skipped"]["lpips"] = str(exc)
            paired_names.remove("lpips")
    paired = ",".join(paired_names)
    for row in ("A vs B", *CORRUPTIONS):
        start = time.perf_counter()
        fake = dirs["B" if row == "A vs B" else row]
        found = {}
        if unpaired:
            found.update({r.metric: r for r in evaluate(unpaired, dirs["A"], fake, **kwargs)})
        if paired:
            # Paired: each (corrupted) B video against its own original; the reference is an uncorrupted
            # re-encoded copy of B.
            res = evaluate(paired, dirs["B"], dirs["identity" if row == "A vs B" else row], **kwargs)
            found.update({r.metric: r for r in res})
            rows["_skipped"].update(res.skipped)
        rows[row] = found
        print(f"  {row}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return rows


def _outside(value: float, lo: float, hi: float) -> bool:
    """Outside the reference interval; never when the reference has none (too few videos for one)."""
    return bool(math.isfinite(lo) and math.isfinite(hi) and not lo <= value <= hi)


def cell(metric: str, ref, res) -> tuple[str, bool]:
    """(text, bold) of one cell: ratio to the reference (or the fake/real ratio of a diagnostic)."""
    if res is None:
        return "-", False
    if res.family == "diagnostic":
        lo, hi = ref.detail["ratio_ci"]
        return f"{res.ratio:.3g}", _outside(res.ratio, lo, hi)
    if res.family == "paired":  # the reference is B against itself: a ratio to 0 (L1) says nothing
        return f"{res.value:.4g}", _outside(res.value, ref.ci_low, ref.ci_high)
    ratio = res.value / ref.value if ref.value else math.nan
    return f"{ratio:.3g}", _outside(res.value, ref.ci_low, ref.ci_high)


def table(rows: dict[str, dict], metrics: list[str]) -> tuple[str, dict[str, list[str]]]:
    """The markdown table and, per corruption, the weight-free metrics that flagged it."""
    from ffbench.metrics.protocols import WEIGHT_FREE

    ref = rows["A vs B"]
    shown = [m for m in metrics if m in ref]
    head = ["row"] + [f"{m}{'*' if ref[m].random_init else ''}" for m in shown]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ref_cells = []
    for m in shown:
        r = ref[m]
        if r.family == "diagnostic":
            lo, hi = r.detail["ratio_ci"]
            ref_cells.append(f"{r.ratio:.3g} [{lo:.3g}, {hi:.3g}]")
        else:
            ref_cells.append(f"{r.value:.4g} [{r.ci_low:.4g}, {r.ci_high:.4g}]")
    lines.append("| A vs B (value [95% CI]) | " + " | ".join(ref_cells) + " |")
    caught: dict[str, list[str]] = {}
    for row in CORRUPTIONS:
        cells = []
        for m in shown:
            text, bold = cell(m, ref[m], rows[row].get(m))
            cells.append(f"**{text}**" if bold else text)
            if bold and m in WEIGHT_FREE:
                caught.setdefault(row, []).append(m)
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines), caught


def write_json(path: Path, rows: dict[str, dict], args, command: str, halves: tuple[int, int]) -> None:
    """{command, sizes, halves, rows: {row: {metric: {value, ci_low, ci_high, ratio, random_init}}}}."""
    import json

    def entry(r) -> dict:
        return {"value": r.value, "ci_low": r.ci_low, "ci_high": r.ci_high, "family": r.family,
                "ratio": r.ratio if r.family == "diagnostic" else None,
                "random_init": bool(r.random_init), "extractor": r.extractor}

    out = {"command": command, "size": args.size, "inception_size": args.inception_size,
           "halves": list(halves), "synthetic": args.synthetic,
           "rows": {row: {m: entry(r) for m, r in found.items()}
                    for row, found in rows.items() if row != "_skipped"},
           "skipped": rows.get("_skipped", {})}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=2, default=float) + "\n")
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--real", type=Path,
                        help="real test videos: a shard folder (ffbench prepare) or a folder of videos")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help="render 2N synthetic videos (N per half) instead of reading --real")
    parser.add_argument("--max-videos", type=int, default=None, help="use the first N real videos")
    parser.add_argument("--metrics", default="fvd,fvd-stylegan-v,fvd-cdfvd,kvd,vfid,fid,is,fvmd-flow,psnr,"
                        "ssim,l1,lpips,motion,colour-drift,saturation-drift,detail-drift,flicker")
    parser.add_argument("--size", type=int, default=112,
                        help="I3D input side (protocols: 224; VFID: native size)")
    parser.add_argument("--inception-size", type=int, default=75,
                        help="Inception input side (protocol: 299)")
    parser.add_argument("--cdfvd-clips", type=int, default=32,
                        help="generated clips fvd-cdfvd draws (protocol: 2048; each distinct one is an I3D "
                             "pass)")
    parser.add_argument("--recal-items", type=int, default=64)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--lpips-vgg", default=None, help="vgg16-397923af.pth, for LPIPS")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the video sets and the feature cache here (a rerun reuses them); "
                             "default: a temporary folder")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write every row's values and intervals here (bench/summary.py reads it)")
    args = parser.parse_args()
    if args.synthetic is not None and args.synthetic < 2:
        raise SystemExit(f"--synthetic {args.synthetic}: needs at least 2 videos per half")
    torch.set_num_threads(args.threads)
    from ffbench.metrics.diagnostics import SEES

    command = "PYTHONPATH=$PWD python " + " ".join(shlex.quote(a) for a in sys.argv)
    print("command: " + command)
    metrics = args.metrics.split(",")
    with tempfile.TemporaryDirectory(prefix="ffbench-sensitivity-") as tmp:
        if args.work is not None:
            tmp = args.work
        start = time.perf_counter()
        real = args.real if args.synthetic is None else render_synthetic(Path(tmp) / "real", args.synthetic)
        dirs = build_sets(Path(tmp), real, args.max_videos)
        n = len(list(dirs["A"].iterdir())), len(list(dirs["B"].iterdir()))
        seconds = time.perf_counter() - start
        print(f"halves: A {n[0]} videos, B {n[1]} videos; sets written in {seconds:.0f} s")
        rows = run(dirs, args, Path(tmp) / "cache")
    text, caught = table(rows, metrics)
    print(text)
    ref = rows["A vs B"]
    if args.json is not None:
        write_json(args.json, rows, args, command, n)
    random = [m for m in metrics if m in ref and ref[m].random_init]
    if random:
        print(f"* random-init extractor ({', '.join(random)}): I3D at {args.size}x{args.size}, Inception at "
              f"{args.inception_size}x{args.inception_size}, fvd-cdfvd on {args.cdfvd_clips} generated "
              "clips; numbers compare rows of this table only.")
    for m, reason in rows.get("_skipped", {}).items():
        print(f"skipped {m}: {reason}")
    print("Paired metrics (psnr, ssim, l1, lpips; cells are values, not ratios) compare each corrupted video "
          "with its own original; their reference is B against an identical re-encoded copy, so any change "
          "stands out.")
    print("Weight-free metrics and what they see:")
    for m in WEIGHT_FREE_SEES:
        if m in ref:
            print(f"  {m}: {WEIGHT_FREE_SEES[m]}" + (f" -- {SEES[m]}" if m in SEES else ""))
    unpaired = {"fvmd-flow", "motion", "colour-drift", "saturation-drift", "detail-drift", "flicker"}
    if not any(m in ref for m in WEIGHT_FREE_SEES):
        return
    print("Caught (outside the A-vs-B interval) by a weight-free metric:")
    for row in CORRUPTIONS:
        found = caught.get(row, [])
        blind = [m for m in found if m in unpaired]
        print(f"  {row}: {', '.join(found) or 'NONE'}" + ("" if blind else "  (by paired metrics only)"))


if __name__ == "__main__":
    main()
