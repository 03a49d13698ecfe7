"""Training objectives: what the model is shown, what is scored, condition dropout, interpolation inputs."""

from __future__ import annotations

import pytest
import torch
from test_fashionflow_helpers import tiny_model  # noqa: F401

from ffbench.models.fashionflow import diffusion_loss, interpolation_loss, make_noise_scheduler


class Recorder(torch.nn.Module):
    """Wraps a model: remembers its inputs and returns a fixed prediction, so the loss is predictable."""

    def __init__(self, model, prediction: float = 0.0):
        super().__init__()
        self.model, self.prediction, self.seen = model, prediction, {}

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.model, name)

    def forward(self, sample, t, cond, clip):
        self.seen = dict(sample=sample, t=t, cond=cond, clip=clip)
        return torch.full((sample.shape[0], 4, *sample.shape[2:]), self.prediction)


def _batch(b=3, f=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(b, 4, f, 8, 6, generator=g)
    return dict(
        latents=latents,
        cond_latent=latents[:, :, 0].clone(),
        clip=torch.randn(b, 17, 64, generator=g),
        lowres=torch.rand(b, 3, f, 8, 6, generator=g) * 2 - 1,
    )


def _target_from(noisy, clean, t, sched, prediction_type="epsilon"):
    """The training target recovered from what the model was shown: the noise, or v = sqrt(ab) eps -
    sqrt(1 - ab) x0 (Salimans & Ho 2022, eq. in section 4)."""
    ab = sched.alphas_cumprod[t].double().reshape(-1, 1, 1, 1, 1)
    noise = (noisy - ab.sqrt() * clean) / (1 - ab).sqrt()
    return noise if prediction_type == "epsilon" else ab.sqrt() * noise - (1 - ab).sqrt() * clean


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("mode", ["both", "local", "global"])
def test_diffusion_loss_scores_the_generated_frames_only(mode, prediction_type):
    sched = make_noise_scheduler("cosine")
    batch = _batch()
    rec = Recorder(tiny_model(conditioning=mode, prediction_type=prediction_type))
    loss = diffusion_loss(rec, sched, batch, generator=torch.Generator().manual_seed(1))
    t = rec.seen["t"]
    assert t.shape == (3,) and t.dtype == torch.long and 0 <= t.min() and t.max() < 1000
    target = _target_from(rec.seen["sample"].double(), batch["latents"].double(), t, sched, prediction_type)
    # a zero prediction scores the mean squared target of the scored frames: frames 1.. with local
    # conditioning
    scored = target[:, :, 1:] if mode != "global" else target
    assert loss.item() == pytest.approx(scored.square().mean().item(), rel=1e-4)
    # and the frame-0 prediction does not matter with local conditioning
    model = tiny_model(conditioning=mode)
    g = torch.Generator().manual_seed(5)
    base = diffusion_loss(model, sched, batch, generator=g)
    original = model.unet.forward

    def shifted(*args, **kwargs):
        out = original(*args, **kwargs).clone()
        out[:, :, 0] += 10.0
        return out

    model.unet.forward = shifted
    moved = diffusion_loss(model, sched, batch, generator=torch.Generator().manual_seed(5))
    assert (moved.item() == pytest.approx(base.item(), rel=1e-6)) == (mode != "global")


def test_diffusion_loss_is_seeded_and_backpropagates():
    model, sched, batch = tiny_model(), make_noise_scheduler("legacy"), _batch()
    a = diffusion_loss(model, sched, batch, generator=torch.Generator().manual_seed(0))
    b = diffusion_loss(model, sched, batch, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.ndim == 0
    for kind in ("ddim", "dpmpp"):  # the forward process does not depend on the sampler the scheduler drives
        other = diffusion_loss(
            model, make_noise_scheduler("legacy", kind), batch, generator=torch.Generator().manual_seed(0)
        )
        assert torch.equal(other, a)
    a.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_cond_dropout_zeroes_whole_samples():
    sched, batch = make_noise_scheduler("cosine"), _batch(b=64)
    rec = Recorder(tiny_model())
    diffusion_loss(rec, sched, batch, generator=torch.Generator().manual_seed(0), cond_dropout=0.5)
    cond_zero = rec.seen["cond"].flatten(1).abs().sum(1) == 0
    clip_zero = rec.seen["clip"].flatten(1).abs().sum(1) == 0
    assert torch.equal(cond_zero, clip_zero)  # image latent and CLIP tokens are dropped together
    assert 16 < int(cond_zero.sum()) < 48
    kept = ~cond_zero
    assert torch.equal(rec.seen["cond"][kept], batch["cond_latent"][kept])
    diffusion_loss(rec, sched, batch, cond_dropout=0.0)
    assert torch.equal(rec.seen["clip"], batch["clip"])
    with pytest.raises(ValueError, match="cond_dropout"):
        diffusion_loss(rec, sched, batch, cond_dropout=1.5)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_interpolation_loss_gives_even_frames_and_scores_odd_ones(prediction_type):
    sched, batch = make_noise_scheduler("cosine"), _batch(f=7)
    rec = Recorder(tiny_model(stage="interpolation", prediction_type=prediction_type))
    loss = interpolation_loss(rec, sched, batch, generator=torch.Generator().manual_seed(3))
    x = rec.seen["sample"]
    assert x.shape == (3, 8, 7, 8, 6)
    even, odd = slice(0, None, 2), slice(1, None, 2)
    assert torch.equal(x[:, :4, even], batch["latents"][:, :, even])  # given frames: clean latents
    assert torch.equal(x[:, 4:7, even], batch["lowres"][:, :, even])  # their RGB at latent size
    assert torch.all(x[:, 4:7, odd] == 0)  # the frames to fill have no RGB
    assert torch.all(x[:, 7, even] == 1) and torch.all(x[:, 7, odd] == 0)  # the mask channel
    target = _target_from(x[:, :4].double(), batch["latents"].double(), rec.seen["t"], sched, prediction_type)
    assert loss.item() == pytest.approx(target[:, :, odd].square().mean().item(), rel=1e-4)


def test_losses_refuse_the_wrong_model_or_batch():
    sched = make_noise_scheduler("cosine")
    with pytest.raises(ValueError, match="stage='interpolation'"):
        interpolation_loss(tiny_model(), sched, _batch())
    batch = _batch()
    del batch["clip"]
    with pytest.raises(ValueError, match=r"lacks \['clip'\]"):
        diffusion_loss(tiny_model(), sched, batch)


@pytest.mark.parametrize("stage", ["keyframes", "interpolation"])
def test_a_fixed_batch_can_be_fitted(stage):
    # same timesteps and noise every step: the target is fixed, so a working model + loss must fit it
    model, sched, batch = tiny_model(stage=stage).train(), make_noise_scheduler("cosine"), _batch(b=2)
    loss_fn = diffusion_loss if stage == "keyframes" else interpolation_loss
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = loss_fn(model, sched, batch, generator=torch.Generator().manual_seed(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_cond_residual_diffuses_each_frames_difference_from_the_conditioning_latent(prediction_type):
    sched = make_noise_scheduler("cosine")
    batch = _batch(seed=3)
    batch["cond_latent"] = batch["cond_latent"] + 0.5  # not frame 0 itself: the residual of frame 0 is not 0
    rec = Recorder(tiny_model(conditioning="both", prediction_type=prediction_type, cond_residual=True))
    loss = diffusion_loss(rec, sched, batch, generator=torch.Generator().manual_seed(2))
    residual = batch["latents"].double() - batch["cond_latent"].double()[:, :, None]
    t, shown = rec.seen["t"], rec.seen["sample"].double()
    target = _target_from(shown, residual, t, sched, prediction_type)
    assert loss.item() == pytest.approx(target[:, :, 1:].square().mean().item(), rel=1e-4)
    # the noise implied by the residual is the loss's standard normal draw; implied by the frames
    # themselves it carries the conditioning latent, scaled by sqrt(ab) / sqrt(1 - ab)
    noise = _target_from(shown, residual, t, sched, "epsilon")
    assert abs(noise.mean().item()) < 0.1 and noise.std().item() == pytest.approx(1.0, abs=0.1)
    ab = sched.alphas_cumprod[t].double().reshape(-1, 1, 1, 1, 1)
    offset = ab.sqrt() / (1 - ab).sqrt() * batch["cond_latent"].double()[:, :, None]
    frames = _target_from(shown, batch["latents"].double(), t, sched, "epsilon")
    assert torch.allclose(frames, noise - offset, atol=1e-6)
