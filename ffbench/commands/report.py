"""`ffbench report`: the leaderboard, plots and videos of every method as one HTML folder."""

from __future__ import annotations

from pathlib import Path

import click


def _method_option(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or not name or not folder:
            raise click.BadParameter(f"{value!r}: give NAME=FOLDER, e.g. fashionflow=runs/ff/samples",
                                     param_hint="--method")
        out[name] = folder
    return out


@click.command("report")
@click.option("--leaderboard-dir", "leaderboard", default="leaderboard", show_default=True,
              type=click.Path(),
              help="The folder of <dataset>.csv files `ffbench eval` wrote (or one CSV).")
@click.option("--dataset", default=None, help="The dataset to report on, when the folder holds several.")
@click.option("-o", "--out", "out_dir", default="report", show_default=True, type=click.Path(file_okay=False),
              help="Report folder; index.html inside. Replaced as a whole when the new one is complete.")
@click.option("--real", default=None, type=click.Path(exists=True, file_okay=False),
              help="Real test set.  [default: the one the leaderboard rows were scored against]")
@click.option("--method", "methods", multiple=True, metavar="NAME=FOLDER",
              help="A method's generated videos, replacing the folder its rows name (repeatable).")
@click.option("--videos", "max_videos", default=None, type=click.IntRange(min=1),
              help="Show only the first N test videos.  [default: all]")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Print progress.")
def report(leaderboard: str, dataset: str | None, out_dir: str, real: str | None, methods: tuple[str, ...],
           max_videos: int | None, progress: bool) -> None:
    """Write an HTML report that opens with the answer: a summary table (methods x headline metrics, the
    best marked, the paired test's "significantly better than", flags explained once), then every
    method's test videos side by side with contact sheets, then a plot per metric and the diagnostics'
    curves, then the full leaderboard tables, the published numbers and each method's worst videos. It
    opens from disk (relative links only).

    \b
    Example:
      ffbench report -o report
      ffbench report --leaderboard-dir leaderboard --dataset synthetic --videos 2 -o report-2
    """
    from ffbench.errors import ensure_writable_dir
    from ffbench.report import build_report

    out = Path(out_dir)
    ensure_writable_dir(out.resolve().parent, "-o/--out")
    result = build_report(leaderboard, out, dataset=dataset, real=real, methods=_method_option(methods),
                          max_videos=max_videos, progress=progress)
    click.echo(f"report: {result.index} ({len(result.methods)} methods: {', '.join(result.methods)}; "
               f"{result.videos} test videos, {result.plots} plots)")
