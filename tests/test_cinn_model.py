"""cINN baseline models: official sizes (meta device), shapes, sampling, save/load, learning on a batch."""

from __future__ import annotations

import pytest
import torch
import torchvision
from test_cinn_helpers import random_clips, tiny_configs, tiny_models
from torch import nn

from ffbench.models.cinn import (
    AutoencoderLossWeights,
    CINNAutoencoder,
    CINNConditionEncoder,
    CINNDiscriminators,
    CINNFlow,
    cinn_configs,
    sample_clips,
)
from ffbench.models.cinn.losses import Views, autoencoder_loss, condition_loss, discriminator_loss


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_official_sizes_match_the_official_code():
    cfg = cinn_configs("official")
    with torch.device("meta"):
        ae = CINNAutoencoder(**cfg["autoencoder"])
        disc = CINNDiscriminators(**cfg["discriminators"])
        cond = CINNConditionEncoder(**cfg["condition"])
        flow = CINNFlow(**cfg["flow"])
        resnet50 = torchvision.models.resnet50(weights=None, norm_layer=nn.InstanceNorm2d)
    assert abs(_count(ae.decoder) / 152.8e6 - 1) < 0.05
    # counted by building the official modules (stage1_VAE/modules, stage2_cINN/modules) on the meta device
    assert _count(ae.decoder) == 152_786_243
    assert _count(ae.encoder) == 73_639_488
    assert _count(disc.clip) == 37_750_336
    assert _count(disc.frame) == 2_766_529
    assert _count(flow) == 49_935_360
    # the condition ResNet-50 is torchvision's with InstanceNorm, its fc replaced by a 1x1 conv to 2 x 128
    assert _count(cond.encoder) == _count(resnet50) - _count(resnet50.fc) + 2048 * 256 + 256
    # official geometry: 16 frames after x0 at 64x64 from a 1x4x4 start volume
    assert ae.decoder.start == (1024, 1, 4, 4)
    assert (ae.decoder.sizes_t[-1], ae.decoder.sizes_h[-1]) == (16, 64)


@pytest.mark.parametrize("size,frames", [((16, 12), 5), ((15, 9), 4), ((16, 16), 9)])
def test_shapes(size, frames):
    ae, disc, cond, flow = tiny_models(size=size, frames=frames)
    clip = random_clips(2, frames, size)
    recon, z, mu, logvar = ae(clip)
    assert recon.shape == (2, 3, frames - 1, *size)
    assert z.shape == mu.shape == logvar.shape == (2, 8)
    assert recon.abs().max() <= 1
    logits, features, patches = disc(clip[:, :, 1:], clip[:, :, 0])
    assert logits.shape == (2, 1) and len(features) == 4 and patches.shape[:2] == (2, 1)
    image, mean, _ = cond(clip[:, :, 0])
    assert image.shape == (2, 3, *size) and mean.shape == (2, 6)
    u, logdet = flow(z, mean)
    assert u.shape == (2, 8) and logdet.shape == (2,)
    ae.eval(), cond.eval(), flow.eval()
    video = sample_clips(ae, cond, flow, clip[:, :, 0], torch.Generator().manual_seed(0))
    assert video.shape == (2, 3, frames, *size)
    assert torch.equal(video[:, :, 0], clip[:, :, 0])


def test_bad_shapes_and_mismatched_stages_are_named():
    ae, _, cond, flow = tiny_models()
    with pytest.raises(ValueError, match=r"clip has shape \(2, 3, 4, 16, 12\); expected \(B, 3, 5, 16, 12\)"):
        ae(random_clips(2, 4))
    with pytest.raises(ValueError, match="c has shape"):
        flow(torch.zeros(2, 8), torch.zeros(2, 5))
    other = CINNFlow(**{**tiny_configs()["flow"], "z_dim": 10})
    with pytest.raises(ValueError, match="autoencoder z_dim 8 != flow z_dim 10"):
        sample_clips(ae, cond, other, torch.zeros(1, 3, 16, 12))


