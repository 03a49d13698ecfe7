"""The generic training loop on the toy task: exact resume (after a clean stop, a crash and SIGINT),
NaN handling, config checks, logs.

Exact resume is checked as bit-identity (tolerance 0): model, EMA and optimizer tensors of
N steps + resume to 2N equal those of 2N uninterrupted steps, on CPU with deterministic algorithms.
"""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ffbench.training import ConfigMismatchError, NonFiniteLossError, TrainConfig, seed_everything, train
from ffbench.training.distributed import DistInfo
from ffbench.training.toy import ToyDenoiser, toy_batches, toy_loss

SINGLE = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
STEPS = 8


def _config(steps: int = STEPS, **overrides) -> TrainConfig:
    base = dict(steps=steps, batch_size=2, checkpoint_every=3, keep=2, log_every=1, ema_decay=0.9,
                cond_dropout=0.25, seed=3)
    return TrainConfig(**{**base, **overrides})


def _run(run_dir: Path, config: TrainConfig, resume: bool = False, loss_fn=None, init_seed: int = 0):
    seed_everything(init_seed)  # a different init seed proves a resume really loads the weights
    model = ToyDenoiser()
    loss_fn = loss_fn or (lambda m, b, g: toy_loss(m, b, g, cond_dropout=config.cond_dropout))
    result = train(model, loss_fn, toy_batches, config, run_dir, resume=resume, info=SINGLE, progress=False)
    return model, result


def _assert_same_checkpoint(a: Path, b: Path) -> None:
    for name in ("model.safetensors", "model.ema.safetensors", "optimizer.safetensors"):
        ta, tb = load_file(a / name), load_file(b / name)
        assert ta.keys() == tb.keys() and ta
        for key in ta:
            assert torch.equal(ta[key], tb[key]), f"{name}:{key} differs"
    sa, sb = (json.loads((p / "state.json").read_text()) for p in (a, b))
    assert sa["data_position"] == sb["data_position"] == STEPS
    assert sa["ema"] == sb["ema"] and sa["optimizers"] == sb["optimizers"]


def _losses(run_dir: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in map(json.loads, (run_dir / "log.jsonl").read_text().splitlines())]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    """2N uninterrupted steps."""
    run_dir = tmp_path_factory.mktemp("reference")
    model, result = _run(run_dir, _config())
    assert result.step == STEPS and not result.interrupted
    return run_dir, model


def test_resume_after_clean_stop_is_bit_identical(tmp_path, reference):
    ref_dir, ref_model = reference
    _, first = _run(tmp_path, _config(steps=STEPS // 2))
    assert first.last_checkpoint == tmp_path / f"checkpoint-{STEPS // 2}"
    model, result = _run(tmp_path, _config(), resume=True, init_seed=123)
    assert result.step == STEPS and len(result.losses) == STEPS // 2
    for (name, p), q in zip(model.state_dict().items(), ref_model.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    _assert_same_checkpoint(tmp_path / f"checkpoint-{STEPS}", ref_dir / f"checkpoint-{STEPS}")
    assert _losses(tmp_path) == _losses(ref_dir)
    # keep=2: only the two newest checkpoints remain
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-6", f"checkpoint-{STEPS}"]


def test_resume_after_crash_rewinds_to_last_checkpoint(tmp_path, reference):
    ref_dir, _ = reference
    calls = {"n": 0}

    def crashing_loss(model, batch, generator):
        calls["n"] += 1
        if calls["n"] == 6:  # dies during step 6; the newest checkpoint is step 3
            raise RuntimeError("simulated crash")
        return toy_loss(model, batch, generator, cond_dropout=0.25)

    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(tmp_path, _config(), loss_fn=crashing_loss)
    assert [s for s, _ in _losses(tmp_path)] == [1, 2, 3, 4, 5]
    _run(tmp_path, _config(), resume=True, init_seed=7)
    _assert_same_checkpoint(tmp_path / f"checkpoint-{STEPS}", ref_dir / f"checkpoint-{STEPS}")
    assert _losses(tmp_path) == _losses(ref_dir)  # the log lines of steps 4-5 were rewritten, not doubled


def test_sigint_saves_a_checkpoint_and_resume_continues_exactly(tmp_path, reference):
    ref_dir, _ = reference
    calls = {"n": 0}

    def interrupted_loss(model, batch, generator):
        calls["n"] += 1
        if calls["n"] == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return toy_loss(model, batch, generator, cond_dropout=0.25)

    _, result = _run(tmp_path, _config(), loss_fn=interrupted_loss)
    assert result.interrupted and result.step == 5
    assert result.last_checkpoint == tmp_path / "checkpoint-5"
    _run(tmp_path, _config(), resume=True, init_seed=9)
    _assert_same_checkpoint(tmp_path / f"checkpoint-{STEPS}", ref_dir / f"checkpoint-{STEPS}")


def test_nan_loss_stops_with_step_and_last_good_checkpoint(tmp_path):
    calls = {"n": 0}

    def nan_loss(model, batch, generator):
        calls["n"] += 1
        loss = toy_loss(model, batch, generator)
        return loss * float("nan") if calls["n"] == 5 else loss

    seed_everything(0)
    model = ToyDenoiser()
    with pytest.raises(NonFiniteLossError, match=r"at step 5 .*checkpoint-3"):
        train(model, nan_loss, toy_batches, _config(), tmp_path, info=SINGLE, progress=False)
    # The bad step was not applied: the weights are those after step 4, all finite.
    assert all(torch.isfinite(p).all() for p in model.parameters())
    log = _losses(tmp_path)
    assert [s for s, _ in log] == [1, 2, 3, 4] and all(math.isfinite(v) for _, v in log)


def test_resume_refuses_changed_settings_but_allows_more_steps(tmp_path):
    _run(tmp_path, _config(steps=2))
    with pytest.raises(ConfigMismatchError, match=r"lr: 0.0002 -> 0.001"):
        _run(tmp_path, _config(steps=4, lr=1e-3), resume=True)
    with pytest.raises(ValueError, match="already holds a run"):
        _run(tmp_path, _config(steps=2))
    _, result = _run(tmp_path, _config(steps=3), resume=True)
    assert result.step == 3 and len(result.losses) == 1
    assert json.loads((tmp_path / "config.json").read_text())["train"]["steps"] == 3


def test_log_records_and_bf16_autocast(tmp_path):
    _, result = _run(tmp_path, _config(steps=4, autocast="bf16", log_every=2, ema_decay=0.0))
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert {"loss", "grad_norm", "lr", "it_per_s", "data_position"} <= records[0].keys()
    assert records[0]["loss"] == pytest.approx(sum(result.losses[:2]) / 2, rel=1e-6)
    assert all(r["it_per_s"] > 0 and math.isfinite(r["loss"]) for r in records)
    state = json.loads((tmp_path / "checkpoint-4" / "state.json").read_text())
    assert state["train_config"]["autocast"] == "bf16" and state["ema"] == {}
    assert not (tmp_path / "checkpoint-4" / "model.ema.safetensors").exists()
