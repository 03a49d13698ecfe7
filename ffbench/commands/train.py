"""`ffbench train MODEL`: train any registered model from prepared shards (`ffbench.models.registry`)."""

from __future__ import annotations

import logging
import os

import click
from click.core import ParameterSource

from ffbench.models.registry import available_models

# TrainConfig's defaults (FashionFlow's recipe), repeated so `--help` needs no torch import; a test checks
# they agree. A model's entry may replace some (`train_defaults`, e.g. the GAN baselines' Adam without
# weight decay or clipping); what a run used is printed at its start and saved in <out>/config.json.
DEFAULTS = dict(steps=1000, batch_size=2, lr=2e-4, beta1=0.5, beta2=0.999, weight_decay=0.01, grad_clip=1.0,
                ema_decay=0.9999, checkpoint_every=500, keep=3, seed=0, autocast="none", cond_dropout=0.0,
                log_every=10)
MODELS = available_models()
# Model-specific options: handed to the model's train function only when given.
MODEL_OPTIONS = ("schedule", "conditioning", "stage")


def _default(name: str) -> str:
    return f"{DEFAULTS[name]}, or the model's own"


@click.command("train")
@click.argument("model", type=click.Choice(MODELS))
@click.option("--shards", type=click.Path(file_okay=False), default=None,
              help="Prepared data directory (from `ffbench prepare --out`). Required.")
@click.option("--preset", type=click.Choice(["cpu", "paper"]), default="cpu", show_default=True,
              help="Data/model size preset; must match the preset the shards were prepared with.")
@click.option("--out", "out_dir", type=click.Path(), default=None,
              help="Run directory for config.json, log.jsonl, checkpoints and the exported model. "
                   "[default: runs/MODEL-PRESET]")
@click.option("--steps", type=int, default=None, show_default=_default("steps"),
              help="Total optimiser steps (a resumed run continues up to this number).")
@click.option("--batch-size", type=int, default=None, show_default=_default("batch_size"),
              help="Clips per step per process.")
@click.option("--lr", type=float, default=None, show_default=_default("lr"), help="Adam(W) learning rate.")
@click.option("--beta1", type=float, default=None, show_default=_default("beta1"), help="Adam(W) beta1.")
@click.option("--beta2", type=float, default=None, show_default=_default("beta2"), help="Adam(W) beta2.")
@click.option("--weight-decay", type=float, default=None, show_default=_default("weight_decay"),
              help="AdamW decoupled weight decay (0: Adam, the GAN baselines' optimizer).")
@click.option("--grad-clip", type=float, default=None, show_default=_default("grad_clip"),
              help="Clip the global gradient norm of each update to this value; 0 disables clipping.")
@click.option("--ema-decay", type=float, default=None, show_default=_default("ema_decay"),
              help="EMA decay of the exported weights (warmed up as (1+n)/(10+n)); 0 disables the EMA.")
@click.option("--checkpoint-every", type=int, default=None, show_default=_default("checkpoint_every"),
              help="Save a checkpoint every N steps (and at the end, and on Ctrl-C / SIGTERM).")
@click.option("--keep", type=int, default=None, show_default=_default("keep"),
              help="Keep only the newest K checkpoints.")
@click.option("--seed", type=int, default=None, show_default=_default("seed"),
              help="Seed of the model init, the noise and the data order.")
@click.option("--autocast", type=click.Choice(["none", "bf16", "fp16"]), default=None,
              show_default=_default("autocast"),
              help="Mixed precision for the forward pass (fp16 adds a GradScaler).")
@click.option("--cond-dropout", type=float, default=None, show_default=_default("cond_dropout"),
              help="FashionFlow only (other models refuse it): probability of dropping the condition image "
                   "in training (enables classifier-free guidance).")
@click.option("--log-every", type=int, default=None, show_default=_default("log_every"),
              help="Append a line to log.jsonl every N steps.")
@click.option("--schedule", type=click.Choice(["cosine", "legacy"]), default=None,
              help="FashionFlow: noise schedule, the paper's cosine or the public code's beta ramp.  "
                   "[default: cosine]")
@click.option("--conditioning", type=click.Choice(["both", "global", "local"]), default=None,
              help="FashionFlow: condition through CLIP + latent tokens, frame 0 replacement, or both.  "
                   "[default: both]")
