"""`ffbench train MODEL`: train a model from prepared shards (FashionFlow now; baselines later)."""

from __future__ import annotations

import logging
import os

import click

from ffbench.commands._unbuilt import not_built

# Defaults repeated from TrainConfig / FashionFlowOptions so `--help` needs no torch import; a test
# checks they agree.
DEFAULTS = dict(steps=1000, batch_size=2, lr=2e-4, beta1=0.5, beta2=0.999, weight_decay=0.01, grad_clip=1.0,
                ema_decay=0.9999, checkpoint_every=500, keep=3, seed=0, autocast="none", cond_dropout=0.0,
                log_every=10)


@click.command("train")
@click.argument("model", type=click.Choice(["fashionflow", "imaginator", "cinn", "poke"]))
@click.option("--shards", type=click.Path(file_okay=False), default=None,
              help="Prepared data directory (from `ffbench prepare --out`). Required.")
@click.option("--preset", type=click.Choice(["cpu", "paper"]), default="cpu", show_default=True,
              help="Data/model size preset; must match the preset the shards were prepared with.")
@click.option("--out", "out_dir", type=click.Path(), default=None,
              help="Run directory for config.json, log.jsonl, checkpoints and the exported pipeline. "
                   "[default: runs/MODEL-PRESET]")
@click.option("--steps", type=int, default=DEFAULTS["steps"], show_default=True,
              help="Total optimiser steps (a resumed run continues up to this number).")
@click.option("--batch-size", type=int, default=DEFAULTS["batch_size"], show_default=True,
              help="Clips per step per process.")
@click.option("--lr", type=float, default=DEFAULTS["lr"], show_default=True, help="AdamW learning rate.")
@click.option("--beta1", type=float, default=DEFAULTS["beta1"], show_default=True, help="AdamW beta1.")
@click.option("--beta2", type=float, default=DEFAULTS["beta2"], show_default=True, help="AdamW beta2.")
@click.option("--weight-decay", type=float, default=DEFAULTS["weight_decay"], show_default=True,
              help="AdamW decoupled weight decay.")
@click.option("--grad-clip", type=float, default=DEFAULTS["grad_clip"], show_default=True,
              help="Clip the global gradient norm to this value; 0 disables clipping.")
@click.option("--ema-decay", type=float, default=DEFAULTS["ema_decay"], show_default=True,
              help="EMA decay of the exported weights (warmed up as (1+n)/(10+n)); 0 disables the EMA.")
@click.option("--checkpoint-every", type=int, default=DEFAULTS["checkpoint_every"], show_default=True,
              help="Save a checkpoint every N steps (and at the end, and on Ctrl-C / SIGTERM).")
@click.option("--keep", type=int, default=DEFAULTS["keep"], show_default=True,
              help="Keep only the newest K checkpoints.")
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True,
              help="Seed of the model init, the noise and the data order.")
@click.option("--autocast", type=click.Choice(["none", "bf16", "fp16"]), default=DEFAULTS["autocast"],
              show_default=True, help="Mixed precision for the forward pass (fp16 adds a GradScaler).")
@click.option("--cond-dropout", type=float, default=DEFAULTS["cond_dropout"], show_default=True,
              help="Probability of dropping the condition image in training (enables classifier-free "
                   "guidance).")
@click.option("--log-every", type=int, default=DEFAULTS["log_every"], show_default=True,
              help="Append a line to log.jsonl every N steps.")
@click.option("--schedule", type=click.Choice(["cosine", "legacy"]), default="cosine", show_default=True,
              help="Noise schedule: the paper's cosine, or the public code's beta ramp.")
@click.option("--conditioning", type=click.Choice(["both", "global", "local"]), default="both",
              show_default=True, help="Condition through CLIP + latent tokens, frame 0 replacement, or both.")
@click.option("--stage", type=click.Choice(["base", "interpolate"]), default="base", show_default=True,
              help="base: image -> clip model; interpolate: the frame interpolation model (paper 3.3).")
@click.option("--num-workers", type=int, default=0, show_default=True,
              help="Data loading worker processes per training process.")
@click.option("--threads", type=int, default=0, show_default=True,
              help="CPU threads per process (0 = torch's default). On a busy machine 1 can be several times "
                   "faster than 2; keep it fixed across a run and its resume for bit-identical results.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def train(model: str, shards: str | None, preset: str, out_dir: str | None, resume: bool, progress: bool,
          schedule: str, conditioning: str, stage: str, num_workers: int, threads: int,
          **train_options) -> None:
    """Train MODEL from prepared shards, with checkpoints, exact resume, EMA and a JSONL log.

    Distributed: launch the same command under torchrun, e.g.
    `torchrun --nproc_per_node=2 -m ffbench.cli train fashionflow ...` (gloo on CPU, NCCL on GPU).

    \b
    Example:
      ffbench train fashionflow --shards data/synthetic --preset cpu --out runs/ff-cpu --steps 200
      ffbench train fashionflow --shards data/synthetic --preset cpu --out runs/ff-cpu --steps 400 --resume
    """
    if model != "fashionflow":
        not_built(f"train {model}", "baseline training is a later issue")
    if shards is None:
        raise click.UsageError("--shards is required: the directory written by `ffbench prepare --out`")
    rank0 = os.environ.get("RANK", "0") == "0"
    logging.basicConfig(level=logging.INFO if rank0 else logging.WARNING, format="%(message)s")

    import torch

    from ffbench.errors import ensure_writable_dir
    from ffbench.training.config import TrainConfig
    from ffbench.training.fashionflow import FashionFlowOptions, train_fashionflow

    if threads < 0:
        raise click.BadParameter(f"must be >= 0, got {threads}", param_hint="--threads")
    if threads:
        torch.set_num_threads(threads)
    out_dir = out_dir or os.path.join("runs", f"{model}-{preset}")
    try:  # option values out of range (e.g. --lr 0): a usage error, before anything is built
        config = TrainConfig(**train_options)
        options = FashionFlowOptions(preset=preset, schedule=schedule, conditioning=conditioning, stage=stage,
                                     num_workers=num_workers)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    ensure_writable_dir(out_dir, "--out")  # failures below are UserErrors: the CLI group reports them
    result = train_fashionflow(shards, out_dir, config, options, resume=resume, progress=progress)
    if not rank0:
        return
    if result.interrupted:
        click.echo(f"stopped at step {result.step}; checkpoint {result.last_checkpoint}. Continue with the "
                   "same command plus --resume.", err=True)
        raise SystemExit(130)
    exported = os.path.join(out_dir, "pipeline" if stage == "base" else "interpolator")
    click.echo(f"trained to step {result.step} ({result.seconds_per_step:.3f} s/step this session); "
               f"last checkpoint {result.last_checkpoint}; exported {exported}")
