"""Nothing accepted that does nothing: `ffbench train` refuses a setting the model would ignore."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ffbench.cli import main
from ffbench.models.registry import MODEL_CONFIG_OPTIONS, get_model


def _train(*args: str):
    return CliRunner().invoke(main, ["train", *map(str, args)])


@pytest.mark.parametrize("model", ["imaginator", "cinn", "poke"])
def test_cond_dropout_is_refused_by_the_models_that_ignore_it(model, tmp_path):
    out = tmp_path / "run"
    result = _train(model, "--shards", tmp_path / "data", "--out", out, "--cond-dropout", "0.1")
    assert result.exit_code == 1, result.output
    assert f"--cond-dropout: not used by {model}" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()  # refused before anything is written


def test_cond_dropout_reaches_fashionflow(tmp_path):
    """FashionFlow reads it: the run gets past the check and stops at the missing shards instead."""
    result = _train("fashionflow", "--shards", tmp_path / "data", "--out", tmp_path / "run",
                    "--cond-dropout", "0.1")
    assert result.exit_code == 1, result.output
    assert "not used by" not in result.output
    assert "--shards" in result.output


def test_every_model_option_is_a_train_config_field_a_model_reads():
    from dataclasses import fields

    from ffbench.training.config import TrainConfig

    names = {f.name for f in fields(TrainConfig)}
    assert set(MODEL_CONFIG_OPTIONS) <= names
    assert "cond_dropout" in get_model("fashionflow").config_options