@click.option("--stage", type=str, default=None,
              help="The model's training stage. FashionFlow: base (image -> clip) or interpolate (the frame "
                   "interpolation model, paper 3.3)  [default: base]. cinn: autoencoder, condition, flow, or "
                   "all (in order, skipping finished stages)  [default: all].")
@click.option("--num-workers", type=int, default=0, show_default=True,
              help="Data loading worker processes per training process.")
@click.option("--threads", type=int, default=0, show_default=True,
              help="CPU threads per process (0 = torch's default). On a busy machine 1 can be several times "
                   "faster than 2; keep it fixed across a run and its resume for bit-identical results.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.pass_context
def train(ctx: click.Context, model: str, shards: str | None, preset: str, out_dir: str | None, resume: bool,
          progress: bool, num_workers: int, threads: int, **options) -> None:
    """Train MODEL from prepared shards, with checkpoints, exact resume, EMA and a JSONL log.

    The run exports the trained model into --out (fashionflow: pipeline/, imaginator: generator/), which
    `ffbench generate --checkpoint` takes, as it takes the run directory itself. Baselines replace some
    defaults by their papers' recipes (imaginator: Adam without weight decay or clipping, batch 8);
    the settings a run used are printed first and kept in <out>/config.json.

    Distributed: launch the same command under torchrun, e.g.
    `torchrun --nproc_per_node=2 -m ffbench.cli train fashionflow ...` (gloo on CPU, NCCL on GPU).

    \b
    Example:
      ffbench train fashionflow --shards data/synthetic --preset cpu --out runs/ff-cpu --steps 200
      ffbench train fashionflow --shards data/synthetic --preset cpu --out runs/ff-cpu --steps 400 --resume
      ffbench train imaginator --shards data/synthetic --preset cpu --out runs/imaginator --steps 600
    """
    if shards is None:
        raise click.UsageError("--shards is required: the directory written by `ffbench prepare --out`")
    rank0 = os.environ.get("RANK", "0") == "0"
    logging.basicConfig(level=logging.INFO if rank0 else logging.WARNING, format="%(message)s")

    from ffbench.errors import check_writable_dir
    from ffbench.models.registry import MODEL_CONFIG_OPTIONS, get_model, reject_unused
    from ffbench.training.config import TrainConfig

    entry = get_model(model)
    if entry.train is None:
        raise click.ClickException(f"{model} is not trained (e.g. `ffbench generate SPLIT --model {model}`)")
    if threads < 0:
        raise click.BadParameter(f"must be >= 0, got {threads}", param_hint="--threads")
    from ffbench.threads import limit_threads

    limit_threads(threads)
    out_dir = out_dir or os.path.join("runs", f"{model}-{preset}")
    given = {k: v for k, v in options.items() if ctx.get_parameter_source(k) != ParameterSource.DEFAULT}
    # Settings the model would accept and ignore (e.g. --cond-dropout for a GAN): refused, before any work.
    reject_unused(model, {k: v for k, v in given.items() if k in MODEL_CONFIG_OPTIONS},
                  used=entry.config_options)
    model_options = {k: given.pop(k) for k in MODEL_OPTIONS if k in given}
    settings = {**DEFAULTS, **entry.train_defaults, **given}
    if rank0:
        own = ", ".join(f"{k}={v}" for k, v in entry.train_defaults.items() if k not in given)
        note = f" ({model}'s own defaults: {own})" if own else ""
        click.echo(f"train {model}: " + ", ".join(f"{k}={v}" for k, v in settings.items()) + note, err=True)
    try:  # option values out of range (e.g. --lr 0): a usage error, before anything is built
        config = TrainConfig(**settings)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    # Before any work, without creating anything: a run that then fails on its shards, its checkpoint or
    # its options leaves --out as it found it (no new folder, an existing run byte-identical). Expected
    # failures below are UserErrors, which the CLI prints as one line; anything else is a bug and keeps
    # its traceback.
    check_writable_dir(out_dir, "--out")
    result = entry.train(shards, out_dir, config, preset=preset, resume=resume, progress=progress,
                         num_workers=num_workers, **model_options)
    if not rank0:
        return
    if result.interrupted:
        click.echo(f"stopped at step {result.step}; checkpoint {result.last_checkpoint}. Continue with the "
                   "same command plus --resume.", err=True)
        raise SystemExit(130)
    click.echo(f"trained to step {result.step} ({result.seconds_per_step:.3f} s/step this session); "
               f"last checkpoint {result.last_checkpoint}; exported {result.exported}")
