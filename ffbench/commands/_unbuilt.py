"""Helper for subcommands whose work is not built yet: they say so and exit non-zero."""

from __future__ import annotations

import click


def not_built(command: str, issue: str) -> None:
    """Stop with exit status 1 (a ClickException) and a message naming the missing piece."""
    raise click.ClickException(f"'ffbench {command}' is not built yet ({issue}); nothing was done.")
