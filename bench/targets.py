"""Issue 14's open targets, restated (issue 26, Deliver 5), as figures from a finished demo folder.

For each FashionFlow run (the demo's, and any other training seed, `--run NAME=DIR`):

1. lowest frame: the lowest paired PSNR of any generated frame (frames 1..F-1) of any test video, as issue
   14 defined it, against the `reversed` reference's lowest frame minus 1 dB. `reversed` is the same
   person re-rendered from the same first frame with her motion played backwards in time (bench/quality.py's
   reference: an equally likely future, so what a perfect model that cannot know which way the video goes
   scores). The demo does not generate it: it is taken from DEMO/runs/reversed/samples when that folder
   exists, else rendered by bench/quality.py's `reversed_video` from the synthetic dataset's seed (the real
   split's manifest, or --synthetic-seed); off synthetic data it cannot be made and the output says so.
   Beside it, the mean over test ids of each video's lowest frame, paired against `reversed`'s minus 1 dB.
2. fvmd-flow against `static`: fvmd-flow(run) - fvmd-flow(static), one shared resample of the test ids and
   of the real videos (`ffbench.metrics.comparison.distribution_difference`, BCa 95% interval). The store
   keeps no per-video values of a distribution metric, so the per-video motion vectors are computed here by
   eval's own flow analysis (`analyse_set`, through the demo's cache), on eval's frames and size.
3. colour drift against the real videos' own: mean over test ids of colour-drift(generated) -
   colour-drift(real video), paired (`paired_difference`). The values come from the per-video store
   (`<leaderboard>/per_video/<dataset>.csv`, the run's latest eval, column `real_value` for the real
   video's own); a run not in the store is computed by the same diagnostic and labelled "computed".

These are figures, not gates, with one exception: when the paired fvmd-flow test says a run is worse than
`static` (interval above 0), the script says so and exits with status 1. Tests per run are not adjusted for
multiplicity (each seed is its own question).

A second training seed (the demo's FashionFlow command with `--seed 1` and its own folder; about 15
minutes of training, 1.5 of generating and under one of eval on one core of this machine):

    ffbench train fashionflow --shards demo/data --preset cpu --out demo/runs/fashionflow-seed1 \\
        --steps 2000 --lr 1e-3 --checkpoint-every 250 --ema-decay 0.99 --threads 1 --seed 1
    ffbench generate demo/data/shards/test --checkpoint demo/runs/fashionflow-seed1 \\
        -o demo/runs/fashionflow-seed1/samples --threads 1
    ffbench eval --metric colour-drift --real demo/data --leaderboard-dir demo/leaderboard \\
        --dataset synthetic-cpu --cache-dir demo/cache --threads 1 \\
        --fake demo/runs/fashionflow-seed1/samples --method fashionflow-seed1
    python bench/targets.py demo --run fashionflow=demo/runs/fashionflow/samples \\
        --run fashionflow-seed1=demo/runs/fashionflow-seed1/samples --json demo/targets.json

(`generate` seeds each video's noise by its name and `--seed`, default 0, so the second run differs from the
first by its training seed only.)

    python bench/targets.py DEMO [--run NAME=DIR ...] [--static DIR] [--dataset synthetic-cpu]
        [--resamples 2000] [--seed 0] [--synthetic-seed N] [--json PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ffbench.metrics.comparison import DEFAULT_RESAMPLES, distribution_difference, paired_difference  # noqa: E402

MARGIN_DB = 1.0  # the restated target: reversed's lowest frame minus 1 dB
DATASET = "synthetic-cpu"  # scripts/demo.sh's --dataset


@dataclass
class Figure:
    """One target's figure for one run: value against its bar, a 95% interval where one exists, a verdict.

    available False: the figure could not be computed from what the demo left (`note` says why).
    """

    target: str
    available: bool = True
    value: float = math.nan
    reference: float = math.nan  # the bar (lowest frame) or the compared quantity (static, real videos)
    estimate: float = math.nan  # the paired difference value - reference
    low: float = math.nan
    high: float = math.nan
    p_value: float = math.nan
    n_videos: int = 0
    verdict: str = ""
    source: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)


def parse_run(text: str) -> tuple[str, Path]:
    """'NAME=DIR' -> (NAME, DIR); NAME is the run's --method in the leaderboard, DIR its generated videos."""
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise ValueError(f"--run {text!r}: give NAME=DIR, e.g. fashionflow-seed1=demo/runs/fashionflow-seed1/"
                         "samples (NAME: the run's --method in the leaderboard)")
    return name, Path(folder)


