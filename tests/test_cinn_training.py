"""cINN training: three stages in order on pixel shards, stage-order errors, exact resume across a stage
boundary, the export that `generate` loads."""

from __future__ import annotations

import json

import pytest
import torch
from pixel_shards import write_data
from safetensors.torch import load_file
from test_cinn_helpers import tiny_configs

from ffbench.models.cinn.saved import CINNSampler, part_digest
from ffbench.models.cinn.training import CINNOptions, StageOrderError, train_cinn
from ffbench.training.config import TrainConfig
from ffbench.training.distributed import DistInfo

SINGLE = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("cinn-data"), {"train": 2}, frames=8)


def _config(steps=2, **kw) -> TrainConfig:
    return TrainConfig(**{**dict(steps=steps, batch_size=2, checkpoint_every=1, log_every=1, lr=1e-3, seed=1,
                                 beta1=0.5, beta2=0.9, weight_decay=0.0, grad_clip=0.0, ema_decay=0.0), **kw})


def _options(stage="all", **kw) -> CINNOptions:
    return CINNOptions(stage=stage, gan_start=0.5, sizes=tiny_configs(), **kw)


def _train(data, out, stage="all", steps=2, resume=False, **kw):
    return train_cinn(data, out, _config(steps), _options(stage, **kw), resume=resume, progress=False,
                      info=SINGLE)


def test_all_stages_train_in_order_and_export_a_model_generate_can_sample(data, tmp_path):
    out = tmp_path / "run"
    result = _train(data, out)
    assert result.exported == out / "model"
    index = json.loads((out / "model" / "model_index.json").read_text())
    assert index["_class_name"] == "CINNModel"
    assert set(index["sha256"]) == {"autoencoder", "condition", "flow"}
    # LPIPS is absent here: left out, and the export says so
    assert index["training"]["autoencoder"]["lpips"] is False
    assert "left out" in index["training"]["autoencoder"]["lpips_note"]
    top = json.loads((out / "config.json").read_text())
    assert top["model"] == "cinn" and top["parts"]["flow"]["num_blocks"] == 4
    ae_log = [json.loads(line) for line in (out / "autoencoder" / "log.jsonl").read_text().splitlines()]
    assert "loss/AE/l1" in ae_log[0] and "loss/D" not in ae_log[0]  # the GAN starts at step 1 (of 0, 1)
    assert {"loss/AE/g_clip", "loss/AE/feature_matching", "loss/D/d_frame"} <= ae_log[1].keys()
    flow_log = [json.loads(line) for line in (out / "flow" / "log.jsonl").read_text().splitlines()]
    assert "loss/flow/nll" in flow_log[0]
    sampler = CINNSampler(out / "model")
    assert sampler.size == (16, 12) and sampler.max_frames == 5
    cond = torch.rand(2, 3, 16, 12) * 2 - 1
    video = sampler(cond, 5, torch.Generator().manual_seed(0))
    assert video.shape == (2, 3, 5, 16, 12) and torch.isfinite(video).all()
    assert torch.equal(video[:, :, 0], cond)


def test_a_later_stage_refuses_to_start_without_the_earlier_export(data, tmp_path):
    out = tmp_path / "run"
    first = r"--stage flow needs the autoencoder stage's export .*/model/autoencoder"
    with pytest.raises(StageOrderError, match=first):
        _train(data, out, stage="flow")
    _train(data, out, stage="autoencoder", gan=False)
    with pytest.raises(StageOrderError, match=r"needs the condition stage's export .*model/condition"):
        _train(data, out, stage="flow", gan=False)
    with pytest.raises(ValueError, match="already holds a run"):  # a finished stage is not silently redone
        _train(data, out, stage="autoencoder", gan=False)


def test_resume_across_a_stage_boundary_is_exact(data, tmp_path):
    ref, split = tmp_path / "ref", tmp_path / "split"
    _train(data, ref)
    _train(data, split, stage="autoencoder")
    _train(data, split, stage="condition", steps=1)  # the condition stage stops after its first step
    result = _train(data, split, resume=True)  # `all` skips stage 1, resumes stage 2a, runs stage 2b
    assert result.exported == split / "model"
    for part in ("autoencoder", "condition", "flow"):
        assert part_digest(ref / "model", part) == part_digest(split / "model", part), part
    for name in ("flow.safetensors", "flow_opt.safetensors"):
        a, b = (load_file(d / "flow" / "checkpoint-2" / name) for d in (ref, split))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    log = (split / "condition" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1, 2]
