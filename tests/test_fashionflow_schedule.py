"""Noise schedules against their formulas, and the sampling loops against an exact denoiser."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_fashionflow_helpers import tiny_model  # noqa: F401

from ffbench.models.fashionflow import (
    legacy_betas,
    make_noise_scheduler,
    sample_interpolation,
    sample_keyframes,
    sample_per_frame,
    switch_sampler,
)
from ffbench.models.fashionflow.sampling import interpolation_windows
from ffbench.models.fashionflow.schedule import SAMPLERS, sampler_kind


@pytest.mark.parametrize("kind", ["ddpm", "ddim", "dpmpp"])
def test_cosine_schedule_is_nichol_dhariwal(kind):
    sched = make_noise_scheduler("cosine", kind)
    t_max, s = 1000, 0.008

    def alpha_bar(t: float) -> float:
        return math.cos((t / t_max + s) / (1 + s) * math.pi / 2) ** 2

    betas = np.array([min(1 - alpha_bar(i + 1) / alpha_bar(i), 0.999) for i in range(t_max)])
    assert sched.config.num_train_timesteps == 1000
    assert sched.config.prediction_type == "epsilon"
    np.testing.assert_allclose(sched.betas.double().numpy(), betas, rtol=1e-5, atol=1e-8)
    # the closed form of alpha_bar itself, away from the capped last steps
    ab = np.array([alpha_bar(i + 1) / alpha_bar(0) for i in range(900)])
    np.testing.assert_allclose(sched.alphas_cumprod[:900].double().numpy(), ab, rtol=1e-4)


@pytest.mark.parametrize("kind", ["ddpm", "ddim", "dpmpp"])
def test_legacy_schedule_is_the_public_codes_cosine_eased_ramp(kind):
    sched = make_noise_scheduler("legacy", kind)
    t_max = 1000
    # the public code's loop written out: for i = T-1 .. 0, start + (end - start)/2 (1 + cos(pi i/(T-1)))
    ref = [
        1e-4 + 0.5 * (0.02 - 1e-4) * (1 + math.cos(i / (t_max - 1) * math.pi)) for i in reversed(range(t_max))
    ]
    np.testing.assert_allclose(sched.betas.double().numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(legacy_betas(), ref, rtol=1e-12)
    assert sched.betas[0] == pytest.approx(1e-4) and sched.betas[-1] == pytest.approx(0.02)
    assert torch.all(sched.betas[1:] >= sched.betas[:-1])
    np.testing.assert_allclose(
        sched.alphas_cumprod.double().numpy(), np.cumprod(1 - np.array(ref)), rtol=1e-4
    )


def test_switch_sampler_keeps_the_schedule_and_bad_names_are_refused():
    for schedule in ("cosine", "legacy"):
        base = make_noise_scheduler(schedule, "ddpm")
        for kind in ("ddim", "dpmpp", "dpmpp-sde", "ddpm"):
            switched = switch_sampler(base, kind)
            assert torch.equal(switched.betas, base.betas)
            assert sampler_kind(switched) == kind  # dpmpp and dpmpp-sde share a class, not a kind
    with pytest.raises(ValueError, match="schedule='linear'"):
        make_noise_scheduler("linear")
    with pytest.raises(ValueError, match="kind='euler'"):
        make_noise_scheduler("cosine", "euler")


class ExactDenoiser(torch.nn.Module):
    """Optimal epsilon when the data is one fixed clip x0: eps = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t);
    with prediction_type="v_prediction" the optimal v = sqrt(ab_t) eps - sqrt(1 - ab_t) x0."""

    def __init__(self, x0: torch.Tensor, alphas_cumprod: torch.Tensor, stage: str = "keyframes",
                 prediction_type: str = "epsilon", cond_residual: bool = False):
        super().__init__()
        self.x0, self.ab = x0, alphas_cumprod.double()
        self.config = SimpleNamespace(stage=stage, num_frames=5, prediction_type=prediction_type,
                                      cond_residual=cond_residual)
        self.replaces_first_frame = stage == "keyframes"
        self.calls = 0
        self.dtype = torch.float32

    def forward(self, sample, t, cond, clip):
        self.calls += 1
        ab = self.ab[int(t)]
        x = sample[:, :4].double()
        x0 = self.x0[..., : x.shape[2], :, :].double().expand_as(x)
        eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
        if self.config.prediction_type == "v_prediction":
            return (ab.sqrt() * eps - (1 - ab).sqrt() * x0).float()
        return eps.float()


def clean_latents(*shape: int) -> torch.Tensor:
    """Seeded unit-variance latents inside the samplers' x0 clip (X0_CLIP = 4). An unseeded draw depended
    on the global RNG, i.e. on test order, and about one draw in 200 of this size has a value beyond 4,
    which the sampler clips by design (seed 909 of the whole suite: error 0.83)."""
    g = torch.Generator().manual_seed(1)
    return torch.randn(*shape, generator=g).clamp(-3.5, 3.5)


@pytest.mark.parametrize(("kind", "steps"), [("ddpm", 1000), ("ddim", 50), ("dpmpp", 25), ("dpmpp-sde", 50)])
@pytest.mark.parametrize(
    ("schedule", "prediction_type"),
    [("cosine", "epsilon"), ("legacy", "epsilon"), ("cosine", "v_prediction")],
)
def test_samplers_recover_the_clip_of_an_exact_denoiser(kind, steps, schedule, prediction_type):
    sched = make_noise_scheduler(schedule, kind)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(1, 4, 5, 3, 2, generator=g)
    model = ExactDenoiser(x0, sched.alphas_cumprod, prediction_type=prediction_type)
    out = sample_keyframes(model, sched, x0[:, :, 0], None, 5, steps, generator=g)
    assert model.calls == steps
    assert torch.equal(out[:, :, 0], x0[:, :, 0])  # the conditioning frame is put back exactly
    assert (out - x0).abs().max() < 1e-3


@pytest.mark.parametrize("kind", ["dpmpp", "dpmpp-sde"])
def test_a_cond_residual_model_samples_differences_and_gets_the_conditioning_latent_added(kind):
    sched = make_noise_scheduler("cosine", kind)
    video = clean_latents(1, 4, 5, 3, 2) / 2  # its residuals, up to 2 x 1.75, stay inside the x0 clip
    cond = video[:, :, 0]
    residual = video - cond[:, :, None]  # frame 0's residual is zero, as the sampler pins it
    model = ExactDenoiser(residual, sched.alphas_cumprod, prediction_type="v_prediction", cond_residual=True)
    out = sample_keyframes(model, sched, cond, None, 5, 25, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :, 0], cond)
    assert (out - video).abs().max() < 1e-3


def test_guidance_combines_conditional_and_unconditional_passes():
    sched = make_noise_scheduler("cosine", "ddim")
    x0 = clean_latents(1, 4, 3, 3, 2)
    model = ExactDenoiser(x0, sched.alphas_cumprod)
    # both passes see the same sample, so eps_u + s (eps_c - eps_u) = eps: guidance leaves it exact
    out = sample_keyframes(model, sched, x0[:, :, 0], None, 3, 20, guidance_scale=3.0)
    assert model.calls == 20 and (out - x0).abs().max() < 1e-3


def test_per_frame_sampler_costs_one_run_per_frame():
    sched = make_noise_scheduler("cosine", "dpmpp")
    x0 = clean_latents(1, 4, 2, 3, 2)
    model = ExactDenoiser(x0, sched.alphas_cumprod)
    out = sample_per_frame(model, sched, x0[:, :, 0], None, 6, 10)
    assert out.shape == (1, 4, 6, 3, 2) and model.calls == 5 * 10
    assert torch.allclose(out[:, :, 1:], x0[:, :, 1:2].expand(1, 4, 5, 3, 2), atol=1e-3)


def test_interpolation_windows_start_and_end_on_keyframes():
    assert interpolation_windows(31, 16) == [(0, 15), (14, 29), (28, 31)]
    assert interpolation_windows(9, 5) == [(0, 5), (4, 9)]
    assert interpolation_windows(1, 5) == [(0, 1)]
    for start, stop in interpolation_windows(139, 70):
        assert start % 2 == 0 and (stop - 1) % 2 == 0 and stop - start <= 70
    with pytest.raises(ValueError, match="odd number"):
        interpolation_windows(10, 5)


def test_interpolation_keeps_keyframes_and_fills_the_rest():
    sched = make_noise_scheduler("cosine", "ddim")
    target = clean_latents(1, 4, 9, 3, 2)
    model = ExactDenoiser(target, sched.alphas_cumprod, stage="interpolation")
    # the exact denoiser ignores the window offset; make every window see the same target
    target[:, :, 4:] = target[:, :, :5].clone()
    out = sample_interpolation(
        model, sched, target[:, :, ::2], torch.zeros(1, 3, 5, 3, 2), target[:, :, 0], None, 10, window=5
    )
    assert out.shape == (1, 4, 9, 3, 2) and model.calls == 2 * 10
    assert torch.equal(out[:, :, ::2], target[:, :, ::2])
    assert (out - target).abs().max() < 1e-3


def test_sampling_a_real_tiny_model_pins_frame_zero_and_is_seeded():
    model = tiny_model()
    cond, clip = torch.randn(2, 4, 8, 6), torch.randn(2, 17, 64)
    runs = [
        sample_keyframes(
            model,
            make_noise_scheduler("cosine", "dpmpp"),
            cond,
            clip,
            4,
            3,
            generator=torch.Generator().manual_seed(seed),
        )
        for seed in (1, 1, 2)
    ]
    assert torch.equal(runs[0][:, :, 0], cond)
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_clip_epsilon_keeps_in_range_x0_and_clamps_the_rest():
    import torch

    from ffbench.models.fashionflow import make_noise_scheduler
    from ffbench.models.fashionflow.sampling import X0_CLIP, clip_epsilon

    sched = make_noise_scheduler("cosine", "ddpm")
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 4, 3, 5, 5, generator=g)
    x0[1] *= 10  # far outside the latent range
    noise = torch.randn(x0.shape, generator=g)
    for t in (10, 500, 990):
        ab = sched.alphas_cumprod[t].double()
        x_t = (ab.sqrt() * x0.double() + (1 - ab).sqrt() * noise.double()).float()
        eps = clip_epsilon(noise, x_t, torch.tensor(t), sched)
        implied = (x_t.double() - (1 - ab).sqrt() * eps.double()) / ab.sqrt()
        inside = x0.abs() <= X0_CLIP
        assert torch.allclose(eps[inside], noise[inside])
        assert torch.allclose(implied[~inside].float(), x0[~inside].clamp(-X0_CLIP, X0_CLIP), atol=1e-3)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_clip_model_output_clamps_the_implied_x0_for_either_prediction_type(prediction_type):
    from ffbench.models.fashionflow.sampling import X0_CLIP, clip_model_output

    sched = make_noise_scheduler("cosine", "ddpm")
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 4, 3, 5, 5, generator=g)
    x0[1] *= 10
    noise = torch.randn(x0.shape, generator=g)
    for t in (10, 500, 990):
        ab = sched.alphas_cumprod[t].double()
        x_t = (ab.sqrt() * x0.double() + (1 - ab).sqrt() * noise.double()).float()
        v = ab.sqrt() * noise.double() - (1 - ab).sqrt() * x0.double()
        exact = (noise if prediction_type == "epsilon" else v.float())
        out = clip_model_output(exact, x_t, torch.tensor(t), sched, prediction_type)
        # the implied x0 by the textbook formulas, independent of the code under test
        if prediction_type == "epsilon":
            implied = (x_t.double() - (1 - ab).sqrt() * out.double()) / ab.sqrt()
        else:
            implied = ab.sqrt() * x_t.double() - (1 - ab).sqrt() * out.double()
        inside = x0.abs() <= X0_CLIP
        assert torch.equal(out[inside], exact[inside])
        assert torch.allclose(implied[~inside].float(), x0[~inside].clamp(-X0_CLIP, X0_CLIP), atol=1e-3)


def test_prediction_type_conversions_invert_each_other_and_bad_types_are_refused():
    from ffbench.models.fashionflow.schedule import output_from_x0, predicted_x0, training_target

    sched = make_noise_scheduler("cosine", "ddpm")
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(3, 4, 2, 3, 3, generator=g), torch.randn(3, 4, 2, 3, 3, generator=g)
    t = torch.tensor([1, 500, 999])
    ab = sched.alphas_cumprod[t].double().reshape(-1, 1, 1, 1, 1)
    x_t = ab.sqrt() * x0.double() + (1 - ab).sqrt() * noise.double()
    for kind in ("epsilon", "v_prediction"):
        target = training_target(sched, x0.double(), noise.double(), t, kind)
        # the training target is the output that implies the true x0, and back
        assert torch.allclose(predicted_x0(target, x_t, t, sched, kind)[:2], x0[:2].double(), atol=1e-6)
        assert torch.allclose(output_from_x0(x0, x_t, t, sched, kind), target, atol=1e-6)
    with pytest.raises(ValueError, match="prediction_type='sample'"):
        training_target(sched, x0, noise, t, "sample")


def test_the_default_sampler_takes_at_most_50_calls_and_is_what_a_pipeline_defaults_to():
    from ffbench.models.fashionflow.schedule import DEFAULT_SAMPLER, DEFAULT_STEPS, default_steps

    assert DEFAULT_SAMPLER in SAMPLERS and default_steps(DEFAULT_SAMPLER) <= 50
    assert default_steps("ddpm") == 1000 and set(DEFAULT_STEPS) == set(SAMPLERS)
    with pytest.raises(ValueError, match="kind='euler'"):
        default_steps("euler")
    with pytest.raises(ValueError, match="not one of the FashionFlow samplers"):
        sampler_kind(object())
