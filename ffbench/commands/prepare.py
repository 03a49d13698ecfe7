"""`ffbench prepare`: download, verify and shard the Fashion dataset with cached features."""

from __future__ import annotations

import click

from ffbench.commands._unbuilt import not_built


@click.command("prepare")
@click.option("--synthetic", is_flag=True, help="Use the embedded synthetic fashion video generator.")
@click.option("--out", "out_dir", default="data", show_default=True, help="Output directory.")
def prepare(synthetic: bool, out_dir: str) -> None:
    """Download, verify and shard the Fashion dataset with cached VAE latents and CLIP tokens.

    \b
    Example:
      ffbench prepare --synthetic --preset cpu --out data/synthetic
    """
    not_built("prepare", "issue 3, data")
