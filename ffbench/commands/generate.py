"""`ffbench generate`: conditioning frames in, one video per frame out, for every model (a thin wrapper of
`ffbench.generation.generate_set`)."""

from __future__ import annotations

import click
from click.core import ParameterSource

from ffbench.models.registry import available_models


@click.command("generate")
@click.argument("image", type=click.Path(exists=True))
@click.option("--checkpoint", type=click.Path(file_okay=False), default=None,
              help="A trained model: the folder `ffbench train` exported (runs/fashionflow/pipeline, "
                   "runs/imaginator/generator, ...) or the run directory. Its saved config says which model "
                   "it is. Not needed for --model static.")
@click.option("--model", type=click.Choice(available_models()), default=None,
              help="The model; with --checkpoint a check of the folder's type.  [default: the checkpoint's]")
@click.option("-o", "--out", "out_path", type=click.Path(), default=None,
              help="Output mp4 (a folder when IMAGE is a folder or a split).  [default: IMAGE's name with "
                   ".mp4, or the folder `samples`]")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Frames per video.  [default: the model's training clip length; static: the split's]")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the sampling noise (each video draws its own from it and its name).")
@click.option("--real", type=click.Path(exists=True, file_okay=False), default=None,
              help="Real split for models that take privileged input from the real test video (Poke's "
                   "pokes).  [default: IMAGE when it is a split]")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="FashionFlow: sampler steps (the paper: --sampler ddpm --steps 1000).  [default: the "
                   "sampler's own: ddpm 1000, ddim 50, dpmpp 25, dpmpp-sde 50]")
@click.option("--sampler", type=click.Choice(["ddpm", "ddim", "dpmpp", "dpmpp-sde"]), default=None,
              help="FashionFlow: ddpm (ancestral, the paper's), ddim, dpmpp (DPM-Solver++ multistep) or "
                   "dpmpp-sde (DPM-Solver++ for the SDE, within 0.05 dB of ddpm-1000 at 50 calls).  "
                   "[default: dpmpp-sde]")
@click.option("--guidance-scale", type=float, default=1.0, show_default=True,
              help="FashionFlow: classifier-free guidance weight; > 1 needs a model trained with "
                   "--cond-dropout.")
@click.option("--interpolate", is_flag=True,
              help="FashionFlow: double the frame rate with the interpolation model (2 x fps; by default "
                   "2F-1 frames for a model trained on F).")
@click.option("--interpolator", type=click.Path(file_okay=False), default=None,
              help="FashionFlow: interpolation model directory (`ffbench train fashionflow --stage "
                   "interpolate` exports <run>/interpolator), unless the pipeline has one.")
@click.option("--inference", type=click.Choice(["official", "ffbench"]), default=None,
              help="FashionFlow: `official` samples as the public inference.py (DDPM over all 1000 steps, no "
                   "x0 clip, its [0, 1] VAE and CLIP inputs, 70 frames at 25 fps), as the published weights "
                   "were trained; `ffbench` uses the corrected inputs and --sampler. Recorded in "
                   "generation.json.  [default: the checkpoint's: official for `ffbench convert`, ffbench "
                   "for `ffbench train`]")
