"""The `ffbench` command line: a thin click group over library functions."""

from __future__ import annotations

import click

from ffbench import __version__
from ffbench.commands.convert import convert
from ffbench.commands.evaluate import evaluate
from ffbench.commands.generate import generate
from ffbench.commands.leaderboard import leaderboard
from ffbench.commands.prepare import prepare
from ffbench.commands.report import report
from ffbench.commands.train import train
from ffbench.errors import UserError, describe_os_error


class FFBenchGroup(click.Group):
    """Turns expected failures (UserError, environment OSErrors) into one message and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as err:
            raise click.ClickException(str(err)) from None
        except OSError as err:
            message = describe_os_error(err)
            if message is None:
                raise
            raise click.ClickException(message) from None


@click.group(cls=FFBenchGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="ffbench")
def main() -> None:
    """ffbench: prepare the Fashion video dataset, train FashionFlow and its baselines, score them.

    \b
    Typical run:
      ffbench prepare --synthetic --preset cpu --out data/synthetic
      ffbench train fashionflow --shards data/synthetic --preset cpu --out runs/ff-cpu
      ffbench generate data/synthetic/shards/test --checkpoint runs/ff-cpu/pipeline -o runs/ff-cpu/samples
      ffbench eval --metric all --real data/synthetic --fake runs/ff-cpu/samples --method fashionflow
      ffbench leaderboard
      ffbench report -o report
    """
    from ffbench.progress import quiet_libraries_in_logs

    quiet_libraries_in_logs()


main.add_command(prepare)
main.add_command(train)
main.add_command(generate)
main.add_command(evaluate)
main.add_command(leaderboard)
main.add_command(report)
main.add_command(convert)

if __name__ == "__main__":
    main()
