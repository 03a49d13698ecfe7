"""`ffbench prepare`: download, verify and shard the Fashion dataset with cached features."""

from __future__ import annotations

import click


@click.command("prepare")
@click.option("--synthetic", is_flag=True,
              help="Render the embedded synthetic fashion videos instead of downloading.")
@click.option("--source", "source", type=click.Path(exists=True, file_okay=False),
              help="A local folder laid out like a download (fashion_train.txt / fashion_test.txt + videos).")
@click.option("--urls", "urls", type=click.Path(exists=True, dir_okay=False),
              help="A URL list: lines 'URL' (train) or 'SPLIT URL'; blank lines and lines starting with # "
                   "are ignored. Default: the official UBC Fashion lists.")
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
def prepare(synthetic: bool, source: str | None, urls: str | None, out_dir: str | None, preset: str,
            vae: str | None, clip: str | None, resize: str, shard_size_mb: float | None, workers: int,
            verify_only: bool,
            vae_steps: int | None, n_train: int, n_test: int, frames: int, height: int | None,
            width: int | None, seed: int, threads: int | None, strict: bool, quiet: bool) -> None:
    """Download, verify and shard the Fashion dataset with cached VAE latents and CLIP tokens.

    Resumable: run it again after an interruption and it finishes the same shards, byte for byte.
    Ctrl-C or SIGTERM stops it with exit 130 / 143 and a line saying what was finished.
    Videos that cannot be used are skipped, named in the summary and in shards/<split>/skipped.csv.
    Options and URL lists are checked before anything is written: a refused run leaves --out as it was.

    \b
    Examples:
      ffbench prepare --synthetic --preset cpu --out data/synthetic
      ffbench prepare --preset paper --out data/fashion --resize crop
      ffbench prepare --source ~/videos/fashion --preset cpu --out data/local
      ffbench prepare --source ~/videos/mine --vae data/synthetic/encoders/vae --out data/mine
      ffbench prepare --verify --out data/synthetic
    """
    from ffbench.datasets.prepare import PrepareInterrupted
    from ffbench.datasets.prepare import prepare as run_prepare

    out = out_dir or ("data/synthetic" if synthetic else "data/fashion")
    try:
        result = run_prepare(out, preset=preset, synthetic=synthetic, source=source, urls=urls, vae=vae,
                             clip=clip, resize=resize, shard_size_mb=shard_size_mb, workers=workers,
                             verify_only=verify_only, seed=seed, n_train=n_train, n_test=n_test,
                             frames=frames, vae_steps=vae_steps, height=height, width=width, threads=threads,
                             strict=strict, progress=not quiet)
    except PrepareInterrupted as err:  # the shell's exit code for the signal, not 1
        failure = click.ClickException(str(err))
        failure.exit_code = err.exit_code
        raise failure from None
    if verify_only:
        bad = {split: problems for split, problems in result.problems.items() if problems}
        for split, problems in result.problems.items():
            click.echo(f"{split}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
            for problem in problems:
                click.echo(f"  {problem}")
        if bad:
            raise SystemExit(1)
        return
    click.echo(result.summary())
