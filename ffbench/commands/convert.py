"""`ffbench convert`: a published checkpoint in, a pipeline folder that `ffbench generate` and `eval` use
out (a thin wrapper of `ffbench.models.fashionflow.convert`)."""

from __future__ import annotations

import click

from ffbench.encoders import DEFAULT_CLIP, DEFAULT_VAE


def _latent_size(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    parts = value.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) >= 2 for p in parts):
        raise click.BadParameter(f"{value!r}: give the latent height and width as HxW, e.g. 80x64")
    return int(parts[0]), int(parts[1])


def _heads(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",")]
    if not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise click.BadParameter(f"{value!r}: give one head count per stage, comma-separated, e.g. 1,1,2,4")
    return tuple(int(p) for p in parts)


@click.command("convert")
@click.argument("model", type=click.Choice(["fashionflow"]))
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out", required=True, type=click.Path(file_okay=False),
              help="Pipeline folder to write (like the <run>/pipeline that `ffbench train` exports).")
@click.option("--vae", default=DEFAULT_VAE, show_default=True,
              help="VAE the checkpoint was trained with: a hub id (its `vae` subfolder) or a local "
                   "directory.")
@click.option("--clip", default=DEFAULT_CLIP, show_default=True,
              help="CLIP vision tower it was trained with: a hub id or a local directory.")
@click.option("--latent-size", callback=_latent_size, default=None,
              help="Latent HxW the model was trained at (the adapter's shapes give only (H/2)*(W/2)).  "
                   "[default: 80x64, the paper's 640x512 frames]")
@click.option("--cross-attention-heads", callback=_heads, default=None,
              help="Cross-attention heads per stage, comma-separated (not in the shapes).  "
                   "[default: 1,1,2,4, the public code's]")
@click.option("--frames", type=click.IntRange(min=1), default=70, show_default=True,
              help="Frames the pipeline samples by default (the public code: 70).")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=25.0, show_default=True,
              help="Frame rate the videos are written at (the public code: 25).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
def convert(model: str, checkpoint: str, out: str, vae: str, clip: str, latent_size: tuple[int, int] | None,
            cross_attention_heads: tuple[int, ...] | None, frames: int, fps: float, overwrite: bool) -> None:
    """Convert the published FashionFlow checkpoint into a pipeline folder.

    CHECKPOINT is the authors' FashionFlow_checkpoint.pth (a torch file with the keys `net` and `adapter`);
    it is read with torch.load(weights_only=True), so no code in it ever runs. The widths are read from
    the tensor shapes, every tensor is mapped and loaded strictly into the `paper` network (which computes
    what the public code does), and the folder gets the VAE, CLIP and the training noise schedule (DDPM,
    legacy, 1000 steps) beside it, plus conversion.json (source sha256, mapping). Missing, unexpected or
    mis-shaped tensors are named; nothing is written unless all fits.

    \b
    Example:
      ffbench convert fashionflow FashionFlow_checkpoint.pth -o runs/ff-official
    """
    from pathlib import Path

    from ffbench.encoders import encoder_identity, load_clip, load_vae
    from ffbench.errors import UserError, check_writable_dir
    from ffbench.models.fashionflow.convert import convert_checkpoint, write_pipeline

    source = Path(checkpoint)
    if not source.is_file():
        raise UserError(f"CHECKPOINT {checkpoint}: no such file; give the .pth the authors released "
                        "(FashionFlow_checkpoint.pth)")
    target = Path(out)
    if target.exists() and not overwrite:
        raise UserError(f"-o {out}: already exists; remove it, choose another folder or pass --overwrite")
    check_writable_dir(target, "-o")
    # the encoders first: offline, a hub spec fails here in a second, before the checkpoint is read
    vae_model = load_vae(vae)
    clip_model, processor = load_clip(clip)
    converted, record = convert_checkpoint(source, latent_size, cross_attention_heads, frames, fps)
    record["encoders"] = {"vae": encoder_identity(vae_model), "clip": encoder_identity(clip_model)}
    written = write_pipeline(converted, vae_model, clip_model, processor, record, target, overwrite=overwrite)
    counts, params = record["mapping"], record["parameters"]
    click.echo(
        f"converted {counts['tensors']} tensors ({counts['renamed']} renamed, {counts['reshaped']} reshaped, "
        f"{counts['permuted']} permuted; {params['unet']:,} + {params['adapter']:,} parameters) from "
        f"{source.name} (sha256 {record['sha256'][:12]})\n"
        f"wrote {written}: sample it with `ffbench generate IMAGE --checkpoint {written}`"
    )