@click.option("--gif", is_flag=True, help="Also write a GIF preview beside each mp4.")
@click.option("--device", default=None, help="torch device.  [default: cuda if available, else cpu]")
@click.option("--threads", default=0, show_default=True, type=click.IntRange(0),
              help="CPU threads (0 = torch's default). Beside another busy command, 1 can be several times "
                   "faster than 2.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.pass_context
def generate(ctx: click.Context, image: str, checkpoint: str | None, model: str | None, out_path: str | None,
             frames: int | None, seed: int, real: str | None, gif: bool, device: str | None, threads: int,
             progress: bool, **sampler_options) -> None:
    """Generate videos from still images with any trained model (or the `static` floor).

    IMAGE is one image, a folder of images (each becomes <out>/<name>.mp4) or a split folder of shards
    from `ffbench prepare` (one video per sample, from its stored first frame cond.png, named by its
    key). Every model writes the same names, frame count and frame rate, so `ffbench eval` scores them
    alike; a folder output also gets generation.json (model, checkpoint, settings, flags such as
    privileged input), which eval copies into its rows. Videos from a split are written at its frame
    size (a model that samples smaller is upsampled, and flagged so). Interrupted (Ctrl-C or SIGTERM), it
    exits 130 or 143 and says how many videos are finished; the same command then skips them and resumes.
    Under `torchrun --nproc_per_node=N -m ffbench.cli generate ...` the videos are split between the N
    processes (each on cuda:LOCAL_RANK, or the CPU; --threads is per process) and every file is the one a
    single process writes.

    \b
    Example:
      ffbench generate data/synthetic/shards/test --checkpoint runs/ff-cpu/pipeline -o runs/ff-cpu/samples
      ffbench generate data/synthetic/shards/test --checkpoint runs/imaginator -o runs/imaginator/samples
      ffbench generate data/synthetic/shards/test --model static -o runs/static/samples
      ffbench generate person.png --checkpoint runs/ff-cpu/pipeline -o person.mp4 --frames 16 --gif
    """
    from ffbench.devices import resolve_device
    from ffbench.distributed import PeerFailed, cleanup_distributed, init_distributed
    from ffbench.threads import limit_threads

    limit_threads(threads)  # per process under torchrun
    device = resolve_device(device)  # before any weights load: `--device cuda` without a GPU fails now
    # Under torchrun each process joins the group (gloo on the CPU, NCCL on cuda:LOCAL_RANK) and samples its
    # share of the videos; without torchrun's variables this is one process, as before.
    info = init_distributed(device)
    try:
        _run(ctx, info, image, checkpoint, model, out_path, frames, seed, real, gif, progress,
             sampler_options)
    except PeerFailed:  # another rank's error: the main process prints it, the others stop quietly
        if info.is_main:
            raise
        ctx.exit(1)
    finally:
        if info.distributed:
            cleanup_distributed()


def _run(ctx: click.Context, info, image: str, checkpoint: str | None, model: str | None,
         out_path: str | None, frames: int | None, seed: int, real: str | None, gif: bool, progress: bool,
         sampler_options: dict) -> None:
    """The command on one process (of one, or of torchrun's group `info`)."""
    from pathlib import Path

    from ffbench import interrupts
    from ffbench.errors import UserError, check_writable_dir
    from ffbench.generation import GenerationInterrupted, generate_set

    # An output that cannot be written fails now, not after the model is loaded; nothing is created yet,
    # so a run that fails on its inputs leaves no empty folder behind.
    if Path(image).is_file():
        out = Path(out_path or f"{Path(image).stem}.mp4")
        if out.is_dir():
            raise UserError(f"-o {out}: this is a folder; give a file name, e.g. "
                            f"-o {out / Path(image).stem}.mp4")
        check_writable_dir(out.resolve().parent, "-o")
    else:
        folder = Path(out_path or "samples")
        if folder.exists() and not folder.is_dir():
            raise UserError(f"-o {folder}: this is a file, not a folder; choose a folder path")
        check_writable_dir(folder, "-o")
    # Sampler settings only some models take go on only when the user set them, so a model that has no use
    # for one says so instead of ignoring it.
    options = {k: v for k, v in sampler_options.items()
               if ctx.get_parameter_source(k) != ParameterSource.DEFAULT}
    result = None
    with interrupts.catch_signals():
        try:
            result = generate_set(image, out_path, checkpoint=checkpoint, model=model, frames=frames,
                                  seed=seed, device=str(info.device), gif=gif, real=real,
                                  options=options, progress=progress, info=info)
            interrupts.check()
        except ValueError as err:  # UserErrors are printed by the CLI group; FashionFlow's loader raises them
            raise click.ClickException(str(err)) from err
        except GenerationInterrupted as err:
            _stop(ctx, err, err.describe() if info.is_main else None)
        except KeyboardInterrupt as err:  # before any output was made, or after all of it was written
            err = interrupts.as_interrupted(err)
            what = ("before any output was made: nothing was written; run the same command to start again"
                    if result is None else
                    f"after the set was complete ({len(result.videos)} videos); nothing is left to do")
            _stop(ctx, err, f"generate interrupted by {err.name} {what}" if info.is_main else None)
    if not info.is_main:
        return
    videos = result.videos
    record = result.record
    where = videos[0] if len(videos) == 1 else videos[0].parent
    by = f" by {info.world_size} processes" if info.distributed else ""
    click.echo(f"{record['model']}: wrote {len(videos)} video{'s' if len(videos) > 1 else ''} of "
               f"{record['frames']} frames at {record['fps']:g} fps to {where}{by}")
    for flag in record["flags"]:
        click.echo(f"flag: {flag}")


def _stop(ctx: click.Context, err, message: str | None) -> None:
    """End an interrupted run: the message on stderr (the main process's only), exit 128 + signal number
    (130 SIGINT, 143 SIGTERM)."""
    if message is not None:
        click.echo(message, err=True)
    ctx.exit(err.exit_code)
