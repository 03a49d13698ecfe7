"""`ffbench leaderboard`: print the leaderboard tables."""

from __future__ import annotations

import click


def _check_metric(_ctx: click.Context, _param, value: str | None) -> str | None:
    """--metric: a registered metric (checked here, not as click.Choice, so the registry and its plugins
    load only when the option is given)."""
    if value is None:
        return None
    from ffbench.metrics.registry import get_metric

    try:
        return get_metric(value.strip().lower()).name
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("leaderboard")
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv"]), default="markdown",
              show_default=True, help="Output format.")
@click.option("--dir", "directory", default="leaderboard", show_default=True,
              type=click.Path(file_okay=False),
              help="Folder of <dataset>.csv files written by `ffbench eval`.")
@click.option("--dataset", default=None, help="Only this dataset's CSV (default: every CSV in --dir).")
@click.option("--metric", default=None, callback=_check_metric,
              help="Only this metric (a registered name; `ffbench eval --list-metrics` lists them).")
@click.option("--published", is_flag=True,
              help="Also print the numbers published on UBC Fashion, ours beside them only where the "
                   "protocol, task, data and extractor are the same (and why not otherwise).")
def leaderboard(fmt: str, directory: str, dataset: str | None, metric: str | None, published: bool) -> None:
    """Print one table per metric, methods as rows, grouped as distribution metrics, paired metrics and
    diagnostics.

    A table holds numbers from one extractor and one protocol only; random-init tables say so. Each row
    shows its bootstrap 95% interval. Diagnostics show the generated value, the real value and their ratio.

    "Better than" (diagnostics: "closer to real than"): where two methods have per-video values (kept by
    `ffbench eval` in --dir/per_video/) on the same real set, the paired difference on their shared test
    ids (BCa 95%, 2000 resamples of the ids shared by both), with Holm's correction over all pairs of the
    table (family-wise error <= 5% per table); distribution metrics likewise, from the per-unit features
    eval kept in --dir/per_video/features/ (one resample of the real videos and of the shared test ids for
    both methods, the difference of the two distances); otherwise (older leaderboards, different real
    sets) their own intervals do not overlap. Each table's title says which rule it used.

    \b
    Example:
      ffbench leaderboard --format markdown
      ffbench leaderboard --dataset synthetic --metric fvd --format csv
      ffbench leaderboard --published
    """
    from ffbench.leaderboard import format_leaderboard, read_leaderboard
    from ffbench.per_video_store import read_store

    try:
        df = read_leaderboard(directory, dataset)
    except ValueError as exc:
        if not published:
            raise click.ClickException(str(exc)) from None
        df = None  # the published numbers stand alone until `ffbench eval` has written rows
        click.echo(f"({exc})", err=True)
    if df is not None:
        click.echo(format_leaderboard(df, fmt, metric, read_store(directory, dataset), directory), nl=False)
    if published:
        from ffbench.leaderboard import to_markdown
        from ffbench.published import comparison_table

        table = comparison_table(df)
        if metric:
            table = table[table["metric"] == metric]
        heading = "Published results on UBC Fashion (ours beside them only where comparable)"
        click.echo(f"\n## {heading}\n\n{to_markdown(table)}\n" if fmt == "markdown"
                   else f"## {heading}\n{table.to_csv(index=False)}", nl=False)
