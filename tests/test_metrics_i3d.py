"""Inception-I3D: the port's key set loads strictly, TF 'same' padding, output shapes, weight loading."""

from __future__ import annotations

import time

import pytest
import torch

from ffbench.metrics.i3d import InceptionI3d, TorchScriptI3D, same_padding
from ffbench.metrics.weights import WeightsError, load_i3d

BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def published_keys() -> set[str]:
    """The state-dict keys of the PyTorch I3D port (piergiaj/pytorch-i3d, VideoGPT's copy), derived from
    its architecture: Unit3D = conv3d (+ bn), InceptionModule branches b0 b1a b1b b2a b2b b3b."""
    units = ["Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3"]
    for block in ("3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c"):
        units += [f"Mixed_{block}.{b}" for b in ("b0", "b1a", "b1b", "b2a", "b2b", "b3b")]
    keys = {"logits.conv3d.weight", "logits.conv3d.bias"}
    for unit in units:
        keys.add(f"{unit}.conv3d.weight")
        keys |= {f"{unit}.bn.{p}" for p in BN_KEYS}
    return keys


def test_state_dict_has_exactly_the_published_keys_and_shapes():
    state = InceptionI3d(400).state_dict()
    assert set(state) == published_keys()
    assert state["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert state["Mixed_3b.b1b.conv3d.weight"].shape == (128, 96, 3, 3, 3)
    assert state["Mixed_5c.b3b.conv3d.weight"].shape == (128, 832, 1, 1, 1)
    assert state["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1)


def test_port_file_loads_strictly_with_and_without_num_batches_tracked(tmp_path):
    gen = torch.Generator().manual_seed(0)
    ref = InceptionI3d(400).state_dict()
    file_state = {k: torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
                  for k, v in ref.items() if k in published_keys()}
    file_state = {k: v.abs() + 0.5 if k.endswith("running_var") else v for k, v in file_state.items()}
    path = tmp_path / "i3d_pretrained_400.pt"
    torch.save(file_state, path)
    ex = load_i3d(str(path), "k400")
    assert ex.sha256 and not ex.random_init and "bn_eps 1e-05" in ex.label
    torch.testing.assert_close(ex.model.state_dict()["Mixed_4d.b2b.bn.running_var"],
                               file_state["Mixed_4d.b2b.bn.running_var"])
    # Files saved by old PyTorch (rgb_imagenet.pt) lack num_batches_tracked.
    old = {k: v for k, v in file_state.items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "rgb_imagenet.pt")
    ex = load_i3d(str(tmp_path / "rgb_imagenet.pt"), "imagenet")
    assert ex.model.Mixed_3b.b0.bn.eps == 1e-3
    del old["Mixed_5c.b0.conv3d.weight"]
    torch.save(old, tmp_path / "broken.pt")
    with pytest.raises(WeightsError, match="Mixed_5c.b0.conv3d.weight"):
        load_i3d(str(tmp_path / "broken.pt"), "imagenet")


def test_same_padding_matches_tensorflow_rule():
    # TF: out = ceil(in / stride); pad = max((out - 1) * stride + k - in, 0), the extra pixel at the back.
    assert same_padding(224, 7, 2) == (2, 3)
    assert same_padding(16, 3, 1) == (1, 1)
    assert same_padding(15, 2, 2) == (0, 1)
    assert same_padding(8, 3, 2) == (0, 1)


def test_rejects_clips_under_nine_frames_and_bad_layout():
    model = InceptionI3d(400).eval()
    with pytest.raises(ValueError, match="at least 9 frames"):
        model(torch.zeros(1, 3, 8, 64, 64))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.zeros(1, 16, 3, 64, 64))


@torch.no_grad()
def test_output_shapes_at_16_and_60_frames_and_bn_eps():
    model = InceptionI3d(400, bn_eps=1e-3).eval()
    assert model.Conv3d_2c_3x3.bn.eps == 1e-3
    out = model(torch.rand(2, 3, 16, 64, 64) * 2 - 1)
    assert out.logits.shape == (2, 400) and out.pool.shape == (2, 1024)
    assert model.mixed_5c(torch.zeros(1, 3, 60, 64, 48)).shape == (1, 1024, 8, 2, 2)
    out = model(torch.rand(1, 3, 60, 64, 48))
    assert out.logits.shape == (1, 400) and out.pool.shape == (1, 1024)
    assert torch.isfinite(out.logits).all()


@torch.no_grad()
def test_full_resolution_16_frame_pass_reduces_like_the_port():
    model = InceptionI3d(400).eval()
    x = torch.rand(1, 3, 16, 224, 224) * 2 - 1
    start = time.perf_counter()
    feat = model.mixed_5c(x)
    assert feat.shape == (1, 1024, 2, 7, 7)  # the port's AvgPool3d((2, 7, 7)) then covers it exactly
    out = model(x)
    # Port: logits of the single pooled position (squeeze), then the mean over time.
    pooled = torch.nn.functional.avg_pool3d(feat, (2, 7, 7), stride=1)
    ref = model.logits(pooled).squeeze(3).squeeze(3).mean(2)
    torch.testing.assert_close(out.logits, ref)
    assert time.perf_counter() - start < 60


def test_torchscript_detector_is_recognised(tmp_path):
    class Detector(torch.nn.Module):
        def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True,
                    return_features: bool = False) -> torch.Tensor:
            assert not rescale and not resize and return_features
            return x.mean(dim=(1, 3, 4))[:, :1].repeat(1, 400)

    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(Detector()).save(str(path))
    ex = load_i3d(str(path), "k400")
    assert isinstance(ex.model, TorchScriptI3D) and ex.weights == "stylegan-v"
    out = ex.model(torch.zeros(2, 3, 16, 8, 8))
    assert out.logits.shape == (2, 400)
    with pytest.raises(WeightsError, match="Mixed_5c pool"):
        load_i3d(str(path), "imagenet")


def test_missing_weights_offline_fail_fast_naming_flag_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(WeightsError) as info:
        load_i3d(None, "k400", cache_dir=tmp_path)
    assert "--i3d" in str(info.value) and "onedrive.live.com" in str(info.value)
    with pytest.raises(WeightsError, match="rgb_imagenet.pt"):
        load_i3d(None, "imagenet", cache_dir=tmp_path)
    with pytest.raises(WeightsError, match="no such file"):
        load_i3d(str(tmp_path / "nope.pt"), "k400")
    assert time.perf_counter() - start < 5


def test_random_extractor_is_labelled_and_reproducible():
    a, b = load_i3d("random", "k400"), load_i3d("random", "k400")
    assert a.random_init and a.sha256.startswith("random-init") and "random-init" in a.label
    torch.testing.assert_close(a.model.Mixed_3b.b0.conv3d.weight, b.model.Mixed_3b.b0.conv3d.weight)