# --- the videos ------------------------------------------------------------------------------------------


def video_items(folder: Path, flag: str) -> dict:
    """{test id: path} of a folder of generated videos (eval's reader; errors name `flag`)."""
    from ffbench.metrics.sources import open_fake
    from ffbench.metrics.validation import source_ids

    try:
        return source_ids(open_fake(folder))[0]
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None


def real_items(real: Path) -> tuple[dict, Path]:
    """{test id: path or bytes} of the real test set (a prepared data folder, its split, or videos) and its
    resolved folder."""
    from ffbench.metrics.sources import open_real
    from ffbench.metrics.validation import source_ids

    src = open_real(real)
    return source_ids(src)[0], src.root


def _quality():
    """bench/quality.py as a module: `reversed_video` and `synthetic_seed` (one definition of reversed)."""
    spec = importlib.util.spec_from_file_location("bench_quality", Path(__file__).with_name("quality.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_quality", module)  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def reversed_videos(demo: Path, real: dict, real_root: Path, synthetic_seed: int | None, ids: list[str],
                    frames: int) -> tuple[dict, str]:
    """{id: uint8 (frames, H, W, 3)} of the reversed reference and where it came from; ({}, why) when none."""
    from ffbench.video import read_video

    folder = demo / "runs" / "reversed" / "samples"
    if folder.is_dir():
        items = video_items(folder, str(folder))
        missing = sorted(set(ids) - set(items))
        if missing:
            more = ", ..." if len(missing) > 3 else ""
            return {}, f"{folder} lacks test ids {', '.join(missing[:3])}{more}"
        return {i: read_video(items[i]) for i in ids}, f"generated videos in {folder}"
    quality = _quality()
    seed = synthetic_seed
    if seed is None:
        try:
            seed = quality.synthetic_seed(real_root)
        except (OSError, ValueError):
            seed = None
    if seed is None:
        return {}, (f"no {folder} and {real_root} is not a synthetic split with a manifest seed: the "
                    "reversed reference needs the synthetic generator (--synthetic-seed: the dataset seed)")
    out = {}
    for i in ids:
        first = read_video(real[i], indices=range(frames))  # renders at its size and frame count
        video = quality.reversed_video(i, seed, first)
        if video is None:
            return {}, f"test id {i!r} is not a synthetic video name (synth_test_NNNN): cannot render it"
        out[i] = video
    return out, f"rendered from the synthetic generator, dataset seed {seed} (bench/quality.py)"


def frame_psnr(fake, real, frames: int) -> np.ndarray:
    """Paired PSNR (dB) of frames 1..frames-1 of `fake` against `real`, eval's `correct` protocol."""
    from ffbench.metrics.paired import parse_frames, score_pair
    from ffbench.video import read_video

    fake = fake if isinstance(fake, np.ndarray) else read_video(fake)
    real = real if isinstance(real, np.ndarray) else read_video(real)
    return score_pair(fake[:frames], real, ["psnr"], "correct", parse_frames("1:"))["psnr"]


# --- the three figures -----------------------------------------------------------------------------------


def lowest_frame(run: dict, backwards: dict[str, np.ndarray], real: dict, ids: list[str], frames: int,
                 why: str, resamples: int, seed: int) -> list[Figure]:
    """Issue 14's lowest frame (any frame of any video) against reversed's minus 1 dB, and the per-video
    mean of lowest frames paired against reversed's minus 1 dB."""
    run_curves = {i: frame_psnr(run[i], real[i], frames) for i in ids}
    run_min = np.array([run_curves[i].min() for i in ids])
    worst = int(np.argmin(run_min))
    where = {"video": ids[worst], "frame": int(np.argmin(run_curves[ids[worst]])) + 1}
    if not backwards:
        note = f"reversed reference unavailable: {why}"
        return [Figure("lowest frame >= reversed's - 1 dB", value=float(run_min.min()), available=False,
                       note=note, extra=where),
                Figure("mean lowest frame >= reversed's - 1 dB", value=float(run_min.mean()), available=False,
                       note=note)]
    rev_min = np.array([frame_psnr(backwards[i], real[i], frames).min() for i in ids])
    bar = float(rev_min.min()) - MARGIN_DB
    value = float(run_min.min())
    overall = Figure("lowest frame >= reversed's - 1 dB", value=value, reference=bar, estimate=value - bar,
                     n_videos=len(ids), verdict="meets the bar" if value >= bar else "below the bar",
                     source=why, note="a minimum over all frames of all videos: no interval",
                     extra={**where, "reversed_lowest": float(rev_min.min())})
    est, iv, p = paired_difference(run_min, rev_min - MARGIN_DB, resamples, seed)
    verdict = _verdict(iv.low, iv.high, "above the bar", "below the bar", "not apart from the bar")
    mean = Figure("mean lowest frame >= reversed's - 1 dB", value=float(run_min.mean()),
                  reference=float(rev_min.mean()) - MARGIN_DB, estimate=est, low=iv.low, high=iv.high,
                  p_value=p, n_videos=len(ids), verdict=verdict,
                  source=why, note="per video: the lowest frame's PSNR; paired over the test ids")
    return [overall, mean]


def _verdict(low: float, high: float, above: str, below: str, neither: str) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no interval"
    return above if low > 0 else below if high < 0 else neither


def analyses(items: dict, frames: int, size: tuple[int, int], cache_dir: Path | None) -> dict:
    """Eval's flow analysis of every video (cut to `frames`, resized to `size`), through its cache."""
    from ffbench.metrics.diagnostics import analyse_set

    return analyse_set(items, frames, size, cache_dir)


def fvmd_against_static(run: dict, static: dict, real: dict, resamples: int, seed: int) -> Figure:
    """fvmd-flow(run) - fvmd-flow(static) on their shared test ids, with the real set resampled alike."""
    from ffbench.metrics.frechet import frechet_distance_weighted

    target = "fvmd-flow below static's (paired)"
    ok = lambda d: {k: a.fvmd for k, a in d.items() if np.isfinite(a.fvmd).all()}  # noqa: E731
    run_v, static_v, real_v = ok(run), ok(static), ok(real)
    ids = sorted(set(run_v) & set(static_v))
    if len(ids) < 3 or len(real_v) < 3:
        return Figure(target, available=False, note=f"fvmd-flow needs 3+ videos of 16+ frames per set: "
                      f"{len(ids)} shared generated ids, {len(real_v)} real")
    r = np.stack(list(real_v.values()))
    a, b = np.stack([run_v[i] for i in ids]), np.stack([static_v[i] for i in ids])
    ones = lambda x: np.ones(len(x))  # noqa: E731
    own = [frechet_distance_weighted(x, ones(x), r, ones(r)) for x in (a, b)]
    idx = np.arange(len(ids))
    est, iv, p = distribution_difference(r, np.arange(len(r)), a, idx, b, idx, resamples=resamples, seed=seed)
    verdict = _verdict(iv.low, iv.high, "WORSE than static on motion fidelity: this target is a gate, and it "
                       "fails", "better than static", "not told apart from static")
    return Figure(target, value=float(own[0]), reference=float(own[1]), estimate=est, low=iv.low,
                  high=iv.high, p_value=p, n_videos=len(ids), verdict=verdict,
                  source="per-video motion vectors by eval's flow analysis", note=iv.reason,
                  extra={"n_real": len(r), "gate_failed": bool(iv.low > 0)})


def store_colour_drift(store, method: str) -> tuple[dict[str, float], dict[str, float]] | None:
    """(generated, real) per-video colour drift of `method`'s latest eval in the per-video store, or None."""
    if store is None:
        return None
    rows = store[(store["method"] == method) & (store["metric"] == "colour-drift")]
    if not len(rows):
        return None
    rows = rows[rows["time"] == rows["time"].max()]
    values = {str(v): float(x) for v, x in zip(rows["video"], rows["value"], strict=True)}
    real = {}
    for v, x in zip(rows["video"], rows["real_value"], strict=True):
        if str(x).strip():
            real[str(v)] = float(x)
    return values, real


def colour_drift(run_values: dict[str, float], real_values: dict[str, float], source: str, resamples: int,
                 seed: int) -> Figure:
    """mean(colour drift of the generated video - the real video's own) over the shared test ids."""
    target = "colour drift vs the real videos' own (paired)"
    ids = sorted(i for i in set(run_values) & set(real_values)
                 if math.isfinite(run_values[i]) and math.isfinite(real_values[i]))
    if len(ids) < 3:
        return Figure(target, available=False, source=source,
                      note=f"{len(ids)} test ids with both values; a paired difference needs 3")
    a, b = np.array([run_values[i] for i in ids]), np.array([real_values[i] for i in ids])
    est, iv, p = paired_difference(a, b, resamples, seed)
    return Figure(target, value=float(a.mean()), reference=float(b.mean()), estimate=est, low=iv.low,
                  high=iv.high, p_value=p, n_videos=len(ids), source=source,
                  verdict=_verdict(iv.low, iv.high, "drifts more than the real videos",
                                   "drifts less than the real videos", "not told apart from the real videos"),
                  extra={"ratio": float(a.mean() / b.mean()) if b.mean() > 0 else None})


# --- output ----------------------------------------------------------------------------------------------


def _num(x: float, digits: int = 2) -> str:
    return "-" if not math.isfinite(x) else f"{x:.{digits}f}"


def markdown(results: dict[str, list[Figure]]) -> str:
    """One table: a row per (run, target)."""
    lines = ["| run | target | value | reference | difference [95% interval] | p | N | verdict | source |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run, figures in results.items():
        for f in figures:
            d = 0 if "fvmd" in f.target else 2
            if not f.available:
                lines.append(f"| {run} | {f.target} | {_num(f.value, d)} | - | - | - | - | not available: "
                             f"{f.note} | {f.source or '-'} |")
                continue
            interval = "" if not math.isfinite(f.low) else f" [{_num(f.low, d)}, {_num(f.high, d)}]"
            verdict = f.verdict + (f" ({f.note})" if f.note else "")
            lines.append(f"| {run} | {f.target} | {_num(f.value, d)} | {_num(f.reference, d)} | "
                         f"{_num(f.estimate, d)}{interval} | {_num(f.p_value, 3)} | {f.n_videos} | "
                         f"{verdict} | {f.source} |")
    return "\n".join(lines)


def measure(demo: Path, runs: list[tuple[str, Path]], static_dir: Path, real: Path, dataset: str,
            leaderboard: Path, cache_dir: Path | None, resamples: int, seed: int,
            synthetic_seed: int | None) -> dict[str, list[Figure]]:
    """Every figure of every run (inputs are all checked before any is computed)."""
    from ffbench.metrics.sources import open_fake, open_real
    from ffbench.metrics.validation import validate_fake
    from ffbench.per_video_store import read_store

    reals, real_root = real_items(real)
    items = {name: video_items(folder, f"--run {name}={folder}") for name, folder in runs}
    static = video_items(static_dir, f"--static {static_dir}")
    for name, got in [*items.items(), ("static", static)]:
        if not set(got) & set(reals):
            raise ValueError(f"{name}: none of its video ids is a test id of {real_root}; pass generated "
                             "videos of this test set")
    store = read_store(leaderboard, dataset) if leaderboard.is_dir() else None
    # Eval analyses and compares at the generated videos' frame count and size (validate_fake).
    shape = {name: validate_fake(open_real(real), open_fake(folder)) for name, folder in
             [*runs, ("static", static_dir)]}
    for name, report in shape.items():
        if report.problems:  # as eval refuses them: mixed frame counts or sizes would not be one protocol
            raise ValueError(f"{name}'s videos: " + "; ".join(report.problems))
    reversed_cache: dict = {}
    out: dict[str, list[Figure]] = {}
    real_cache: dict = {}
    for name, _ in runs:
        report = shape[name]
        frames, size = report.frames, tuple(report.size)
        ids = sorted(set(items[name]) & set(reals))
        if (frames, size) not in real_cache:
            real_cache[(frames, size)] = analyses(reals, frames, size, cache_dir)
        real_an = real_cache[(frames, size)]
        run_an = analyses({i: items[name][i] for i in ids}, frames, size, cache_dir)
        key = (tuple(ids), frames)  # reversed is the same for every run of one test set
        if key not in reversed_cache:
            reversed_cache[key] = reversed_videos(demo, reals, real_root, synthetic_seed, ids, frames)
        backwards, why = reversed_cache[key]
        figures = lowest_frame(items[name], backwards, reals, ids, frames, why, resamples, seed)
        if (shape["static"].frames, tuple(shape["static"].size)) == (frames, size):
            static_an = analyses(static, frames, size, cache_dir)
            figures.append(fvmd_against_static(run_an, static_an, real_an, resamples, seed))
        else:
            figures.append(Figure("fvmd-flow below static's (paired)", available=False,
                                  note=f"static's videos are {shape['static'].frames} frames at "
                                       f"{shape['static'].size}, {name}'s {frames} at {size}: not paired"))
        stored = store_colour_drift(store, name)
        if stored is not None:
            figures.append(colour_drift(*stored, f"per-video store ({dataset}), {name}'s latest eval",
                                        resamples, seed))
        else:
            from ffbench.metrics.diagnostics import PER_VIDEO

            drift = PER_VIDEO["colour-drift"]
            figures.append(colour_drift({i: drift(a) for i, a in run_an.items()},
                                        {i: drift(real_an[i]) for i in ids}, f"computed ({name} not in the "
                                        "per-video store)", resamples, seed))
        out[name] = figures
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__[__doc__.index("A second training seed"):],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("demo", type=Path, help="the demo folder (`make demo`'s DEMO, default layout)")
    parser.add_argument("--run", action="append", default=None, metavar="NAME=DIR",
                        help="a FashionFlow run: its leaderboard --method and its generated videos; repeat "
                             "for each training seed (default: fashionflow=DEMO/runs/fashionflow/samples)")
    parser.add_argument("--static", type=Path, default=None,
                        help="static's generated videos (default: DEMO/runs/static/samples)")
    parser.add_argument("--real", type=Path, default=None, help="the real test set (default: DEMO/data)")
    parser.add_argument("--leaderboard-dir", type=Path, default=None,
                        help="the leaderboard folder with per_video/ (default: DEMO/leaderboard)")
    parser.add_argument("--dataset", default=DATASET, help=f"leaderboard name (default {DATASET})")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="eval's cache of flow analyses (default: DEMO/cache if it exists)")
    parser.add_argument("--synthetic-seed", type=int, default=None,
                        help="dataset seed for rendering reversed (default: the real split's manifest)")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                        help=f"bootstrap resamples (default {DEFAULT_RESAMPLES}, the leaderboard's)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    demo = args.demo
    if not demo.is_dir():
        parser.error(f"{demo}: not a directory; pass the folder `make demo` wrote (DEMO, default demo)")
    try:
        default = f"fashionflow={demo / 'runs' / 'fashionflow' / 'samples'}"
        runs = [parse_run(r) for r in (args.run or [default])]
    except ValueError as exc:
        parser.error(str(exc))
    if len({n for n, _ in runs}) != len(runs):
        parser.error("--run: each NAME once")
    if args.resamples < 100:
        parser.error(f"--resamples {args.resamples}: give at least 100")
    cache = args.cache_dir or (demo / "cache" if (demo / "cache").is_dir() else None)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None
                                                                             else sys.argv[1:])])
    print(f"$ {command}")
    try:
        results = measure(demo, runs, args.static or demo / "runs" / "static" / "samples",
                          args.real or demo / "data", args.dataset,
                          args.leaderboard_dir or demo / "leaderboard", cache, args.resamples, args.seed,
                          args.synthetic_seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(results))
    gate = [n for n, figs in results.items() for f in figs if f.extra.get("gate_failed")]
    print("\nfigures, not gates" + (f"; GATE FAILED (fvmd-flow worse than static): {', '.join(gate)}" if gate
                                    else "; the fvmd-flow gate holds (no run is worse than static)"))
    if args.json is not None:
        from ffbench.fileio import write_json_atomic

        write_json_atomic(args.json, {"command": command, "demo": str(demo), "resamples": args.resamples,
                                      "seed": args.seed, "gate_failed": gate,
                                      "runs": {n: [_jsonable(asdict(f)) for f in figs]
                                               for n, figs in results.items()}})
    return 1 if gate else 0


def _jsonable(d: dict) -> dict:
    """NaN -> None (strict JSON)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


if __name__ == "__main__":
    sys.exit(main())
