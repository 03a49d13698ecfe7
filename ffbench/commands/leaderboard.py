"""`ffbench leaderboard`: print the leaderboard tables."""

from __future__ import annotations

import click

from ffbench.commands._unbuilt import not_built


@click.command("leaderboard")
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv"]), default="markdown",
              show_default=True, help="Output format.")
def leaderboard(fmt: str) -> None:
    """Print one table per metric, methods as rows.

    \b
    Example:
      ffbench leaderboard --format markdown
    """
    not_built("leaderboard", "issue 5, metrics")
