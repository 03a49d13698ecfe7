"""`ffbench prepare`: download, verify and shard the Fashion dataset with cached features.

The command turns its flags into one `PrepareOptions` and calls `datasets.prepare.prepare`; the
library says what was done, and this layer, which knows the flags, says how to rerun it (the command
line an interrupted or refused run prints is built here from click's parsed parameters).
"""

from __future__ import annotations

import shlex

import click
from click.core import ParameterSource

from ffbench.datasets.spec import DEFAULT_DATASET


@click.command("prepare")
@click.option("--synthetic", is_flag=True,
              help="Render the embedded synthetic fashion videos instead of downloading.")
@click.option("--source", "source", type=click.Path(exists=True, file_okay=False),
              help="A local folder laid out like a download: the videos and a list per split (the "
                   "dataset's list files, fashion_train.txt / fashion_test.txt for UBC Fashion, or "
                   "<split>.txt).")
@click.option("--urls", "urls", type=click.Path(exists=True, dir_okay=False),
              help="A URL list: lines 'URL' (train) or 'SPLIT URL'; blank lines and lines starting with # "
                   "are ignored. Default: the official UBC Fashion lists.")
@click.option("--dataset", "dataset", default=DEFAULT_DATASET, show_default=True,
              help="The dataset's splits and list file names: a registered name or a JSON spec file "
                   "(docs/extending.md, 'Add a dataset').")
@click.option("--out", "out_dir", default=None,
              help="Dataset directory. [default: data/synthetic with --synthetic, else data/fashion]")
@click.option("--preset", type=click.Choice(["cpu", "paper"]), default="cpu", show_default=True,
              help="Frame size and default encoders (cpu: 128x96, tiny VAE/CLIP; "
                   "paper: 640x512, SD VAE, CLIP B/32).")
@click.option("--vae", default=None,
              help="VAE: hub id, local directory or 'tiny' (trained here). [default: preset's]")
@click.option("--clip", default=None,
              help="CLIP vision tower: hub id, local directory or 'tiny'. [default: preset's]")
@click.option("--resize", type=click.Choice(["stretch", "crop"]), default="stretch", show_default=True,
              help="stretch: scale each axis to the preset size; "
                   "crop: centre crop to its aspect, then scale.")
@click.option("--shard-size-mb", default=None, type=click.FloatRange(min=0, min_open=True),
              help="Payload per shard. [default: 8 up to 256x256 frames, else 256]")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=1),
              help="Parallel downloads.")
@click.option("--verify", "verify_only", is_flag=True,
              help="Only check existing shards against their manifests; exit 1 naming any bad shard.")
@click.option("--vae-steps", default=None, type=int,
              help="Training steps of the tiny VAE. [default: its own]")
@click.option("--n-train", default=48, show_default=True, type=int, help="Synthetic training videos.")
@click.option("--n-test", default=16, show_default=True, type=int, help="Synthetic test videos.")
@click.option("--frames", default=64, show_default=True, type=int, help="Frames per synthetic video.")
@click.option("--height", default=None, type=int,
              help="Override the preset's frame height (small experiments).")
@click.option("--width", default=None, type=int,
              help="Override the preset's frame width (small experiments).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the synthetic set and tiny encoders.")
@click.option("--threads", default=None, type=click.IntRange(min=1),
              help="torch threads; recorded, and a rerun of the same --out must use the same number. "
                   "[default: 1 with the tiny encoders, else torch's]")
