"""Poke: official sizes, shapes, save/load, the losses against closed forms, and learning on a fixed batch."""

from __future__ import annotations

import pytest
import torch

from ffbench.models.poke import (
    PatchDiscriminator,
    PokeConfigError,
    PokeModel,
    PyramidL1,
    TemporalDiscriminator,
    VGGPerceptual,
    find_vgg19,
    perceptual_loss,
    poke_config,
)
from ffbench.models.poke.losses import PerceptualWeightsError, feature_matching, latent_dynamics, r1_penalty
from ffbench.models.poke.training import parameters_of

TINY = dict(sample_size=(16, 12), num_frames=3, encoder_channels=(4, 8), bottleneck_channels=16,
            poke_channels=(4, 8), poke_res_blocks=1)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_official_sizes_match_the_official_code():
    """39,110,819 is what the official SkipSequenceModel has at 64x64 (fixed-length config), counted by
    building it from the official repository; the paper says 39.1M. Discriminators likewise."""
    with torch.device("meta"):
        model = PokeModel(**poke_config("official"))
        patch = PatchDiscriminator(64, 3)
    temporal = TemporalDiscriminator(10, (64, 64), 64, 256)  # on CPU: spectral norm's init is slow on meta
    assert abs(count(model) - 39.1e6) / 39.1e6 < 0.05
    assert count(model) == 39_110_819
    parts = {name: count(child) for name, child in model.named_children()}
    assert parts == {"image_encoder": 5_018_880, "poke_encoder": 7_689_376, "gru": 21_384_064,
                     "decoder": 5_018_499}
    assert (count(patch), count(temporal)) == (2_764_737, 26_554_369)


def test_rollout_shapes_and_states_match_the_encoder_scales():
    torch.manual_seed(0)
    model = PokeModel(**TINY).eval()
    image, poke = torch.rand(2, 3, 16, 12) * 2 - 1, torch.zeros(2, 2, 16, 12)
    video, states = model.rollout(image, poke, 4)
    assert video.shape == (2, 3, 4, 16, 12) and video.abs().max() <= 1
    features = model.encode(image)
    assert [f.shape for f in features] == [(2, 4, 8, 6), (2, 8, 4, 3), (2, 16, 4, 3)]
    assert len(states) == 4 and all([s.shape for s in step] == [f.shape for f in features] for step in states)
    assert model(image, poke).shape == (2, 3, TINY["num_frames"], 16, 12)
    with pytest.raises(PokeConfigError, match="poke has shape"):
        model(image, torch.zeros(2, 2, 8, 8))
    with pytest.raises(PokeConfigError, match="multiples of 4"):
        PokeModel(**{**TINY, "sample_size": (18, 12)})


def test_the_poke_changes_the_video_and_the_first_frame_depends_on_x0():
    torch.manual_seed(1)
    model = PokeModel(**TINY).eval()
    image = torch.rand(1, 3, 16, 12) * 2 - 1
    poke = torch.zeros(1, 2, 16, 12)
    poke[:, :, 6:9, 5:8] = torch.tensor([0.8, -0.3])[:, None, None]
    with torch.no_grad():
        still, moved = model(image, torch.zeros_like(poke)), model(image, poke)
        other = model(torch.rand(1, 3, 16, 12) * 2 - 1, poke)
    assert (still - moved).abs().max() > 1e-4 and (moved - other).abs().max() > 1e-4


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(2)
    model = PokeModel(**TINY, flow_norm=3.5, perceptual_loss="pyramid-l1").eval()
    image, poke = torch.rand(2, 3, 16, 12) * 2 - 1, torch.rand(2, 2, 16, 12) - 0.5
    model.save_pretrained(tmp_path / "poke")
    assert (tmp_path / "poke" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = PokeModel.from_pretrained(tmp_path / "poke").eval()
    assert loaded.config.flow_norm == 3.5 and loaded.config.perceptual_loss == "pyramid-l1"
    assert tuple(loaded.config.sample_size) == (16, 12)
    with torch.no_grad():
        assert torch.equal(model(image, poke, 5), loaded(image, poke, 5))


def test_pyramid_l1_closed_form_and_vgg_loss_runs_frozen():
    a = torch.rand(2, 3, 32, 32)
    # A constant offset c: every level's frame term is |c|, every gradient term 0; 5 levels.
    assert PyramidL1()(a + 0.25, a).item() == pytest.approx(5 * 0.25, rel=1e-5)
    assert PyramidL1()(a, a).item() == 0
    from torchvision.models import vgg19

    torch.manual_seed(3)
    with torch.device("meta"):
        shapes = vgg19(weights=None).features.state_dict()
    state = {f"features.{k}": torch.randn(v.shape) * 0.02 for k, v in shapes.items()}
    vgg = VGGPerceptual(state)
    b = (a * 2 - 1).requires_grad_()
    loss = vgg(b, a * 2 - 1 + 0.1)
    loss.backward()
    assert loss.item() > 0 and b.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in vgg.parameters())
    assert vgg(a, a).item() == 0


def test_vgg_weights_are_found_or_refused_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("FFBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert find_vgg19("auto") is None and find_vgg19("none") is None
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "vgg19-dcbb9e9d.pth").write_bytes(b"not a checkpoint")
    assert find_vgg19(None) == hub / "vgg19-dcbb9e9d.pth"
    with pytest.raises(PerceptualWeightsError, match="--vgg .*no such file"):
        find_vgg19(str(tmp_path / "missing.pth"))
    with pytest.raises(PerceptualWeightsError, match="cannot read VGG-19 weights"):
        perceptual_loss("vgg19", hub / "vgg19-dcbb9e9d.pth")
    assert isinstance(perceptual_loss("pyramid-l1"), PyramidL1)


def test_latent_r1_and_feature_matching_against_closed_forms():
    s = [[torch.zeros(2, 3, 4, 4), torch.ones(2, 5, 2, 2)]] * 3
    t = [[torch.full((2, 3, 4, 4), 2.0), torch.ones(2, 5, 2, 2)]] * 3
    assert latent_dynamics(s, t).item() == pytest.approx((4 + 0) / 2)
    w = torch.randn(1, 3, 4, 4)
    x = torch.randn(5, 3, 4, 4, requires_grad=True)
    logits = (x * w).flatten(1).sum(1)  # linear D: d logits / dx = w for every sample
    assert r1_penalty(logits, x).item() == pytest.approx(w.pow(2).sum().item(), rel=1e-5)
    fake, real = [torch.ones(2, 2), torch.zeros(3)], [torch.zeros(2, 2), torch.zeros(3)]
    assert feature_matching(fake, real).item() == 0.5  # layers 1 and 0, averaged


def test_optimizers_split_the_parts_as_the_official_code():
    model = PokeModel(**TINY)
    static = {id(p) for p in parameters_of(model, "static")}
    dynamics = {id(p) for p in parameters_of(model, "dynamics")}
    decoder = {id(p) for p in model.decoder.parameters()}
    assert static & dynamics == decoder  # the decoder is trained by both
    assert static | dynamics == {id(p) for p in model.parameters()}
    assert {id(p) for p in model.poke_encoder.parameters()} <= dynamics - static
