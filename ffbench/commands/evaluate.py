"""`ffbench eval`: score generated videos against real ones into leaderboard CSVs."""

from __future__ import annotations

import click

from ffbench.commands._unbuilt import not_built


@click.command("eval")
@click.option("--metric", default="all", show_default=True, help="fvd, vfid, is, fid, kvd or all.")
def evaluate(metric: str) -> None:
    """Score generated videos with FVD, VFID-I3D, IS, FID and KVD; append rows to the leaderboard.

    \b
    Example:
      ffbench eval --metric fvd --real data/synthetic/test --fake runs/ff-cpu/samples --method fashionflow
    """
    not_built("eval", "issue 5, metrics")
