"""`ffbench train MODEL`: train a model from prepared shards."""

from __future__ import annotations

import click

from ffbench.commands._unbuilt import not_built


@click.command("train")
@click.argument("model", type=click.Choice(["fashionflow", "imaginator", "cinn", "poke"]))
def train(model: str) -> None:
    """Train MODEL from prepared shards, with checkpoints, resume, EMA and progress.

    \b
    Example:
      ffbench train fashionflow --shards data/synthetic --preset cpu --out runs/ff-cpu
    """
    not_built(f"train {model}", "issue 4, model")