@click.option("--strict", is_flag=True,
              help="Fail (exit 1) if any video is skipped, writing no manifest that a later command would "
                   "accept; by default skipped videos are named in the summary and in "
                   "shards/<split>/skipped.csv and the rest is used.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def prepare(ctx: click.Context, synthetic: bool, source: str | None, urls: str | None, dataset: str,
            out_dir: str | None, preset: str,
            vae: str | None, clip: str | None, resize: str, shard_size_mb: float | None, workers: int,
            verify_only: bool,
            vae_steps: int | None, n_train: int, n_test: int, frames: int, height: int | None,
            width: int | None, seed: int, threads: int | None, strict: bool, quiet: bool) -> None:
    """Download, verify and shard the Fashion dataset with cached VAE latents and CLIP tokens.

    Resumable: run it again after an interruption and it finishes the same shards, byte for byte.
    Ctrl-C or SIGTERM stops it with exit 130 / 143 and a line saying what was finished.
    Videos that cannot be used are skipped, named in the summary and in shards/<split>/skipped.csv.
    Options and URL lists are checked before anything is written: a refused run leaves --out as it was.
    Under `torchrun --nproc_per_node=N -m ffbench.cli prepare ...` the videos are encoded by N processes
    (--threads is per process) and the shards and manifests are the bytes one process writes.

    \b
    Examples:
      ffbench prepare --synthetic --preset cpu --out data/synthetic
      ffbench prepare --preset paper --out data/fashion --resize crop
      ffbench prepare --source ~/videos/fashion --preset cpu --out data/local
      ffbench prepare --source ~/videos/mine --vae data/synthetic/encoders/vae --out data/mine
      ffbench prepare --verify --out data/synthetic
    """
    from ffbench.datasets import prepare as library
    from ffbench.datasets.spec import get_dataset

    out = out_dir or ("data/synthetic" if synthetic else "data/fashion")
    if verify_only:
        problems = library.verify(out)
        for split, found in problems.items():
            click.echo(f"{split}: {'OK' if not found else f'{len(found)} problem(s)'}")
            for problem in found:
                click.echo(f"  {problem}")
        if any(problems.values()):
            raise SystemExit(1)
        return
    options = library.PrepareOptions(
        preset=preset, dataset=get_dataset(dataset), synthetic=synthetic, source_dir=source, urls_file=urls,
        vae=vae, clip=clip, resize=resize, shard_size_mb=shard_size_mb, download_workers=workers, seed=seed,
        synthetic_train=n_train, synthetic_test=n_test, synthetic_frames=frames, vae_steps=vae_steps,
        height=height, width=width, threads=threads, strict=strict, progress=not quiet)
    from ffbench.distributed import PeerFailed, cleanup_distributed, init_distributed

    # Under torchrun every process joins the group and encodes its share of the videos; without torchrun's
    # variables this is one process, as before.
    info = init_distributed()
    try:
        extra = {"info": info} if info.distributed else {}  # one process: the call as it always was
        result = library.prepare(out, options, **extra)
    except library.PrepareInterrupted as err:  # the shell's exit code for the signal, not 1
        if not info.is_main:  # torchrun signals every process: the main one says what was finished
            ctx.exit(err.exit_code)
        failure = click.ClickException(err.describe(rerun_command(ctx, out)))
        failure.exit_code = err.exit_code
        raise failure from None
    except library.ThreadCountMismatch as err:
        raise click.ClickException(err.describe(rerun_command(ctx, out, threads=err.recorded))) from None
    except PeerFailed as err:  # an error of one process, on every process: the main one prints it
        if not info.is_main:
            ctx.exit(1)
        if isinstance(err.__cause__, library.ThreadCountMismatch):
            cause = err.__cause__
            rerun = rerun_command(ctx, out, threads=cause.recorded)
            raise click.ClickException(cause.describe(rerun)) from None
        raise
    finally:
        if info.distributed:
            cleanup_distributed()
    if info.is_main:
        click.echo(result.summary())


def rerun_command(ctx: click.Context, out: str, **changes: object) -> str:
    """The `ffbench prepare` command that reruns this one: every flag the user gave (defaults left out),
    --out always, and `changes` ({parameter name: value}) in place of what was given."""
    words = ["ffbench", ctx.info_name or "prepare"]
    for param in ctx.command.params:
        name = param.name
        value = out if name == "out_dir" else changes.get(name, ctx.params.get(name))
        given = ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)
        if value is None or value is False or not (given or name in changes or name == "out_dir"):
            continue
        flag = max(param.opts, key=len)
        words += [flag] if isinstance(param, click.Option) and param.is_flag else [flag, str(value)]
    return shlex.join(words)
