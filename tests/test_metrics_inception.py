"""FID Inception: same network and features as pytorch-fid's InceptionV3; weight loading."""

from __future__ import annotations

import pytest
import pytorch_fid.inception as pfi
import torch

from ffbench.metrics.inception import FIDInception
from ffbench.metrics.weights import WeightsError, load_inception


@torch.no_grad()
def test_pool_and_logits_match_pytorch_fid(tmp_path, monkeypatch):
    torch.manual_seed(0)
    ours = FIDInception().eval()
    state = ours.net.state_dict()
    # Give BatchNorm non-trivial statistics so a wrong layer order would show.
    state = {k: v.abs() + 0.5 if k.endswith("running_var") else v for k, v in state.items()}
    state = {k: v + 0.01 if k.endswith("running_mean") else v for k, v in state.items()}
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    ex = load_inception(str(path))
    assert not ex.random_init and len(ex.sha256) == 64
    # pytorch-fid's own model, its weights download replaced by the same state dict.
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: state)
    reference = pfi.InceptionV3([3]).eval()
    x = torch.rand(2, 3, 96, 80)
    out = ex.model(x)
    expected = reference(x)[0].flatten(1)
    torch.testing.assert_close(out.pool, expected, rtol=1e-4, atol=1e-5)
    assert out.logits.shape == (2, 1008)
    torch.testing.assert_close(out.logits, expected @ state["fc.weight"].T + state["fc.bias"], rtol=1e-4,
                               atol=1e-4)


def test_missing_inception_weights_offline_name_flag_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        load_inception(None, cache_dir=tmp_path)
    assert "--inception" in str(info.value) and pfi.FID_WEIGHTS_URL in str(info.value)


def test_rejects_too_small_input_size():
    with pytest.raises(ValueError, match="size must be >= 75"):
        FIDInception(size=64)
