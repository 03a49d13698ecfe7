"""Issue 9, Deliver 6: every example in every `--help` (and the commands README.md names) runs as written.

The examples are read from the help texts themselves, so a new or changed example without a case here
fails `test_every_help_example_has_a_case`. They run in order in a scratch folder (the working directory,
with HOME there too, so `~/videos/...` and `~/.cache` stay inside it), each exactly as written plus only
the options that make it tiny (fewer, shorter synthetic videos, 1-2 training and sampling steps), which are
listed per example below. Examples that need the network or pretrained weights (the UBC download, the
Stable Diffusion VAE, the Kinetics I3D) cannot run offline: they must fail the clean way instead (exit 1,
one `Error:` line naming the option to use, no traceback, nothing partial left).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from official_checkpoints import save_official
from test_cli_errors import leftovers

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("prepare", "train", "generate", "eval", "leaderboard", "report", "convert")

# Options appended to make an example tiny (click keeps the last value of a repeated option).
TINY_SYNTHETIC = ("--n-train", "8", "--n-test", "2", "--frames", "18", "--vae-steps", "20", "--threads", "1",
                  "--quiet")
TINY_SOURCE = ("--vae-steps", "20", "--threads", "1", "--quiet")
TINY_TRAIN = ("--batch-size", "1", "--checkpoint-every", "1", "--threads", "1", "--no-progress")


@dataclass
class Case:
    """How one example runs here: `tiny` options appended; `offline` = what the clean failure of an
    example that needs the network or pretrained weights must say (None: the example must succeed);
    `makes` = files it must leave behind."""

    tiny: tuple[str, ...] = ()
    offline: str | None = None
    makes: tuple[str, ...] = ()
    output: str | None = None  # text the output must contain


CASES: dict[str, Case] = {
    # prepare
    "ffbench prepare --synthetic --preset cpu --out data/synthetic":
        Case(TINY_SYNTHETIC, makes=("data/synthetic/shards/train/manifest.json",
                                    "data/synthetic/encoders/vae")),
    "ffbench prepare --verify --out data/synthetic": Case(output="train: OK"),
    "ffbench prepare --source ~/videos/fashion --preset cpu --out data/local":
        Case(TINY_SOURCE, makes=("data/local/shards/train/manifest.json",)),
    "ffbench prepare --source ~/videos/mine --vae data/synthetic/encoders/vae --out data/mine":
        Case(("--threads", "1", "--quiet"), makes=("data/mine/shards/train/manifest.json",)),
    "ffbench prepare --preset paper --out data/fashion --resize crop": Case(offline="--vae"),
    # train
    "ffbench train fashionflow --shards data/synthetic --preset cpu --out runs/ff-cpu --steps 200":
        Case(("--steps", "1", *TINY_TRAIN), makes=("runs/ff-cpu/checkpoint-1", "runs/ff-cpu/pipeline")),
    "ffbench train fashionflow --shards data/synthetic --preset cpu --out runs/ff-cpu --steps 400 --resume":
        Case(("--steps", "2", *TINY_TRAIN), makes=("runs/ff-cpu/checkpoint-2",)),
    # generate
    "ffbench generate person.png --checkpoint runs/ff-cpu/pipeline -o person.mp4 --frames 16 --gif":
        Case(("--steps", "2"), makes=("person.mp4", "person.gif")),
    "ffbench generate data/synthetic/shards/test --checkpoint runs/ff-cpu/pipeline -o runs/ff-cpu/samples":
        Case(("--steps", "2"), makes=("runs/ff-cpu/samples",)),
    "ffbench train imaginator --shards data/synthetic --preset cpu --out runs/imaginator --steps 600":
        Case(("--steps", "1", *TINY_TRAIN, "--batch-size", "2"), makes=("runs/imaginator/generator",)),
    "ffbench generate data/synthetic/shards/test --checkpoint runs/imaginator -o runs/imaginator/samples":
        Case(makes=("runs/imaginator/samples/generation.json",)),
    "ffbench generate data/synthetic/shards/test --model static -o runs/static/samples":
        Case(makes=("runs/static/samples/generation.json",)),
    # eval: the first example uses the Kinetics-400 I3D, which cannot be downloaded offline
    "ffbench eval --metric fvd --real data/synthetic --fake runs/ff-cpu/samples --method fashionflow":
        Case(offline="--i3d"),
    "ffbench eval --metric all --real data/synthetic --fake runs/ff-cpu/samples --method fashionflow "
    "--i3d random --i3d-vfid random --inception random":
        Case(("--threads", "1"), makes=("leaderboard/synthetic.csv",)),
    "ffbench eval --metric psnr,ssim,motion,flicker --real data/synthetic --fake runs/ff-cpu/samples "
    "--method fashionflow --per-video per_video.csv":
        Case(makes=("per_video.csv",)),
    # leaderboard
    "ffbench leaderboard --format markdown": Case(output="random-init"),
    "ffbench leaderboard --dataset synthetic --metric fvd --format csv": Case(output="fashionflow"),
    "ffbench leaderboard --published": Case(output="Published results on UBC Fashion"),
    # report
    "ffbench report -o report": Case(("--no-progress",), makes=("report/index.html",)),
    "ffbench report --leaderboard-dir leaderboard --dataset synthetic --videos 2 -o report-2":
        Case(("--no-progress",), makes=("report-2/index.html",), output="2 test videos"),
    # convert: the published checkpoint (here a small one in its layout) with the paper's VAE, not offline
    "ffbench convert fashionflow FashionFlow_checkpoint.pth -o runs/ff-official": Case(offline="--vae"),
}

# `ffbench --help`'s "Typical run", in a second folder holding a copy of data/synthetic.
TYPICAL: dict[str, Case] = {
    "ffbench prepare --synthetic --preset cpu --out data/synthetic": Case(TINY_SYNTHETIC),  # a no-op rerun
    "ffbench train fashionflow --shards data/synthetic --preset cpu --out runs/ff-cpu":
        Case(("--steps", "1", *TINY_TRAIN), makes=("runs/ff-cpu/pipeline",)),
    "ffbench generate data/synthetic/shards/test --checkpoint runs/ff-cpu/pipeline -o runs/ff-cpu/samples":
        Case(("--steps", "2"), makes=("runs/ff-cpu/samples",)),
    "ffbench eval --metric all --real data/synthetic --fake runs/ff-cpu/samples --method fashionflow":
        Case(offline="--i3d"),
    # nothing was scored (the eval above needs the I3D weights, and it creates no folder before it fails):
    # a clean error that says to run eval first
    "ffbench leaderboard": Case(offline="run `ffbench eval` first"),
    "ffbench report -o report": Case(offline="run `ffbench eval` first"),
}


def help_text(*command: str) -> str:
    from ffbench.cli import main

    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def examples(text: str) -> list[str]:
    """The commands of every "Example:", "Examples:" or "Typical run:" block of a help text; a trailing
    backslash continues a command on the next line."""
    found, block, pending = [], False, ""
    for line in text.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"(Examples?|Typical run):", stripped):
            block = True
            continue
        if block and not stripped:
            block = False
            continue
        if block:
            pending += stripped
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip() + " "
                continue
            found.append(re.sub(r"\s+#.*$", "", pending).strip())
            pending = ""
    return found


def test_every_help_example_has_a_case():
    per_command = {c: examples(help_text(c)) for c in COMMANDS}
    assert all(per_command.values()), per_command  # every command shows at least one example
    assert sorted(e for found in per_command.values() for e in found) == sorted(CASES)
    assert examples(help_text()) == list(TYPICAL)


@dataclass
class Ran:
    folder: Path
    results: dict[str, Result] = field(default_factory=dict)


def _run(example: str, case: Case, home: Path) -> Result:
    from ffbench.cli import main

    with pytest.MonkeyPatch.context() as m:
        m.setenv("HOME", str(home))  # as the shell would, `~` expands to this HOME
        words = [os.path.expanduser(w) for w in shlex.split(example, comments=True)]
        assert words[0] == "ffbench"
        return CliRunner().invoke(main, [*words[1:], *case.tiny])


def _sources(home: Path, generated: Path) -> None:
    """~/videos/fashion: the 8 + 2 synthetic videos; ~/videos/mine: 3 of them (too few for a tiny VAE)."""
    shutil.copytree(generated, home / "videos" / "fashion", ignore=shutil.ignore_patterns(".*"))
    mine = home / "videos" / "mine"
    (mine / "videos").mkdir(parents=True)
    for name in ("synth_train_0000", "synth_train_0001", "synth_test_0000"):
        shutil.copy(generated / "videos" / f"{name}.mp4", mine / "videos" / f"{name}.mp4")
    (mine / "fashion_train.txt").write_text("videos/synth_train_0000.mp4\nvideos/synth_train_0001.mp4\n")
    (mine / "fashion_test.txt").write_text("videos/synth_test_0000.mp4\n")


def _person_png(folder: Path) -> None:
    from ffbench.datasets.shards import iter_split_entries

    _, png = next(iter_split_entries(folder / "data" / "synthetic" / "shards" / "test", "cond.png"))
    (folder / "person.png").write_bytes(png)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict[str, Ran]:
    """Every example run in order: the command help examples in `help/`, the typical run in `typical/`."""
    help_dir, typical_dir = tmp_path_factory.mktemp("help"), tmp_path_factory.mktemp("typical")
    out = {"help": Ran(help_dir), "typical": Ran(typical_dir)}
    cwd = os.getcwd()
    with pytest.MonkeyPatch.context() as m:
        for var in ("FFBENCH_CACHE", "XDG_CACHE_HOME"):
            m.delenv(var, raising=False)
        try:
            os.chdir(help_dir)
            prepared = help_dir / "data" / "synthetic"
            for example, case in CASES.items():
                # inputs the examples take from the user, made from the first example's output (when it
                # failed, they are missing and the examples that need them fail on their own)
                if example.startswith("ffbench prepare --source") and not (help_dir / "videos").exists() \
                        and (prepared / "generated" / ".complete.json").is_file():
                    _sources(help_dir, prepared / "generated")
                if example.startswith("ffbench generate person.png") and (prepared / "shards").is_dir():
                    _person_png(help_dir)
                if example.startswith("ffbench convert"):
                    save_official(help_dir / "FashionFlow_checkpoint.pth")
                out["help"].results[example] = _run(example, case, help_dir)
            os.chdir(typical_dir)
            shutil.copytree(prepared, typical_dir / "data" / "synthetic")
            for example, case in TYPICAL.items():
                out["typical"].results[example] = _run(example, case, typical_dir)
        finally:
            os.chdir(cwd)
    return out


ALL = [("help", e, c) for e, c in CASES.items()] + [("typical", e, c) for e, c in TYPICAL.items()]


@pytest.mark.parametrize(("where", "example", "case"), ALL, ids=[f"{w}: {e}" for w, e, _ in ALL])
def test_the_example_runs_as_written(ran, where, example, case):
    result, folder = ran[where].results[example], ran[where].folder
    assert "Traceback" not in result.output
    if case.offline is None:
        assert result.exit_code == 0, result.output
        for path in case.makes:
            assert (folder / path).exists(), path
        if case.output:
            assert case.output in result.output, result.output
    else:  # needs the network or pretrained weights: a clean failure that says what to pass instead
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert sum(line.startswith("Error:") for line in result.output.splitlines()) == 1, result.output
        assert case.offline in result.output, result.output
    assert leftovers(folder) == []


def test_readme_commands_are_examples_that_run():
    """README.md names `make` targets, one bench script and `ffbench` commands; every `ffbench` one (its
    `<...>` placeholders and `...` elisions aside) begins like an example run above."""
    text = (ROOT / "README.md").read_text()
    spans = re.findall(r"`([^`\n]+)`", text) + re.findall(r"```bash\n(.*?)```", text, re.S)
    commands = [re.sub(r"\s+#.*", "", line).strip() for span in spans for line in span.splitlines()]
    ran_words = [shlex.split(e) for e in [*CASES, *TYPICAL]]
    make_targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    checked = 0
    for command in commands:
        words = command.split()
        if not words:
            continue
        if words[0] == "make":  # `make demo` / `make test` are run end to end by the lead and CI
            assert all(w in make_targets or "=" in w for w in words[1:]), command
            checked += 1
        elif words[0] == "python" and words[1:2] and words[1].startswith("bench/"):
            assert (ROOT / words[1]).is_file(), command
            checked += 1
        elif words[0] == "ffbench" and len(words) > 1:
            # up to the first placeholder: `<shards>/test`, `...`, or a metavar such as MODEL / IMAGE
            head = list(takewhile(lambda w: w != "..." and not w.startswith("<") and not w.isupper(), words))
            assert any(r[: len(head)] == head for r in ran_words), command
            checked += 1
    assert checked >= 8  # make demo/test, the bench script, the five commands of the table and the steps
