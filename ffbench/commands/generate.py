"""`ffbench generate`: still images in, video files out (a thin wrapper of `generate_videos`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@click.command("generate")
@click.argument("image", type=click.Path(exists=True))
@click.option(
    "--checkpoint",
    type=click.Path(file_okay=False),
    required=True,
    help="Saved FashionFlowPipeline directory (ffbench train exports <run>/pipeline).",
)
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(),
    default=None,
    help="Output mp4 (a directory when IMAGE is a directory).  [default: IMAGE's name with .mp4, in the "
    "current directory]",
)
@click.option(
    "--frames", type=click.IntRange(min=1), default=None,
    help="Frames to sample.  [default: the model's training clip length]"
)
@click.option(
    "--steps",
    type=int,
    default=25,
    show_default=True,
    help="Sampler steps (the paper: --sampler ddpm --steps 1000).",
)
@click.option(
    "--sampler",
    type=click.Choice(["ddpm", "ddim", "dpmpp"]),
    default="dpmpp",
    show_default=True,
    help="ddpm (ancestral), ddim, or dpmpp (DPM-Solver++ multistep).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling noise.")
@click.option(
    "--guidance-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Classifier-free guidance weight; > 1 needs a model trained with --cond-dropout.",
)
@click.option("--gif", is_flag=True, help="Also write a GIF preview beside the mp4.")
@click.option(
    "--interpolate",
    is_flag=True,
    help="Double the frame rate with the interpolation model (2*frames-1 frames at 2x fps).",
)
@click.option(
    "--interpolator",
    type=click.Path(file_okay=False),
    default=None,
    help="Interpolation model directory (ffbench train fashionflow --stage interpolate exports "
    "<run>/interpolator), unless the pipeline has one.",
)
@click.option("--device", default=None, help="torch device.  [default: cuda if available, else cpu]")
def generate(
    image: str,
    checkpoint: str,
    out_path: str | None,
    frames: int | None,
    steps: int,
    sampler: str,
    seed: int,
    guidance_scale: float,
    gif: bool,
    interpolate: bool,
    interpolator: str | None,
    device: str | None,
) -> None:
    """Generate a video from one still IMAGE with a trained FashionFlow pipeline.

    IMAGE may also be a directory: every .png/.jpg/.jpeg/.webp in it becomes <out>/<name>.mp4, with the
    pipeline loaded once; a split folder of shards (from `ffbench prepare`) gives one video per sample,
    generated from its stored conditioning frame (cond.png).

    Any image mode (RGBA, greyscale, CMYK, palette) is converted to RGB, resized to cover the model's
    frame size and centre-cropped. The video is written at the training data's frame rate.

    \b
    Example:
      ffbench generate person.png --checkpoint runs/ff-cpu/pipeline -o person.mp4 --frames 16 --gif
      ffbench generate data/synthetic/shards/test --checkpoint runs/ff-cpu/pipeline -o runs/ff-cpu/samples
    """
    from ffbench.devices import resolve_device
    from ffbench.errors import UserError, ensure_writable_dir
    from ffbench.models.fashionflow.generate import generate_videos

    device = resolve_device(device)  # before any weights load: `--device cuda` without a GPU fails now
    with tempfile.TemporaryDirectory(prefix="ffbench-cond-") as staging:
        source = Path(image)
        if source.is_dir() and any(source.glob("*.tar")):
            source = _conditioning_frames(source, Path(staging))
        if source.is_dir():
            images = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                kinds = ", ".join(IMAGE_SUFFIXES)
                raise click.ClickException(f"{image}: no images ({kinds}) in this directory")
            out_dir = ensure_writable_dir(out_path or "samples", "-o")
            outs = [out_dir / f"{p.stem}.mp4" for p in images]
        else:
            out = Path(out_path or f"{source.stem}.mp4")
            if out.is_dir():
                raise UserError(f"-o {out}: this is a folder; give a file name, e.g. -o {out / source.stem}"
                                ".mp4")
            ensure_writable_dir(out.parent, "-o")
            images, outs = [source], [out]
        try:
            written = generate_videos(
                images, checkpoint, outs, frames=frames, steps=steps, sampler=sampler, seed=seed,
                guidance_scale=guidance_scale, gif=gif, interpolate=interpolate, interpolator=interpolator,
                device=device,
            )
        except ValueError as err:  # the generation library reports bad images/checkpoints as ValueError
            if isinstance(err, UserError):
                raise
            raise click.ClickException(str(err)) from None
    click.echo(f"wrote {written[0]}" if len(written) == 1 else f"wrote {len(written)} videos to {out_dir}")


def _conditioning_frames(split_dir: Path, into: Path) -> Path:
    """Write each shard sample's stored conditioning frame to `into/<key>.png`; return `into`.

    A file among the shards that is not a readable tar raises ShardError naming it.
    """
    from ffbench.datasets.shards import iter_split_entries

    for key, png in iter_split_entries(split_dir, "cond.png"):
        (into / f"{key}.png").write_bytes(png)
    return into
