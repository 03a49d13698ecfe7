"""Does a trained FashionFlow pipeline keep the person and garment of its input, and still move?

For each test video of a prepared split, the pipeline generates a clip from the video's stored
conditioning frame (cond.png, as `ffbench generate` does) and every generated frame is compared with
the real frame at the same index. Beside the model, three references are scored the same way:

    static      every frame is the conditioning frame: what a model that learned no motion scores;
                on the slowly moving synthetic data a good model comes close to it
    vae-recon   the real latents decoded by the pipeline's VAE: the ceiling for anything that
                generates through this VAE
    noise       uniform random pixels: what the model must beat clearly
    reversed    (synthetic data only) the same person rendered from the same first frame with her motion
                played backwards in time: an equally likely future, so what a perfect model that cannot
                know which way the video goes scores; it bounds the paired scores a model can reach

Paired scores (frame 0 is the conditioning frame itself and is left out): PSNR (dB) and L1 (pixel
values in [0, 1]) per frame, averaged over videos; their mean over frames 1..F-1; and the lowest PSNR
of any generated frame of any video (a frame that dissolved into a blob shows here, not in a mean).

Video diagnostics, for the real videos as well, computed by `ffbench eval`'s own code
(ffbench.metrics.diagnostics, weight-free, so they rank methods offline):
    motion         mean optical-flow magnitude between consecutive frames (px/frame)
    colour-drift   CIEDE2000 of the person box's mean colour at frame t vs frame 0, mean over t
    detail-drift   gradient energy of frame t over frame 0, mean over t (1 = kept; < 1 lost, > 1 noise)
Each is also given as a ratio to the real videos' own; detail-drift's target compares the departures
from 1 (a model that blurs must not pass by falling below the real videos). fvmd-flow (eval's Frechet
distance of motion histograms, with its bootstrap interval over videos) is given for the model, static and
reversed. The targets of issue 14 are printed with them.

A contact sheet PNG (per video a real row and a generated row; frames 0, 3, 7, 11, 15 of the first three
videos) is written beside the pipeline unless --sheet says where.

    python bench/quality.py PIPELINE SHARDS/test [--videos 16] [--sampler KIND] [--steps N]
        [--threads 1] [--sheet PATH] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ffbench.metrics.diagnostics import PER_VIDEO, fvmd_result  # noqa: E402
from ffbench.metrics.fvmd import SEGMENT as FVMD_SEGMENT  # noqa: E402
from ffbench.metrics.paired import l1_frames, psnr_frames  # noqa: E402
from ffbench.metrics.video_analysis import analyse_video  # noqa: E402
from ffbench.models.fashionflow.schedule import SAMPLERS  # noqa: E402

REFERENCES = ("model", "static", "vae-recon", "noise", "reversed")
DIAGNOSED = ("real", "model", "static", "reversed")
SHEET_FRAMES = (0, 3, 7, 11, 15)
SHEET_VIDEOS = 3
DIAGNOSTICS = ("motion", "colour-drift", "detail-drift")
FVMD_RESAMPLES = 200  # ffbench eval's default --bootstrap


def psnr(fake: np.ndarray, real: np.ndarray) -> float:
    """PSNR in dB of uint8 images (H, W, 3), peak 255: the library's paired PSNR (`ffbench eval --metric
    psnr`'s, capped at 100 dB for identical frames)."""
    return float(psnr_frames(fake[None], real[None], "correct")[0])


def l1(fake: np.ndarray, real: np.ndarray) -> float:
    """Mean absolute difference of uint8 images (H, W, 3) in units of the full range ([0, 1]): the library's
    paired L1."""
    return float(l1_frames(fake[None], real[None], "correct")[0])


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


@dataclass(frozen=True)
class Backwards:
    """A synthetic motion played backwards in time: the same pose at t = 0, a different future."""

    motion: object  # ffbench.synthetic.Motion

    def pose(self, t: np.ndarray):
        return self.motion.pose(-np.asarray(t, dtype=np.float64))


def synthetic_seed(split_dir: Path) -> int | None:
    """The dataset seed of a split prepared with `--synthetic`, else None."""
    from ffbench.datasets.manifest import read_manifest

    synth = read_manifest(split_dir).get("settings", {}).get("synthetic")
    return None if not synth else int(synth["seed"])


def reversed_video(key: str, dataset_seed: int | None, real: np.ndarray) -> np.ndarray | None:
    """The synthetic video `key` re-rendered with its motion reversed in time (None off synthetic data)."""
    from ffbench.synthetic import render_clip, sample_video
    from ffbench.synthetic.dataset import video_seed

    match = re.fullmatch(r"synth_(train|test)_(\d+)", key)
    if dataset_seed is None or match is None:
        return None
    look, motion = sample_video(video_seed(dataset_seed, match[1], int(match[2])))
    frames, height, width = real.shape[:3]
    return render_clip(look, Backwards(motion), frames, height, width)


def candidate_videos(pipe, sample: dict, frames: int, steps: int, seed: int,
                     dataset_seed: int | None = None) -> tuple[np.ndarray, dict]:
    """The real video (F, H, W, 3) uint8 and the model's and references' videos of the same shape."""
    from PIL import Image

    from ffbench.encoders import tensor_to_frames
    from ffbench.seeding import noise_seed
    from ffbench.video import read_video

    real = read_video(sample["mp4"], indices=range(frames))  # (F, H, W, 3) uint8
    image = np.asarray(Image.open(io.BytesIO(sample["cond.png"])).convert("RGB"))
    generator = torch.Generator("cpu").manual_seed(noise_seed(seed, sample["key"]))  # as `generate` does
    fake = pipe(image, num_frames=frames, num_inference_steps=steps, generator=generator,
                output_type="np").frames[0]
    fake = (np.clip(fake, 0.0, 1.0) * 255).round().astype(np.uint8)
    latents = torch.from_numpy(np.load(io.BytesIO(sample["latents.npy"]))[:frames].astype(np.float32))
    recon = pipe.decode(latents.permute(1, 0, 2, 3)[None], chunk_size=8)[0]  # (3, F, H, W) in [-1, 1]
    recon = tensor_to_frames(recon)
    rng = np.random.default_rng(seed)
    videos = {
        "model": fake,
        "static": np.ascontiguousarray(np.broadcast_to(real[:1], real.shape)),
        "vae-recon": recon,
        "noise": rng.integers(0, 256, real.shape, dtype=np.uint8),
    }
    backwards = reversed_video(sample["key"], dataset_seed, real)
    if backwards is not None:
        videos["reversed"] = backwards
    for name, video in videos.items():
        if video.shape != real.shape:
            raise ValueError(f"{name} video has shape {video.shape}, the real one {real.shape}: the "
                             "pipeline's frame size differs from the shards'; score shards of its preset")
    return real, videos


def paired_scores(real: np.ndarray, videos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-frame (PSNR, L1) of each video against `real`, frames 1..F-1: name -> (F-1, 2)."""
    return {name: np.array([(psnr(v[f], real[f]), l1(v[f], real[f])) for f in range(1, len(real))])
            for name, v in videos.items()}


def score_video(pipe, sample: dict, frames: int, steps: int, seed: int) -> dict[str, np.ndarray]:
    """Per-frame (PSNR, L1) of the model and the references for one test video: name -> (F-1, 2)."""
    return paired_scores(*candidate_videos(pipe, sample, frames, steps, seed))


def measures(analysis) -> dict[str, float]:
    """`ffbench eval`'s per-video motion, colour-drift and detail-drift of one video's analysis."""
    return {name: PER_VIDEO[name](analysis) for name in DIAGNOSTICS}


def diagnostics(video: np.ndarray) -> dict[str, float]:
    """`measures` of a uint8 video (F, H, W, 3)."""
    return measures(analyse_video(video))


def contact_sheet(rows: list[tuple[str, np.ndarray, np.ndarray]], frames=SHEET_FRAMES):
    """The report's contact sheet: per (key, real, fake) a real row and a generated row."""
    from ffbench.report.media import contact_sheet as sheet

    labelled = [(f"{name}\n{key}", video) for key, real, fake in rows
                for name, video in (("real", real), ("generated", fake))]
    return sheet(labelled, [f for f in frames if f < len(rows[0][1])])


def _ratio(value: float, real: float) -> float:
    return value / real if real > 0 else float("inf")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", type=Path, help="FashionFlowPipeline directory (<run>/pipeline)")
    parser.add_argument("shards", type=Path, help="prepared split folder, e.g. DATA/shards/test")
    parser.add_argument("--videos", type=int, default=16, help="test videos to score (default 16)")
    parser.add_argument("--frames", type=int, default=None, help="frames (default: the model's clip length)")
    parser.add_argument("--steps", type=int, default=None,
                        help="sampler steps (default: the pipeline's default for its sampler)")
    parser.add_argument("--sampler", default=None, choices=tuple(SAMPLERS),
                        help="sampler (default: the one saved with the pipeline)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="contact sheet PNG (default: quality_sheet.png beside the pipeline folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.videos < 1:
        parser.error(f"--videos {args.videos}: give at least 1")
    torch.set_num_threads(args.threads)

    from ffbench.models.fashionflow.generate import load_pipeline
    from ffbench.models.fashionflow.schedule import default_steps, sampler_kind, switch_sampler

    command = "$ python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    print(command)
    pipe = load_pipeline(args.pipeline, device="cpu")
    if args.sampler is not None:
        pipe.scheduler = switch_sampler(pipe.scheduler, args.sampler)
    kind = sampler_kind(pipe.scheduler)
    steps = args.steps or default_steps(kind)
    pipe.set_progress_bar_config(disable=True)
    frames = args.frames or pipe.unet.config.num_frames
    if frames < 2:
        parser.error(f"--frames {frames}: frame 0 is the conditioning frame; give at least 2")
    samples = load_split(args.shards, args.videos)
    dataset_seed = synthetic_seed(args.shards)
    start = time.perf_counter()
    scores, analyses, sheet_rows = [], {n: {} for n in DIAGNOSED}, []
    for s in samples:
        real, videos = candidate_videos(pipe, s, frames, steps, args.seed, dataset_seed)
        scores.append(paired_scores(real, videos))
        for name, video in (("real", real), *videos.items()):
            if name in analyses:
                analyses[name][s["key"]] = analyse_video(video)
        if len(sheet_rows) < SHEET_VIDEOS:
            sheet_rows.append((s["key"], real, videos["model"]))
    seconds = time.perf_counter() - start
    names = [n for n in REFERENCES if all(n in s for s in scores)]  # reversed: synthetic data only
    mean = {name: np.mean([s[name] for s in scores], axis=0) for name in names}  # (F-1, 2)
    low = {name: float(min(s[name][:, 0].min() for s in scores)) for name in names}

    print(f"{len(samples)} test videos x {frames} frames, {kind}-{steps}, seed {args.seed}, "
          f"{seconds / len(samples):.1f} s per video incl. diagnostics ({args.threads} thread(s))")
    print("PSNR dB (higher is better) | L1 in [0, 1] (lower is better), mean over videos; frame 0 is given")
    print("frame " + "".join(f"{n:>20s}" for n in names))

    def row(label: str, rows: slice | int) -> str:
        cells = (mean[n][rows].reshape(-1, 2).mean(0) for n in names)
        return f"{label:>5s} " + "".join(f"{p:11.2f} |{d:7.4f}" for p, d in cells)

    for f in range(frames - 1):
        print(row(str(f + 1), f))
    print(row("mean", slice(None)))
    lows = "".join(f"{low[n]:11.2f} |{'':7s}" for n in names)
    print(f"  min {lows}  (lowest frame of any video)")
    for n in ("model", "static"):
        v, f = divmod(int(np.argmin([sc[n][:, 0] for sc in scores])), frames - 1)
        print(f"{n}'s lowest frame: {samples[v]['key']} frame {f + 1}, {scores[v][n][f, 0]:.2f} dB "
              f"(static there {scores[v]['static'][f, 0]:.2f} dB)")
    per_video = " ".join(f"{s['model'][:, 0].mean():.1f}" for s in scores)
    print(f"model mean PSNR per video: {per_video}")

    diagnosed = [n for n in DIAGNOSED if len(analyses[n]) == len(samples)]
    measured = {name: [measures(a) for a in analyses[name].values()] for name in diagnosed}
    diag = {name: {k: float(np.mean([d[k] for d in rows])) for k in DIAGNOSTICS}
            for name, rows in measured.items()}
    print("\ndiagnostic     " + "".join(f"{n:>18s}" for n in diagnosed))
    for k in DIAGNOSTICS:
        cells = "".join(f"{diag[n][k]:9.3f} ({_ratio(diag[n][k], diag['real'][k]):5.2f}x)" for n in diagnosed)
        print(f"{k:<14s} {cells}")
    fvmd = {}
    if frames >= FVMD_SEGMENT:
        size = tuple(real.shape[1:3])
        for name in diagnosed[1:]:
            result = fvmd_result(analyses[name], analyses["real"], frames, size, FVMD_RESAMPLES, args.seed)
            fvmd[name] = (result.value, result.ci_low, result.ci_high)
        print("fvmd-flow      " + " " * 18 + "".join(f"{v:7.0f} [{lo:.0f},{hi:.0f}]".rjust(18)
                                                     for v, lo, hi in fvmd.values()))

    model_psnr, static_psnr = float(mean["model"][:, 0].mean()), float(mean["static"][:, 0].mean())
    ratio = {k: _ratio(diag["model"][k], diag["real"][k]) for k in ("motion", "colour-drift")}
    detail_departure = _ratio(abs(1 - diag["model"]["detail-drift"]), abs(1 - diag["real"]["detail-drift"]))
    print(f"detail-drift departure from 1: {detail_departure:.2f}x the real videos'")
    checks = {
        "colour-drift <= 1.5x real": ratio["colour-drift"] <= 1.5,
        "detail-drift |1 - d| <= 1.5x real": detail_departure <= 1.5,
        "motion 0.5x..2x real": 0.5 <= ratio["motion"] <= 2.0,
        "paired PSNR within 2 dB of static": model_psnr >= static_psnr - 2.0,
        "no generated frame below 15 dB": low["model"] >= 15.0,
    }
    if fvmd:
        checks["fvmd-flow below static's, intervals apart"] = fvmd["model"][2] < fvmd["static"][1]
    print("\nissue 14 targets:")
    for name, ok in checks.items():
        print(f"  {'held ' if ok else 'MISSED'} {name}")
    if "reversed" in names:
        rev = mean["reversed"][:, 0].mean()
        print(f"  (reversed, a perfect model's future played the other way: PSNR {rev:.2f} dB, lowest frame "
              f"{low['reversed']:.2f} dB)")

    sheet_path = args.sheet or args.pipeline.resolve().parent / "quality_sheet.png"
    sheet_path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(sheet_rows).save(sheet_path)
    print(f"contact sheet: {sheet_path}")
    result = {
        "command": command[2:], "videos": len(samples), "frames": frames, "sampler": kind, "steps": steps,
        "seconds_per_video": seconds / len(samples),
        "psnr": {n: float(mean[n][:, 0].mean()) for n in names},
        "l1": {n: float(mean[n][:, 1].mean()) for n in names},
        "psnr_per_frame": {n: [float(x) for x in mean[n][:, 0]] for n in names},
        "psnr_min": low, "diagnostics": diag, "fvmd_flow": {n: list(v) for n, v in fvmd.items()},
        "targets": checks, "sheet": str(sheet_path),
    }
    if args.json is not None:
        from ffbench.fileio import write_json_atomic

        write_json_atomic(args.json, result)
    return result


if __name__ == "__main__":
    main()
