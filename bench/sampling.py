"""What FashionFlow sampling costs.

1. FLOPs of one U-Net call at the paper preset (70 frames, latent 80x64), counted by
   torch.utils.flop_counter on the meta device (shapes only: nothing is computed or allocated).
2. At the cpu preset (16 frames, latent 32x24; randomly initialised: speed does not depend on the
   weights): U-Net calls and seconds per video for ddpm-1000, ddim-50 and dpmpp-25, sampling the clip
   jointly (FashionFlow) and frame by frame with the same model (DreamPose's structure: every frame its
   own run, over [conditioning frame, frame]). Seconds cover the latent sampling loop only; VAE decoding
   is the same for both. ddpm-1000 is timed on --ddpm-probe-steps steps and extrapolated per call.

    python bench/sampling.py [--threads 1] [--ddpm-probe-steps 20] [--skip-flops]
        [--samplers ddpm-1000,dpmpp-25] [--joint-only] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from ffbench.models.fashionflow import (  # noqa: E402
    FashionFlowModel,
    fashionflow_config,
    make_noise_scheduler,
    sample_keyframes,
    sample_per_frame,
)
from ffbench.models.fashionflow.unet import count_parameters  # noqa: E402
from ffbench.presets import get_preset  # noqa: E402

PUBLIC_MACS = 732.56e9  # torchinfo "Total mult-adds" in the public code's model_structure.txt
SAMPLERS = [("ddpm", 1000), ("ddim", 50), ("dpmpp", 25)]


def paper_flops() -> dict:
    preset = get_preset("paper")
    with torch.device("meta"):
        model = FashionFlowModel(**fashionflow_config(preset))
        sample = torch.empty(1, 4, preset.frames, preset.latent_height, preset.latent_width)
        cond = torch.empty(1, 4, preset.latent_height, preset.latent_width)
        clip = torch.empty(1, preset.clip_tokens, preset.clip_dim)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(sample, torch.tensor([500], device="meta"), cond, clip)
    total = counter.get_total_flops()
    by_op = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    by_module = counter.get_flop_counts()
    # torchinfo counts convolutions fully but a Linear only once per batch item, ignoring its tokens; the
    # public code's feed-forwards are 1x1x1 Conv3d, so its figure ~ our convolutions + feed-forwards
    ff = sum(sum(v.values()) for k, v in by_module.items() if k.endswith(".ff"))
    conv = by_op.get("aten.convolution", 0)
    print(
        f"paper preset U-Net call (1 x 4 x {preset.frames} x {preset.latent_height} x {preset.latent_width}):"
    )
    print(
        f"  parameters            {count_parameters(model.unet):,} U-Net + "
        f"{count_parameters(model.adapter):,} adapter"
    )
    print(f"  FLOPs                 {total / 1e12:.3f} T  (= {total / 2e12:.3f} T multiply-adds)")
    for op, n in sorted(by_op.items(), key=lambda kv: -kv[1]):
        print(f"    {op:22s}{n / 1e9:10.1f} GFLOP")
    print(
        f"  convolutions + feed-forwards (what torchinfo counts): {(conv + ff) / 2e9:.1f} G multiply-adds; "
        f"the public code's summary says {PUBLIC_MACS / 1e9:.2f} G"
    )
    return {"unet_call_flops": total, "torchinfo_macs": (conv + ff) / 2, "public_macs": PUBLIC_MACS}


class CallCounter:
    def __init__(self, model: torch.nn.Module):
        self.calls = 0
        model.register_forward_pre_hook(self._hook)

    def _hook(self, *_):
        self.calls += 1


def _run(fn, counter: CallCounter) -> tuple[int, float, float]:
    """U-Net calls, wall seconds and CPU seconds of one sampling run."""
    counter.calls = 0
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return counter.calls, time.perf_counter() - wall, time.process_time() - cpu


def cpu_timings(
    ddpm_probe_steps: int, samplers_run: list[tuple[str, int]] = SAMPLERS, joint_only: bool = False
) -> list[dict]:
    preset = get_preset("cpu")
    torch.manual_seed(0)
    model = FashionFlowModel(**fashionflow_config(preset)).eval()
    counter = CallCounter(model)
    g = torch.Generator().manual_seed(0)
    cond = torch.randn(1, 4, preset.latent_height, preset.latent_width, generator=g)
    clip = torch.randn(1, preset.clip_tokens, preset.clip_dim, generator=g)
    frames = preset.frames
    print(
        f"\ncpu preset: {frames} frames, latent 4 x {preset.latent_height} x {preset.latent_width}, "
        f"U-Net {count_parameters(model.unet):,} parameters, batch 1, guidance 1"
    )
    samplers = {"joint": sample_keyframes, "per-frame": sample_per_frame}
    if joint_only:
        del samplers["per-frame"]

    def run(name: str, kind: str, steps: int) -> tuple[int, float, float]:
        scheduler = make_noise_scheduler("cosine", kind)
        return _run(lambda: samplers[name](model, scheduler, cond, clip, frames, steps, generator=g), counter)

    run("joint", "ddim", 2)  # warm-up
    rows = []
    for kind, steps in samplers_run:
        row = {"sampler": f"{kind}-{steps}"}
        for name in samplers:
            if kind == "ddpm" and steps > ddpm_probe_steps:
                # ddpm-1000: time a shorter DDPM run (same cost per call), scale per U-Net call
                calls, wall, cpu = run(name, kind, ddpm_probe_steps)
                scale = steps / ddpm_probe_steps
                row[name] = (round(calls * scale), wall * scale, cpu * scale, True)
            else:
                row[name] = (*run(name, kind, steps), False)
        rows.append(row)
    star = lambda x: "*" if x else " "  # noqa: E731
    if joint_only:
        print("  {:11s}{:>12s}{:>18s}".format("sampler", "joint calls", "joint s (cpu s)"))
        for row in rows:
            jc, jw, jcpu, jx = row["joint"]
            print(f"  {row['sampler']:11s}{jc:12d}{jw:10.1f} ({jcpu:5.1f}){star(jx)}")
    else:
        head = ("sampler", "joint calls", "joint s (cpu s)", "per-frame calls", "per-frame s (cpu s)",
                "ratio")
        print("  {:11s}{:>12s}{:>18s}{:>17s}{:>22s}{:>8s}".format(*head))
        for row in rows:
            (jc, jw, jcpu, jx), (pc, pw, pcpu, px) = row["joint"], row["per-frame"]
            print(
                f"  {row['sampler']:11s}{jc:12d}{jw:10.1f} ({jcpu:5.1f}){star(jx)}{pc:17d}"
                f"{pw:13.1f} ({pcpu:6.1f}){star(px)}{pcpu / jcpu:7.1f}x"
            )
    print(f"  * ddpm-1000 extrapolated from {ddpm_probe_steps}-step DDPM runs (same cost per U-Net call)")
    if not joint_only:
        print("  ratio = per-frame / joint CPU seconds per video (CPU time: robust to other load on the "
              "machine)")
        (jc, _, jcpu, _), (pc, _, pcpu, _) = rows[-1]["joint"], rows[-1]["per-frame"]
        print(
            f"  CPU seconds per U-Net call ({rows[-1]['sampler']}): joint, {frames}-frame clip "
            f"{jcpu / jc:.4f}; "
            f"per-frame, 2-frame clip {pcpu / pc:.4f}"
        )
    keys = ("calls", "wall_s", "cpu_s", "extrapolated")
    return [{"sampler": row["sampler"], "frames": frames,
             **{name: dict(zip(keys, row[name], strict=True)) for name in samplers}} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1: on a shared 2-core box 2 threads wait on each other)",
    )
    parser.add_argument("--ddpm-probe-steps", type=int, default=20, help="DDPM steps timed for ddpm-1000")
    parser.add_argument("--skip-flops", action="store_true", help="skip the paper-preset FLOP count")
    parser.add_argument(
        "--samplers",
        default=",".join(f"{k}-{n}" for k, n in SAMPLERS),
        help="comma list of KIND-STEPS to time (kinds: ddpm, ddim, dpmpp)",
    )
    parser.add_argument("--joint-only", action="store_true", help="skip the frame-by-frame runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    samplers_run = [(k, int(n)) for k, n in (item.rsplit("-", 1) for item in args.samplers.split(","))]
    torch.set_num_threads(args.threads)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    print("command: " + command)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} thread(s), load average {load:.2f} at start\n"
    )
    result: dict = {"command": command, "load_average": load, "threads": args.threads}
    if not args.skip_flops:
        result["paper_flops"] = paper_flops()
    result["cpu"] = cpu_timings(args.ddpm_probe_steps, samplers_run, args.joint_only)
    if args.json:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
