"""The loop's phases on the toy GAN (generator with BatchNorm, spectral-norm critic; phases G, D and
D_reg every second step): exact resume of every module, EMA, optimizer and buffer (tolerance 0), loss
terms logged by name, phases over step ranges (multi-stage training), frozen modules, NaN stop, and
refusal of setups whose names do not line up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ffbench.training import (
    NonFiniteLossError,
    Phase,
    TrainConfig,
    TrainingSetup,
    seed_everything,
    train_phases,
)
from ffbench.training.distributed import DistInfo
from ffbench.training.toy import toy_batches, toy_gan_setup

SINGLE = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
STEPS = 6
FILES = ("generator.safetensors", "critic.safetensors", "generator.ema.safetensors", "g_opt.safetensors",
         "d_opt.safetensors")


def _config(steps: int = STEPS, **overrides) -> TrainConfig:
    base = dict(steps=steps, checkpoint_every=3, log_every=1, ema_decay=0.9, seed=2, lr=1e-3, grad_clip=0.0,
                weight_decay=0.0)
    return TrainConfig(**{**base, **overrides})


def _run(run_dir: Path, config: TrainConfig, resume: bool = False, init_seed: int = 0, edit=None):
    seed_everything(init_seed)
    setup = toy_gan_setup(config)
    if edit is not None:
        edit(setup)
    result = train_phases(setup, toy_batches, config, run_dir, resume=resume, info=SINGLE, progress=False)
    return setup, result


def _log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_gan_resume_is_bit_identical_and_terms_are_logged_by_name(tmp_path):
    ref, split = tmp_path / "ref", tmp_path / "split"
    ref_setup, ref_result = _run(ref, _config())
    _run(split, _config(steps=3))
    setup, result = _run(split, _config(), resume=True, init_seed=99)  # other init: weights must be loaded
    assert result.step == STEPS and len(result.history) == STEPS - 3
    for name in FILES:
        a, b = load_file(ref / f"checkpoint-{STEPS}" / name), load_file(split / f"checkpoint-{STEPS}" / name)
        assert a.keys() == b.keys() and a
        assert all(torch.equal(a[k], b[k]) for k in a), name
    for m in ("generator", "critic"):  # buffers too: BatchNorm statistics, spectral-norm vectors
        ours, theirs = setup.modules[m].state_dict(), ref_setup.modules[m].state_dict()
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours), m
    assert "running_mean" in " ".join(setup.modules["generator"].state_dict())
    log, ref_log = _log(split), _log(ref)
    drop = ("time", "it_per_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in log] == \
        [{k: v for k, v in r.items() if k not in drop} for r in ref_log]
    first = ref_log[0]
    assert {"loss/G", "loss/G/l1", "loss/G/adv", "loss/D", "loss/D/real", "loss/D/fake", "loss/D_reg",
            "grad_norm/G", "grad_norm/D", "lr/g_opt", "lr/d_opt"} <= first.keys()
    assert first["loss"] == first["loss/G"] == ref_result.history[0]["loss/G"]
    # D_reg runs every second step (0-based steps 0, 2, 4 -> log steps 1, 3, 5)
    assert [r["step"] for r in ref_log if "loss/D_reg" in r] == [1, 3, 5]


def test_phases_over_step_ranges_train_one_network_at_a_time(tmp_path):
    """Multi-stage shape (a): the generator trains in steps [0, 2), the critic in [2, 4); each network is
    untouched outside its range, and the critic's phase still calls the frozen generator."""

    def stages(setup: TrainingSetup) -> None:
        g, d, _ = setup.phases
        both = lambda ctx: (g.loss(ctx), d.loss(ctx))[1]  # noqa: E731 - D's loss needs the G phase's fakes
        setup.phases[:] = [Phase("G", g.modules, g.optimizer, g.loss, stop=2),
                           Phase("D", d.modules, d.optimizer, both, start=2)]

    config = _config(steps=4, checkpoint_every=2, ema_decay=0.0)
    seed_everything(0)
    init = {k: v.clone() for k, v in toy_gan_setup(config).modules["critic"].state_dict().items()}
    _run(tmp_path, config, edit=stages)
    two, four = (load_file(tmp_path / f"checkpoint-{s}" / "generator.safetensors") for s in (2, 4))
    assert all(torch.equal(two[k], four[k]) for k in two)  # generator frozen in the critic's stage
    critic2 = load_file(tmp_path / "checkpoint-2" / "critic.safetensors")
    critic4 = load_file(tmp_path / "checkpoint-4" / "critic.safetensors")
    weights = [k for k in critic2 if "original" in k]  # spectral-norm weights (u/v vectors change in forward)
    assert weights and all(torch.equal(critic2[k], init[k]) for k in weights)
    assert any(not torch.equal(critic2[k], critic4[k]) for k in weights)
    assert [sorted(k for k in r if k.startswith("loss/") and k.count("/") == 1) for r in _log(tmp_path)] == \
        [["loss/G"], ["loss/G"], ["loss/D"], ["loss/D"]]


def test_nan_in_a_phase_names_it_and_stops(tmp_path):
    def poison(setup: TrainingSetup) -> None:
        d = setup.phases[1]
        setup.phases[1] = Phase("D", d.modules, d.optimizer,
                                lambda ctx: d.loss(ctx)[0] * (float("nan") if ctx.step == 2 else 1.0))

    with pytest.raises(NonFiniteLossError, match=r"phase 'D'.*at step 3 .*checkpoint-3|phase 'D'.*step 3"):
        _run(tmp_path, _config(checkpoint_every=1), edit=poison)
    assert [r["step"] for r in _log(tmp_path)] == [1, 2]


def test_setup_names_must_line_up(tmp_path):
    seed_everything(0)
    setup = toy_gan_setup(_config())
    loss = setup.phases[0].loss
    bad = TrainingSetup(setup.modules, setup.optimizers, [Phase("G", ("gen",), "g_opt", loss)])
    with pytest.raises(ValueError, match="unknown modules"):
        bad.check()
    wrong_opt = TrainingSetup(setup.modules, setup.optimizers,
                              [Phase("G", ("generator",), "d_opt", setup.phases[0].loss)])
    with pytest.raises(ValueError, match="does not hold"):
        wrong_opt.check()
    with pytest.raises(ValueError, match="distinct"):
        TrainingSetup(setup.modules, setup.optimizers, [setup.phases[0], setup.phases[0]]).check()
    with pytest.raises(ValueError, match="interval"):
        Phase("G", ("generator",), "g_opt", setup.phases[0].loss, interval=0)
