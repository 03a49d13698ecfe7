"""Checkpoint files: round trips of weights / optimizer / EMA / RNG, atomic layout, pruning, errors."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from torch import nn

from ffbench.training.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from ffbench.training.config import TrainConfig
from ffbench.training.ema import ModelEMA
from ffbench.training.toy import ToyDenoiser, toy_batch, toy_loss


def _trained(steps: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    model = ToyDenoiser()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.5, 0.999))
    ema = ModelEMA(model, decay=0.9)
    gen = torch.Generator().manual_seed(seed)
    for i in range(steps):
        opt.zero_grad()
        toy_loss(model, toy_batch(i), gen).backward()
        opt.step()
        ema.update(model)
    return model, opt, ema, gen


def _save(run_dir, step, model, opt, ema, gen, **kw):
    return save_checkpoint(run_dir, step, modules={"model": model}, optimizers={"optimizer": opt},
                           emas={"model": ema}, train_config=TrainConfig().to_dict(), data_position=step * 10,
                           generators={"loss": gen}, **kw)


def test_round_trip_restores_weights_optimizer_ema_and_rng(tmp_path):
    model, opt, ema, gen = _trained()
    path = _save(tmp_path, 2, model, opt, ema, gen, extra={"scaler": {"scale": 1024.0}})
    # What the saved process would draw next, from every RNG.
    expected = (torch.rand(5), np.random.rand(3), random.random(), torch.rand(4, generator=gen))

    model2, opt2, ema2, gen2 = _trained(steps=1, seed=5)  # different state everywhere
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    loaded = load_checkpoint(path, modules={"model": model2}, optimizers={"optimizer": opt2},
                             emas={"model": ema2}, generators={"loss": gen2})
    got = (torch.rand(5), np.random.rand(3), random.random(), torch.rand(4, generator=gen2))
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    assert got[2] == expected[2] and torch.equal(got[3], expected[3])

    assert (loaded.step, loaded.data_position, loaded.extra) == (2, 20, {"scaler": {"scale": 1024.0}})
    assert loaded.train_config == TrainConfig().to_dict()
    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(ema.ema.shadow_params, ema2.ema.shadow_params, strict=True):
        assert torch.equal(a, b)
    assert ema2.optimization_step == 2
    sd, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd["param_groups"] == sd2["param_groups"]
    for i, per_param in sd["state"].items():
        assert per_param.keys() == sd2["state"][i].keys()
        for key, value in per_param.items():
            assert torch.equal(value, sd2["state"][i][key]), (i, key)


def test_layout_is_safetensors_and_json_only(tmp_path):
    model, opt, ema, gen = _trained()
    path = _save(tmp_path, 7, model, opt, ema, gen)
    assert path == tmp_path / "checkpoint-7"
    assert sorted(p.name for p in path.iterdir()) == [
        "model.ema.safetensors", "model.safetensors", "optimizer.safetensors", "rng-rank0.json", "state.json"]
    assert not list(tmp_path.glob(".checkpoint-*"))  # the temporary directory was renamed away
    state = json.loads((path / "state.json").read_text())
    assert state["step"] == 7 and state["world_size"] == 1


def test_latest_ignores_partial_directories_and_prune_keeps_newest(tmp_path):
    model, opt, ema, gen = _trained()
    for step in (5, 20, 100):
        _save(tmp_path, step, model, opt, ema, gen)
    (tmp_path / ".checkpoint-300.tmp").mkdir()  # a save that died before its rename
    (tmp_path / "checkpoint-200").mkdir()  # no state.json: incomplete, never used
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-100"  # numeric, not lexical, order
    assert prune_checkpoints(tmp_path, keep=2) == [tmp_path / "checkpoint-5"]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-20", "checkpoint-100"]
    _save(tmp_path, 100, model, opt, ema, gen, keep=1)  # re-saving an existing step replaces it
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-100"]
    assert latest_checkpoint(tmp_path / "missing") is None


def test_loading_into_a_different_model_fails_clearly(tmp_path):
    model, opt, ema, gen = _trained()
    path = _save(tmp_path, 1, model, opt, ema, gen)
    other = ToyDenoiser(width=8)
    with pytest.raises(CheckpointError, match="different model configuration"):
        load_checkpoint(path, modules={"model": other}, optimizers={})
    extra_layer = nn.Sequential(ToyDenoiser())
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_checkpoint(path, modules={"model": extra_layer}, optimizers={})
    with pytest.raises(CheckpointError, match="no state.json"):
        load_checkpoint(tmp_path, modules={"model": model}, optimizers={})


def test_train_config_validates_arguments():
    with pytest.raises(ValueError, match="autocast must be one of"):
        TrainConfig(autocast="fp8")
    with pytest.raises(ValueError, match=r"cond_dropout must be in \[0, 1\), got 1.5"):
        TrainConfig(cond_dropout=1.5)
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        TrainConfig(steps=0)
    assert TrainConfig.from_dict(TrainConfig(lr=1e-4).to_dict()) == TrainConfig(lr=1e-4)
    with pytest.raises(ValueError, match="unknown TrainConfig keys"):
        TrainConfig.from_dict({"bogus": 1})
