"""`PrepareOptions`: the CLI builds one from its flags with the CLI's defaults, it checks itself in one
place with the messages the CLI gives, and the command line to rerun a prepare is made by the CLI, not the
library. `DatasetSpec`: names checked, lists of other splits refused, the default's files unchanged."""

from __future__ import annotations

import dataclasses
import shlex

import pytest
from click.testing import CliRunner

from ffbench.cli import main
from ffbench.datasets import prepare as library
from ffbench.datasets.prepare import PrepareError, PrepareInterrupted, PrepareOptions
from ffbench.datasets.spec import UBC_FASHION, DatasetSpec, DatasetSpecError, SplitSpec, get_dataset


def captured(monkeypatch, args: list[str]) -> tuple[str, PrepareOptions]:
    """The (DATA, options) `ffbench prepare ARGS` hands to the library (which is not run)."""
    seen = {}

    def fake(data_dir, options):
        seen["call"] = (str(data_dir), options)
        raise PrepareError("stopped by the test")

    monkeypatch.setattr(library, "prepare", fake)
    result = CliRunner().invoke(main, ["prepare", *args])
    assert "stopped by the test" in result.output, result.output
    return seen["call"]


def test_the_cli_defaults_are_the_options_defaults(monkeypatch):
    out, options = captured(monkeypatch, [])
    assert out == "data/fashion" and options == PrepareOptions()
    assert options.dataset is get_dataset() and options.dataset.split_names == ("train", "test")


def test_the_cli_builds_the_options_from_its_flags(monkeypatch, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    out, options = captured(monkeypatch, [
        "--source", str(src), "--out", str(tmp_path / "d"), "--preset", "cpu", "--resize", "crop",
        "--workers", "2", "--n-train", "9", "--n-test", "3", "--frames", "20", "--height", "48",
        "--width", "40", "--seed", "5", "--threads", "1", "--strict", "--quiet", "--vae-steps", "7",
        "--shard-size-mb", "0.5"])
    assert out == str(tmp_path / "d")
    assert options == PrepareOptions(source_dir=str(src), resize="crop", download_workers=2,
                                     synthetic_train=9, synthetic_test=3, synthetic_frames=20, height=48,
                                     width=40, seed=5, threads=1, strict=True, progress=False, vae_steps=7,
                                     shard_size_mb=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.seed = 1  # type: ignore[misc]


@pytest.mark.parametrize("kwargs, message", [
    ({"threads": 0}, "--threads must be >= 1, got 0"),
    ({"resize": "squash"}, "--resize 'squash' is not a policy; choose one of"),
    ({"shard_size_mb": 0.0}, "--shard-size-mb must be positive"),
    ({"synthetic": True, "urls_file": "u.txt"}, "pass at most one of --synthetic, --source, --urls"),
    ({"height": 50}, "--height 50 must be even and a multiple of the VAE downsample"),
    ({"synthetic_frames": 0}, "--frames must be >= 1"),
    ({"dataset": "nope"}, "--dataset 'nope' is neither a registered dataset (ubc-fashion)"),
])
def test_options_check_themselves_with_the_flag_in_the_message(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PrepareOptions(**kwargs)


def test_a_refused_option_exits_1_with_the_message_and_writes_nothing(tmp_path):
    args = ["prepare", "--synthetic", "--height", "50", "--out", str(tmp_path / "d")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "--height 50 must be even" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "d").exists()


def test_the_library_says_what_was_done_and_the_cli_how_to_rerun(monkeypatch, tmp_path):
    data = tmp_path / "d"
    err = PrepareInterrupted("SIGINT", data, "building the train samples", True, ["3 train samples built"])
    assert "ffbench" not in str(err) and "Finished and kept: 3 train samples built" in str(err)

    def interrupted(data_dir, options):
        raise err

    monkeypatch.setattr(library, "prepare", interrupted)
    args = ["prepare", "--synthetic", "--out", str(data), "--n-train", "8", "--threads", "1", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 130
    command = result.output.split("resume (finished work is not redone):", 1)[1].strip().splitlines()[0]
    assert shlex.split(command)[0:2] == ["ffbench", "prepare"]
    ctx = main.commands["prepare"].make_context("prepare", shlex.split(command)[2:])
    assert ctx.params["synthetic"] and ctx.params["out_dir"] == str(data) and ctx.params["n_train"] == 8
    assert ctx.params["threads"] == 1 and ctx.params["quiet"] and ctx.params["n_test"] == 16
    assert "--n-test" not in command  # defaults are left out, as the user left them out


def test_the_dataset_spec_checks_its_names():
    with pytest.raises(DatasetSpecError, match="test_split 'test' is not one of its splits"):
        DatasetSpec("mine", (SplitSpec("train", "a.txt"),))
    with pytest.raises(DatasetSpecError, match="list file 'lists/a.txt' is not a plain .txt file name"):
        SplitSpec("train", "lists/a.txt")
    with pytest.raises(DatasetSpecError, match="split names appear twice: train"):
        DatasetSpec("mine", (SplitSpec("train", "a.txt"), SplitSpec("train", "b.txt")), test_split="train")
    with pytest.raises(DatasetSpecError, match="spec.json: unknown keys colour"):
        DatasetSpec.from_dict(UBC_FASHION.to_dict() | {"colour": 1}, "spec.json")
    assert DatasetSpec.from_dict(UBC_FASHION.to_dict()) == UBC_FASHION
    assert UBC_FASHION.list_file("test") == "fashion_test.txt" and UBC_FASHION.split("train").videos == 500


def test_a_urls_line_of_a_split_the_dataset_lacks_is_refused_naming_it(tmp_path):
    from ffbench.datasets.sources import BadListError, collect_sources

    listed = tmp_path / "urls.txt"
    listed.write_text("train https://example.org/a.mp4\nval https://example.org/b.mp4\n")
    with pytest.raises(BadListError, match=r"line 2: split 'val' is not a split of the dataset ubc-fashion"):
        collect_sources(tmp_path / "source", urls_file=listed)
    three = DatasetSpec("three", (SplitSpec("train", "train.txt"), SplitSpec("val", "val.txt"),
                                  SplitSpec("test", "test.txt")))
    assert [s.split for s in collect_sources(tmp_path / "source", urls_file=listed, dataset=three)] == \
        ["train", "val"]
