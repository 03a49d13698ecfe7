"""Every ffbench benchmark in one run, and one markdown table of the ratios with the command behind each.

    python bench/summary.py [--data bench/.data] [--out bench/.results] [--only NAME,...]
    python bench/summary.py --from-json bench/.results      # print the table of an earlier run again

Runs, one after the other and each in its own process with small, quick settings (one torch thread; the
machine is shared, so read figures of one run against each other):

- prepare      `ffbench prepare --synthetic --preset cpu` into --data once (resumable; later runs reuse it)
- sampling     bench/sampling.py: U-Net calls and seconds of DPM-Solver++-25 against DDPM-1000
- dreampose    bench/dreampose_cost.py: FashionFlow joint sampling against a DreamPose-shaped per-frame
               sampler (seconds at the cpu preset, FLOPs at the paper preset)
- loader       bench/loader.py: cached-latent loader against decode + encode on the fly
- metrics      bench/metrics.py: I3D throughput, `eval` peak memory at two N
- diagnostics  the diagnostics' speed: frames/s of the per-video pass behind every weight-free diagnostic
               (ffbench.metrics.video_analysis.analyse_video) and of its forward flow alone, at 128x96
               and 640x512, timed here (`summary.py --diagnostics-speed`): bench/metrics.py has no
               diagnostics timing
- fvd_sanity   bench/sensitivity.py --metrics fvd on a synthetic set: FVD of a fast, a reversed and a
               frozen copy against the noise floor of two real halves (random-init I3D offline: a
               pipeline check, not FVD)
- baselines    bench/baselines.py: training and generation cost of every registered model

Each writes a JSON into --out (with `--json`); the table is built from those files only, so
`--from-json` prints it again without running anything. A step that fails gets a row saying so (its log
is in --out) and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER_DREAMPOSE_RATIO = 9.3  # FashionFlow paper: 70 frames 9.3x faster than DreamPose
UNET_2D = "2D U-Net: FashionFlow's U-Net config, temporal layers off, +10 pose input channels"


@dataclass(frozen=True)
class Job:
    name: str
    argv: list[str]  # after the interpreter; the JSON path is appended as `--json PATH` unless json=False
    json: bool = True


def jobs(data: str, only: set[str] | None = None) -> list[Job]:
    """The benchmark runs, in order, with the quick settings of `make bench`."""
    all_jobs = [
        Job(
            "prepare",
            [
                "-m",
                "ffbench.cli",
                "prepare",
                "--synthetic",
                "--preset",
                "cpu",
                "--out",
                data,
                "--n-train",
                "12",
                "--n-test",
                "4",
                "--frames",
                "32",
                "--vae-steps",
                "200",
                "--quiet",
            ],
            json=False,
        ),
        Job(
            "sampling",
            [
                "bench/sampling.py",
                "--threads",
                "1",
                "--skip-flops",
                "--samplers",
                "ddpm-1000,dpmpp-25",
                "--joint-only",
                "--ddpm-probe-steps",
                "20",
            ],
        ),
        Job(
            "dreampose",
            ["bench/dreampose_cost.py", "--threads", "1", "--probe-frames", "1", "--ddpm-probe-steps", "10"],
        ),
        Job("loader", ["bench/loader.py", "--data", data, "--batches", "20", "--threads", "1"]),
        Job("metrics", ["bench/metrics.py", "--threads", "1", "--n", "8", "32"]),
        Job("diagnostics", ["bench/summary.py", "--diagnostics-speed"]),
        Job("fvd_sanity", ["bench/sensitivity.py", "--synthetic", "8", "--metrics", "fvd", "--size", "112",
                           "--recal-items", "16", "--threads", "1"]),
        Job("baselines", ["bench/baselines.py", "--shards", data, "--steps", "10", "--videos", "2"]),
    ]
    if only is None:
        return all_jobs
    unknown = only - {j.name for j in all_jobs}
    if unknown:
        raise SystemExit(
            f"--only: unknown step(s) {sorted(unknown)}; choose from {', '.join(j.name for j in all_jobs)}"
        )
    return [j for j in all_jobs if j.name in only]


def display(argv: list[str]) -> str:
    """The command as a user types it from the repository root (`python ...` / `ffbench ...`)."""
    if argv[:2] == ["-m", "ffbench.cli"]:
        return "ffbench " + shlex.join(argv[2:])
    return "python " + shlex.join(argv)


def run_jobs(selected: list[Job], out: Path) -> dict[str, dict]:
    """Run each job, its output into out/<name>.log; returns {name: {command, seconds, returncode}}."""
    runs: dict[str, dict] = {}
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for i, job in enumerate(selected, 1):
        argv = list(job.argv)
        if job.json:
            path = out / f"{job.name}.json"
            path.unlink(missing_ok=True)  # a failed run must not leave an earlier run's figures
            argv += ["--json", str(path)]
        log = out / f"{job.name}.log"
        print(f"[{i}/{len(selected)}] {display(argv)}  (log: {log})", file=sys.stderr, flush=True)
        start = time.perf_counter()
        with log.open("w") as f:
            rc = subprocess.run(
                [sys.executable, *argv], cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT
            ).returncode
        seconds = time.perf_counter() - start
        print(
            f"      {'done' if rc == 0 else f'FAILED (exit {rc})'} in {seconds:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        runs[job.name] = {"command": display(job.argv), "seconds": seconds, "returncode": rc}
    return runs


# --- the table -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    what: str
    figure: str
    values: str
    command: str


def _x(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds:.0f} s"


def sampling_rows(r: dict, command: str) -> list[Row]:
    by = {row["sampler"]: row["joint"] for row in r["cpu"]}
    ddpm, dpm = by["ddpm-1000"], by["dpmpp-25"]
    frames = r["cpu"][0]["frames"]
    star = lambda x: " (extrapolated per call)" if x["extrapolated"] else ""  # noqa: E731
    return [
        Row(
            "U-Net calls per video: DDPM-1000 / DPM-Solver++-25 (FashionFlow, joint)",
            _x(ddpm["calls"] / dpm["calls"]),
            f"{ddpm['calls']} vs {dpm['calls']} calls",
            command,
        ),
        Row(
            f"sampling time per video: DDPM-1000 / DPM-Solver++-25 (cpu preset, {frames} frames, "
            "random-init)",
            _x(ddpm["wall_s"] / dpm["wall_s"]) + " wall",
            f"{_s(ddpm['wall_s'])}{star(ddpm)} vs {_s(dpm['wall_s'])} wall; CPU {_s(ddpm['cpu_s'])} vs "
            f"{_s(dpm['cpu_s'])} ({_x(ddpm['cpu_s'] / dpm['cpu_s'])})",
            command,
        ),
    ]


def dreampose_rows(r: dict, command: str) -> list[Row]:
    rows = []
    steps, per_step = r["dreampose_steps"], r["calls_per_step"]
    shape = f"PNDM-{steps} x {per_step} calls, every frame its own run"
    if "cpu_timing" in r:
        c = r["cpu_timing"]
        d = c["dreampose_shaped"]
        for kind, label in (("ddpm1000", "DDPM-1000"), ("dpmpp25", "DPM-Solver++-25")):
            f = c[f"fashionflow_{kind}"]
            rows.append(
                Row(
                    f"wall time, DreamPose-shaped per-frame ({UNET_2D}; {shape}) / "
                    f"FashionFlow joint "
                    f"{label} (cpu preset, {c['frames']} frames, random-init)",
                    _x(d["wall_s"] / f["wall_s"]),
                    f"{d['calls']} calls {_s(d['wall_s'])} vs {f['calls']} calls {_s(f['wall_s'])} wall "
                    f"(CPU {_x(d['cpu_s'] / f['cpu_s'])}; per-frame from {c['probe_frames']} frame(s), "
                    f"DDPM from {c['ddpm_probe_steps']} steps)",
                    command,
                )
            )
    if "paper_flops" in r:
        p = r["paper_flops"]
        frames, (h, w) = p["frames"], p["latent"]
        dp, sd = p["dreampose_shaped_flops_per_video"], p["sd_dreampose_flops_per_video"]
        calls = f"{p['dreampose_calls_per_video']:,} calls"
        for kind, label, steps in (("ddpm1000", "DDPM-1000", 1000), ("dpmpp25", "DPM-Solver++-25", 25)):
            ff = p[f"fashionflow_{kind}_flops_per_video"]
            rows.append(
                Row(
                    f"FLOPs, DreamPose-shaped per-frame ({UNET_2D}; {shape}) / FashionFlow joint {label} "
                    f"(paper preset, {frames} frames, latent {h}x{w})",
                    _x(dp / ff),
                    f"{dp / 1e15:.3f} PFLOP ({calls} x "
                    f"{p['dreampose_shaped_call_flops'] / 1e9:.1f} GFLOP) vs "
                    f"{ff / 1e15:.3f} PFLOP ({steps} x {p['fashionflow_call_flops'] / 1e12:.2f} TFLOP)",
                    command,
                )
            )
        ff = p["fashionflow_ddpm1000_flops_per_video"]
        rows.append(
            Row(
                f"FLOPs, DreamPose's own U-Net (SD 1.x, {p['params']['sd_unet'] / 1e6:.0f}M) per frame / "
                f"FashionFlow "
                f"joint DDPM-1000 (paper preset); the paper claims {PAPER_DREAMPOSE_RATIO}x (time)",
                _x(sd / ff),
                f"{sd / 1e15:.1f} PFLOP ({calls} x {p['sd_unet_call_flops'] / 1e12:.2f} TFLOP) vs "
                f"{ff / 1e15:.2f} PFLOP",
                command,
            )
        )
    return rows


def loader_rows(r: dict, command: str) -> list[Row]:
    return [
        Row(
            f"loader: cached latents / decode + VAE/CLIP encode on the fly ({r['preset']} preset, "
            f"{r['frames']}-frame clips, batch {r['batch_size']})",
            _x(r["speedup"]),
            f"{r['cached_clips_per_s']:.1f} vs {r['on_the_fly_clips_per_s']:.2f} clips/s",
            command,
        )
    ]


def metrics_rows(r: dict, command: str) -> list[Row]:
    rows = [
        Row(
            f"I3D throughput (random-init, 16x224x224, {r['threads']} thread(s))",
            f"{r['i3d_clips_per_s']:.2f} clips/s",
            "batch 2",
            command,
        )
    ]
    if len(r["eval"]) >= 2:
        lo, hi = r["eval"][0], r["eval"][-1]
        rows.append(
            Row(
                f"eval peak memory, N={hi['n_fake']} / N={lo['n_fake']} (FVD, random-init I3D, "
                f"{r['eval_size']}x{r['eval_size']})",
                _x(hi["peak_mb"] / lo["peak_mb"]),
                "; ".join(
                    f"N={e['n_fake']}: {e['peak_mb']:.0f} MB peak RSS, {_s(e['seconds'])}" for e in r["eval"]
                ),
                command,
            )
        )
    return rows


def diagnostics_rows(r: dict, command: str) -> list[Row]:
    rows = []
    for s in r["sizes"]:
        a, f = s["analysis"], s["flow"]
        rows.append(
            Row(
                f"diagnostics speed at {s['height']}x{s['width']} (one video's pass for every weight-free "
                f"diagnostic, ffbench.metrics.video_analysis; {r['threads']} thread)",
                f"{a['frames_per_s']:.1f} frames/s wall ({s['frames'] / a['cpu_seconds']:.1f} on CPU time)",
                f"{s['frames']} frames in {a['seconds']:.2f} s wall, {a['cpu_seconds']:.2f} CPU s; of which "
                f"forward flow alone {f['frames_per_s']:.1f} frames/s wall "
                f"({s['frames'] / f['cpu_seconds']:.1f} on CPU time)",
                command,
            )
        )
    return rows


def fvd_sanity_rows(r: dict, command: str) -> list[Row]:
    fvd = {row: found["fvd"] for row, found in r["rows"].items() if "fvd" in found}
    floor = fvd["A vs B"]["value"]
    parts = [(name, fvd[name]["value"] / floor) for name in ("fast", "reversed", "frozen") if name in fvd]
    ref = fvd["A vs B"]
    label = "random-init I3D: a pipeline check, not FVD" if ref["random_init"] else ref["extractor"]
    return [
        Row(
            f"FVD sanity: altered copies / the A-vs-B floor ({label}; halves of {r['halves'][0]} and "
            f"{r['halves'][1]} videos, {r['size']}x{r['size']}; useful: all clearly above 1)",
            ", ".join(f"{name} {_x(v)}" for name, v in parts),
            "; ".join(f"{row} {v['value']:.2f}" for row, v in fvd.items()),
            command,
        )
    ]


def baseline_rows(r: list[dict], command: str) -> list[Row]:
    rows = []
    for m in r:
        params = m.get("params_M", {}).get("official", {})
        size = (
            "official size " + " + ".join(f"{name} {n:.1f}M" for name, n in params.items())
            if params
            else "no network"
        )
        train = (
            f"{m['s_per_step']:.3f} s/step (batch {m['batch_size']})" if "s_per_step" in m else "not trained"
        )
        flags = f"; flags: {'; '.join(m['flags'])}" if m.get("flags") else ""
        rows.append(
            Row(
                f"{m['model']}: training and generation cost (cpu preset)",
                f"{train}, {m['s_per_video']:.2f} s/video",
                f"{size}; {m['frames']} frames per video{flags}",
                command,
            )
        )
    return rows


ROW_BUILDERS: dict[str, Callable[..., list[Row]]] = {
    "sampling": sampling_rows,
    "dreampose": dreampose_rows,
    "loader": loader_rows,
    "metrics": metrics_rows,
    "diagnostics": diagnostics_rows,
    "fvd_sanity": fvd_sanity_rows,
    "baselines": baseline_rows,
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def build_rows(out: Path, runs: dict[str, dict]) -> list[Row]:
    """Rows of every step in `runs` from its JSON in `out`; a failed or missing step gets one row saying
    so."""
    rows: list[Row] = []
    for name, run in runs.items():
        builder = ROW_BUILDERS.get(name)
        if builder is None:  # prepare: no figure of its own
            if run["returncode"]:
                rows.append(
                    Row(
                        name,
                        "FAILED",
                        f"exit {run['returncode']}; see {out / (name + '.log')}",
                        run["command"],
                    )
                )
            continue
        path = out / f"{name}.json"
        if run["returncode"] or not path.exists():
            why = f"exit {run['returncode']}" if run["returncode"] else f"no {path.name}"
            rows.append(Row(name, "FAILED", f"{why}; see {out / (name + '.log')}", run["command"]))
            continue
        try:
            rows += builder(json.loads(path.read_text()), run["command"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            rows.append(Row(name, "UNREADABLE", f"{path.name}: {type(e).__name__} {e}", run["command"]))
    return rows


def markdown(rows: list[Row]) -> str:
    lines = ["| what | ratio / figure | measured values | command |", "| --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {_cell(r.what)} | {_cell(r.figure)} | {_cell(r.values)} | `{_cell(r.command)}` |")
    return "\n".join(lines) + "\n"


# --- the diagnostics' speed ------------------------------------------------------------------------------


def diagnostics_speed(json_path: Path | None, sizes=((128, 96, 32), (640, 512, 16))) -> None:
    """Frames/s of the weight-free diagnostics on synthetic videos of (H, W, frames), one thread: the whole
    per-video pass (`analyse_video`: forward and backward flow, motion, flicker, colour, detail, fvmd), and
    the dense forward flow alone (`video_flow`)."""
    import cv2

    from ffbench.flow import video_flow
    from ffbench.metrics.video_analysis import analyse_video
    from ffbench.synthetic.render import render_video

    cv2.setNumThreads(1)
    result: dict = {"command": "python " + shlex.join(sys.argv), "threads": 1, "sizes": []}
    for h, w, frames in sizes:
        video = render_video(0, frames, h, w)
        analyse_video(video[:2])  # warm-up (imports, first allocations)
        entry: dict = {"height": h, "width": w, "frames": frames}
        for name, fn in (("analysis", analyse_video), ("flow", video_flow)):
            start, cpu = time.perf_counter(), time.process_time()
            fn(video)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            entry[name] = {"seconds": seconds, "cpu_seconds": cpu, "frames_per_s": frames / seconds}
            print(
                f"{name:8s} {h}x{w}: {frames / seconds:6.1f} frames/s ({frames} frames in {seconds:.2f} s "
                f"wall, {cpu:.2f} CPU s)"
            )
        result["sizes"].append(entry)
    if json_path:
        tmp = json_path.with_name(json_path.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        tmp.replace(json_path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        default="bench/.data",
        help="prepared cpu dataset, relative to the repository (made there if missing)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / ".results", help="JSONs and logs")
    parser.add_argument("--only", default=None, help="comma list of steps to run (prepare is always run)")
    parser.add_argument("--from-json", type=Path, default=None, help="print the table of an earlier run")
    parser.add_argument("--diagnostics-speed", action="store_true", help="only time the diagnostics")
    parser.add_argument("--json", type=Path, default=None, help="with --diagnostics-speed: the JSON")
    args = parser.parse_args()
    if args.diagnostics_speed:
        diagnostics_speed(args.json)
        return
    if args.from_json:
        runs_file = args.from_json / "runs.json"
        if not runs_file.exists():
            raise SystemExit(f"--from-json {args.from_json}: no runs.json there; run bench/summary.py first")
        print(markdown(build_rows(args.from_json, json.loads(runs_file.read_text()))), end="")
        return
    only = None if args.only is None else {"prepare", *args.only.split(",")}
    selected = jobs(args.data, only)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    runs = run_jobs(selected, out)
    if only is not None and (out / "runs.json").exists():  # keep the other steps of the earlier run
        runs = {**json.loads((out / "runs.json").read_text()), **runs}
    (out / "runs.json").write_text(json.dumps(runs, indent=2) + "\n")
    table = markdown(build_rows(out, runs))
    total = time.perf_counter() - start
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    note = (
        f"\nThis run: {total / 60:.1f} min wall, load average {load:.1f} at the end; one torch thread each; "
        f"random-init weights (speed does not depend on them). Each command also took `--json "
        f"{out}/<step>.json`; logs beside them. Reprint: `python bench/summary.py --from-json {out}`.\n"
    )
    (out / "summary.md").write_text(table + note)
    print(table + note, end="")
    if any(r["returncode"] for r in runs.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
