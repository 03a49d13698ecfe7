"""`ffbench generate`: one still image in, a video file out."""

from __future__ import annotations

import click

from ffbench.commands._unbuilt import not_built


@click.command("generate")
@click.argument("image", type=click.Path())
def generate(image: str) -> None:
    """Generate a video from one still IMAGE with a trained model.

    \b
    Example:
      ffbench generate person.png --checkpoint runs/ff-cpu/pipeline -o person.mp4
    """
    not_built("generate", "issue 4, model")