def test_sampling_is_reproducible_and_varies_with_the_noise():
    ae, _, cond, flow = tiny_models()
    for m in (ae, cond, flow):
        m.eval()
    x0 = random_clips(2)[:, :, 0]
    a = sample_clips(ae, cond, flow, x0, torch.Generator().manual_seed(3))
    b = sample_clips(ae, cond, flow, x0, torch.Generator().manual_seed(3))
    c = sample_clips(ae, cond, flow, x0, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert (a[:, :, 1:] - c[:, :, 1:]).abs().max() > 1e-4


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    ae, disc, cond, flow = tiny_models()
    clip = random_clips()
    flow.train()
    flow(torch.randn(4, 8), torch.randn(4, 6))  # initialise ActNorm: its state must survive the round trip
    disc.train()
    disc(clip[:, :, 1:], clip[:, :, 0])  # likewise the patch discriminator's ActNorm, spectral-norm vectors
    for model in (ae, disc, cond, flow):
        model.eval()
    with torch.no_grad():
        before = (ae.decode(clip[:, :, 0], torch.randn(2, 8, generator=torch.Generator().manual_seed(0))),
                  ae.encode(clip[:, :, 1:])[0], disc(clip[:, :, 1:], clip[:, :, 0])[0],
                  cond.condition(clip[:, :, 0]), flow(torch.ones(2, 8), torch.ones(2, 6))[0])
    loaded = []
    for name, model in (("ae", ae), ("disc", disc), ("cond", cond), ("flow", flow)):
        model.save_pretrained(tmp_path / name)
        loaded.append(type(model).from_pretrained(tmp_path / name).eval())
    ae2, disc2, cond2, flow2 = loaded
    assert int(flow2.blocks[0].norm.initialized) == 1
    with torch.no_grad():
        after = (ae2.decode(clip[:, :, 0], torch.randn(2, 8, generator=torch.Generator().manual_seed(0))),
                 ae2.encode(clip[:, :, 1:])[0], disc2(clip[:, :, 1:], clip[:, :, 0])[0],
                 cond2.condition(clip[:, :, 0]), flow2(torch.ones(2, 8), torch.ones(2, 6))[0])
    for x, y in zip(before, after, strict=True):
        assert torch.equal(x, y)
    assert tuple(ae2.config.sample_size) == tuple(ae.config.sample_size) and flow2.config.num_blocks == 4


def test_a_few_autoencoder_steps_lower_the_loss_on_a_fixed_batch():
    ae, _, cond, _ = tiny_models()
    clip = random_clips(4)
    weights = AutoencoderLossWeights(**tiny_configs()["loss"])
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(ae.parameters(), lr=2e-3, betas=(0.5, 0.9))
    losses = []
    for _ in range(12):
        recon, _, mu, logvar = ae(clip, g)
        loss, logs = autoencoder_loss(recon, clip[:, :, 1:], mu, logvar, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(logs["l1"])
    assert losses[-1] < 0.8 * losses[0], losses
    opt = torch.optim.Adam(cond.parameters(), lr=2e-3)
    image, first = clip[:, :, 0], None
    for _ in range(12):
        recon, mean, logvar = cond(image, g)
        loss, logs = condition_loss(recon, image, mean, logvar, kl_weight=1e-5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first or logs["l1"]
    assert logs["l1"] < 0.8 * first, (first, logs)


def test_adversarial_terms_reach_both_sides():
    ae, disc, _, _ = tiny_models()
    clip = random_clips(2)
    weights = AutoencoderLossWeights(**tiny_configs()["loss"])
    g = torch.Generator().manual_seed(0)
    recon, _, mu, logvar = ae(clip, g)
    real = clip[:, :, 1:]
    views = Views.draw(2, real.shape[2], weights, g)
    assert views.length == 3 and 0 <= views.start <= 1 and views.frames.shape == (4,)
    d_loss, d_logs = discriminator_loss(disc, real, recon, views, weights)
    d_loss.backward()
    assert all(p.grad is not None for p in disc.parameters() if p.requires_grad)
    assert {"d_clip", "d_frame", "gradient_penalty"} <= set(d_logs)
    assert all(p.grad is None for p in ae.parameters())  # the fake clip was detached
    disc.zero_grad()
    g_loss, g_logs = autoencoder_loss(recon, real, mu, logvar, weights, discriminators=disc, views=views)
    g_loss.backward()
    assert {"g_clip", "g_frame", "feature_matching", "l1", "kl"} <= set(g_logs)
    assert ae.decoder.conv_out.weight.grad.abs().sum() > 0
    assert torch.isfinite(g_loss) and torch.isfinite(d_loss)
