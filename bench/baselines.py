"""Every registered method side by side: parameters at the official size, and at the cpu preset the seconds
per training step and per generated video.

    python bench/baselines.py --shards /tmp/baselines-data            # every model, 20 steps, 4 videos
    python bench/baselines.py --shards DATA --models imaginator,static --steps 40

DATA is a folder from `ffbench prepare --synthetic --preset cpu`. For each model of the registry
(`ffbench.models.registry`; a baseline that registers later is picked up without an edit here):

- parameters: each network of `networks("official")` and `networks("cpu")`, built on the meta device;
- s/step: `--steps` steps of the model's own training function on the cpu preset (its default recipe,
  its data loader; the first step is excluded), one thread;
- s/video: `ffbench generate` of `--videos` test conditioning frames with the model just trained
  (FashionFlow: DPM-Solver++ with 25 steps, the generate default), one thread; models that take
  privileged input get the real test split.

The machine is shared: compare the figures of one run with each other, and say what else was running.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def count(modules: dict[str, torch.nn.Module]) -> dict[str, float]:
    """Millions of parameters per network."""
    return {name: sum(p.numel() for p in m.parameters()) / 1e6 for name, m in modules.items()}


def parameters(entry) -> dict[str, dict[str, float]]:
    if entry.networks is None:
        return {}
    out = {}
    for size in ("official", "cpu"):
        with torch.device("meta"):
            out[size] = count(entry.networks(size))
    return out


def cond_images(split: Path, n: int, into: Path) -> Path:
    """The first `n` conditioning frames of a split as `<key>.png` files."""
    from ffbench.datasets.shards import iter_split_entries

    into.mkdir(parents=True, exist_ok=True)
    for i, (key, png) in enumerate(iter_split_entries(split, "cond.png")):
        if i == n:
            break
        (into / f"{key}.png").write_bytes(png)
    return into


def bench_model(entry, shards: Path, steps: int, videos: int, work: Path) -> dict:
    from ffbench.generation import generate_set
    from ffbench.training.config import TrainConfig

    row: dict = {"model": entry.name, "params_M": parameters(entry)}
    checkpoint = None
    if entry.train is not None:
        from ffbench.commands.train import DEFAULTS

        config = TrainConfig(**{**DEFAULTS, **entry.train_defaults, "steps": steps, "checkpoint_every": steps,
                                "log_every": steps, "ema_decay": 0.0})
        result = entry.train(shards, work / entry.name, config, preset="cpu", resume=False, progress=False,
                             num_workers=0)
        row["s_per_step"] = result.seconds_per_step
        row["batch_size"] = config.batch_size
        row["train_command"] = (f"ffbench train {entry.name} --shards {shards} --preset cpu --steps {steps} "
                                f"--threads 1")
        checkpoint = result.exported
    test = shards / "shards" / "test"
    images = cond_images(test, videos, work / "cond")
    start = time.perf_counter()
    gen = generate_set(images, work / f"{entry.name}-samples", checkpoint=checkpoint,
                       model=None if checkpoint else entry.name,
                       real=test if entry.privileged_input else None,
                       progress=False)
    row["s_per_video"] = (time.perf_counter() - start) / len(gen.videos)
    row["frames"] = gen.record["frames"]
    row["settings"] = gen.record["settings"]
    row["flags"] = gen.record["flags"]
    source = "the split's first conditioning frames"
    row["generate_command"] = (f"ffbench generate <{source}> "
                               + (f"--checkpoint {checkpoint}" if checkpoint else f"--model {entry.name}"))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path, required=True, help="data from `ffbench prepare --preset cpu`")
    parser.add_argument("--models", default="all", help="comma list of registered models, or all")
    parser.add_argument("--steps", type=int, default=20, help="training steps to time per model")
    parser.add_argument("--videos", type=int, default=4, help="videos to generate per model")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from ffbench.models.registry import available_models, get_model

    names = available_models() if args.models == "all" else args.models.split(",")
    work = Path(tempfile.mkdtemp(prefix="ffbench-baselines-"))
    rows = []
    try:
        for name in names:
            print(f"--- {name}", flush=True)
            rows.append(bench_model(get_model(name), args.shards, args.steps, args.videos, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{' '.join(sys.argv)}\n"
          f"(one thread; cpu preset; {args.steps} training steps, {args.videos} videos)")
    print(f"{'model':<12} {'official params (M)':<44} {'cpu params (M)':<34} {'batch':>5} {'s/step':>7} "
          f"{'s/video':>8}  frames")
    for row in rows:
        fmt = lambda d: ", ".join(f"{k} {v:.2f}" for k, v in d.items()) or "-"  # noqa: E731
        step = f"{row['s_per_step']:.3f}" if "s_per_step" in row else "-"
        print(f"{row['model']:<12} {fmt(row['params_M'].get('official', {})):<44} "
              f"{fmt(row['params_M'].get('cpu', {})):<34} {row.get('batch_size', '-'):>5} {step:>7} "
              f"{row['s_per_video']:>8.3f}  {row['frames']}")
    for row in rows:
        for key in ("train_command", "generate_command"):
            if key in row:
                print(f"  {row['model']}: {row[key]}")
        if row["flags"]:
            print(f"  {row['model']} flags: {'; '.join(row['flags'])}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
