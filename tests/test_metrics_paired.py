"""Paired metrics against closed forms; the disco variant reproduces the DisCo script's uint8 overflow;
LPIPS input ranges and its missing-backbone error (with a stand-in network, never presented as LPIPS)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ffbench.metrics.paired import align, l1_frames, parse_frames, psnr_frames, score_pair, ssim_frames
from ffbench.metrics.perceptual import PerceptualModel, load_lpips, lpips_frames, resolve_vgg16
from ffbench.metrics.weights import WeightsError


def texture(frames: int = 3, h: int = 32, w: int = 48, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(40, 216, (frames, h, w, 3), dtype=np.uint8)


def test_psnr_of_a_known_noise_level_and_l1_in_both_variants():
    real = texture()
    sign = np.where(np.random.default_rng(1).random(real.shape) < 0.5, -1, 1)
    for d in (2, 5, 12):  # |noise| = d everywhere: MSE = d^2, no clipping (values stay in 28..228)
        fake = (real.astype(int) + d * sign).astype(np.uint8)
        expected = 20 * math.log10(255 / d)
        assert np.allclose(psnr_frames(fake, real, "correct"), expected, atol=1e-9)
        assert np.allclose(l1_frames(fake, real, "correct"), d / 255)
        assert np.allclose(l1_frames(fake, real, "disco"), d / (32 * 48))  # DisCo divides by H*W
        if d < 16:  # squares below 256 do not wrap: the disco number agrees
            assert np.allclose(psnr_frames(fake, real, "disco"), expected, atol=1e-9)


def test_disco_psnr_reproduces_the_uint8_overflow_on_a_hand_made_pair():
    a = np.zeros((1, 2, 2, 3), np.uint8)
    b = np.full((1, 2, 2, 3), 16, np.uint8)
    # (0 - 16) wraps to 240; 240**2 = 57600 wraps to 0 modulo 256: the script sees MSE 0 and says 100 dB.
    assert psnr_frames(a, b, "disco")[0] == 100.0
    assert psnr_frames(a, b, "correct")[0] == pytest.approx(20 * math.log10(255 / 16))
    c = np.full((1, 2, 2, 3), 20, np.uint8)  # 400 wraps to 144: "MSE" 144, 12 dB too high
    assert psnr_frames(a, c, "disco")[0] == pytest.approx(20 * math.log10(255 / 12))
    assert psnr_frames(a, c, "correct")[0] == pytest.approx(20 * math.log10(255 / 20))
    identical = psnr_frames(b, b, "correct")
    assert identical[0] == 100.0  # capped, not inf


def test_ssim_of_identical_frames_is_one_and_drops_with_noise():
    real = texture(2, 40, 40)
    for variant in ("correct", "disco"):
        assert np.allclose(ssim_frames(real, real, variant), 1.0)
        noisy = np.clip(real.astype(int) + np.random.default_rng(2).integers(-30, 31, real.shape), 0, 255)
        assert (ssim_frames(noisy.astype(np.uint8), real, variant) < 0.95).all()


def test_frames_selection_and_resizing_follow_each_variant():
    fake = texture(4, 32, 48)
    real = np.concatenate([fake, fake])  # longer real video; its frames 0..3 equal the fake ones
    a, b = align(fake, real, "correct", parse_frames("1:"))
    assert len(a) == 3 and np.array_equal(a, b)
    big = np.repeat(np.repeat(real, 2, axis=1), 2, axis=2)  # real at twice the size
    a, b = align(fake, big, "correct", parse_frames("0:2"))
    assert a.shape == b.shape == (2, 32, 48, 3)  # real resized to the generated size
    a, b = align(fake, big, "disco", parse_frames("0:2"))
    assert a.shape == b.shape == (2, 64, 96, 3)  # DisCo resizes the generated frame to the real size
    out = score_pair(fake, real, ["psnr", "ssim", "l1"], "correct", parse_frames("1:"))
    assert out["psnr"].tolist() == [100.0] * 3 and np.allclose(out["ssim"], 1) and not out["l1"].any()
    for bad in ("1", "a:b", "3:2", "-1:"):
        with pytest.raises(ValueError, match="--paired-frames"):
            parse_frames(bad)


class RangeRecorder(torch.nn.Module):
    """A stand-in for the LPIPS network: records the value range it is fed, returns |mean difference|."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, a, b):
        self.seen.append((float(a.min()), float(a.max())))
        return (a - b).abs().mean(dim=(1, 2, 3), keepdim=True)


def test_lpips_input_range_differs_between_the_variants():
    black = np.zeros((2, 8, 8, 3), np.uint8)
    white = np.full((2, 8, 8, 3), 255, np.uint8)
    stand_in = PerceptualModel(RangeRecorder(), "stand-in (not LPIPS)", "x", "y")
    correct = lpips_frames(stand_in, np.concatenate([black[:1], white[:1]]), black, "correct")
    disco = lpips_frames(stand_in, np.concatenate([black[:1], white[:1]]), black, "disco")
    assert stand_in.net.seen == [(-1.0, 1.0), (0.0, 1.0)]
    assert correct.tolist() == [0.0, 2.0] and disco.tolist() == [0.0, 1.0]


def test_lpips_without_its_backbone_names_the_file_and_a_wrong_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("FFBENCH_CACHE", str(tmp_path / "ffb"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match=r"vgg16-397923af\.pth.*offline.*--lpips-vgg"):
        resolve_vgg16(None)
    with pytest.raises(WeightsError, match="no such file"):
        load_lpips(str(tmp_path / "missing.pth"))
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(3, 3, 3, 3)}, wrong)
    with pytest.raises(WeightsError, match="not torchvision's VGG16"):
        load_lpips(str(wrong))


def test_a_vgg16_shaped_file_loads_into_the_lpips_trunk(tmp_path):
    # Random weights in torchvision's VGG16 layout: checks the key mapping only; this is not LPIPS.
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["D"])
    path = tmp_path / "vgg16-random.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    model = load_lpips(str(path))
    assert torch.equal(getattr(model.net.net.slice5, "28").weight, features[28].weight)
    assert torch.equal(getattr(model.net.net.slice1, "0").bias, features[0].bias)
    frames = texture(1, 32, 32)
    assert lpips_frames(model, frames, frames, "correct")[0] == pytest.approx(0.0, abs=1e-6)
    assert len(model.lin_sha256) == 64 and model.sha256 != model.lin_sha256
