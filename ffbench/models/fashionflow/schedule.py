"""Noise schedules and samplers: diffusers schedulers configured the FashionFlow way.

`cosine` is the schedule the paper names (Nichol & Dhariwal 2021), diffusers' `squaredcos_cap_v2`.
`legacy` is what the public code actually trains with: betas on a cosine-eased ramp from 1e-4 to 0.02,
    beta_j = 1e-4 + (0.02 - 1e-4) * (1 - cos(pi * j / (T - 1))) / 2,   j = 0 .. T-1.
Both use T = 1000 steps. Sampler kinds: ddpm (ancestral, the paper's 1000 steps), ddim, dpmpp
(DPM-Solver++ multistep, 2nd order). The schedulers step epsilon; a model that predicts something else
(its config's `prediction_type`, see `PREDICTION_TYPES`) is converted to and from epsilon through its
implied clean sample by `predicted_x0` / `output_from_x0`, and trained on `training_target`.
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, SchedulerMixin

NUM_TRAIN_TIMESTEPS = 1000
SCHEDULES = ("cosine", "legacy")
SAMPLERS = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler, "dpmpp": DPMSolverMultistepScheduler,
            "dpmpp-sde": DPMSolverMultistepScheduler}
# What a model's output means: the noise (the paper), or the velocity v = sqrt(ab) eps - sqrt(1 - ab) x0
# (Salimans & Ho 2022), whose implied x0 = sqrt(ab) x_t - sqrt(1 - ab) v never amplifies the model's
# error, where epsilon's x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab) multiplies it by up to ~1e4 near t = T.
PREDICTION_TYPES = ("epsilon", "v_prediction")

# Latents scaled by the VAE factor are not confined to [-1, 1]: never clip the x0 estimate.
# Near t = 999 the cosine schedule has almost no signal (alpha_bar ~ 1e-9), and estimating x0 there from
# an epsilon model divides its error by ~3e-5. DDPM takes every step anyway, as the paper does; DDIM
# starts one stride below T ("leading", offset 1, as Stable Diffusion does) and ends on its clean
# estimate (set_alpha_to_one); DPM-Solver++ clips lambda
# at -5.1, the setting diffusers documents for squaredcos_cap_v2 (a no-op for the legacy schedule).
_COMMON = dict(prediction_type="epsilon")
_PER_KIND = {
    "ddpm": dict(clip_sample=False, variance_type="fixed_small", timestep_spacing="trailing"),
    "ddim": dict(clip_sample=False, set_alpha_to_one=True, timestep_spacing="leading", steps_offset=1),
    "dpmpp": dict(
        algorithm_type="dpmsolver++",
        solver_order=2,
        thresholding=False,
        lower_order_final=True,
        timestep_spacing="trailing",
        lambda_min_clipped=-5.1,
    ),
}
# DPM-Solver++ for the SDE (2nd order): each step adds fresh noise, as DDPM's ancestral steps do.
_PER_KIND["dpmpp-sde"] = dict(_PER_KIND["dpmpp"], algorithm_type="sde-dpmsolver++")


def legacy_betas(
    num_train_timesteps: int = NUM_TRAIN_TIMESTEPS, start: float = 1e-4, end: float = 0.02
) -> np.ndarray:
    """The public FashionFlow code's betas: a cosine-eased ramp from `start` to `end` (float64, (T,))."""
    j = np.arange(num_train_timesteps, dtype=np.float64)
    return start + (end - start) * 0.5 * (1.0 - np.cos(np.pi * j / (num_train_timesteps - 1)))


def _check_kind(kind: str) -> None:
    if kind not in SAMPLERS:
        raise ValueError(f"sampler kind={kind!r}; choose one of {', '.join(SAMPLERS)}")


def make_noise_scheduler(
    schedule: str = "cosine", kind: str = "ddpm", num_train_timesteps: int = NUM_TRAIN_TIMESTEPS
) -> SchedulerMixin:
    """A diffusers scheduler for `schedule` ("cosine" | "legacy") driving sampler `kind` ("ddpm" | "ddim" |
    "dpmpp"), with epsilon prediction over `num_train_timesteps` (1000) steps."""
    _check_kind(kind)
    if schedule == "cosine":
        betas = dict(beta_schedule="squaredcos_cap_v2")
    elif schedule == "legacy":
        betas = dict(trained_betas=legacy_betas(num_train_timesteps).tolist())
    else:
        raise ValueError(f"schedule={schedule!r}; choose one of {', '.join(SCHEDULES)}")
    return SAMPLERS[kind](num_train_timesteps=num_train_timesteps, **betas, **_COMMON, **_PER_KIND[kind])


def switch_sampler(scheduler: SchedulerMixin, kind: str) -> SchedulerMixin:
    """The same noise schedule as `scheduler` (betas and T carried over) driven by sampler `kind`."""
    _check_kind(kind)
    config = scheduler.config
    betas = (
        dict(trained_betas=list(config.trained_betas))
        if config.get("trained_betas") is not None
        else dict(beta_schedule=config.beta_schedule, beta_start=config.beta_start, beta_end=config.beta_end)
    )
    return SAMPLERS[kind](
        num_train_timesteps=config.num_train_timesteps, **betas, **_COMMON, **_PER_KIND[kind]
    )


# The sampler `generate`, the pipeline and the demo use unless told otherwise (see DEFAULT_STEPS).
# Measured on the demo model (cpu preset, cond_residual, 2000 steps; bench/quality.py PSNR of frames 1..15
# against the real ones, first 6 test videos, mean over seeds 0, 1, 2; one seed alone moves a sampler's
# figure by up to 0.3 dB): ddpm-1000 (the paper) 21.55 dB, L1 0.0360, ~70 s a video on one thread;
# dpmpp-sde-50 21.50 / 0.0362 (~3 s); ddpm-50 21.59; ddim-50 21.59; dpmpp-25 21.53: every one within
# 0.05 dB of ddpm-1000. Stochastic like the paper's DDPM, 50 U-Net calls.
DEFAULT_SAMPLER = "dpmpp-sde"
# Steps a sampler takes unless told otherwise: DDPM is the paper's 1000-step ancestral sampler.
DEFAULT_STEPS = {"ddpm": NUM_TRAIN_TIMESTEPS, "ddim": 50, "dpmpp": 25, "dpmpp-sde": 50}


def sampler_kind(scheduler: SchedulerMixin) -> str:
    """The sampler kind (a key of SAMPLERS) that drives `scheduler`."""
    for kind, cls in SAMPLERS.items():
        algorithm = _PER_KIND[kind].get("algorithm_type")
        if type(scheduler) is cls and (algorithm is None or scheduler.config.algorithm_type == algorithm):
            return kind
    raise ValueError(f"{type(scheduler).__name__} is not one of the FashionFlow samplers "
                     f"({', '.join(SAMPLERS)})")


def default_steps(kind: str) -> int:
    """The number of steps sampler `kind` takes by default."""
    _check_kind(kind)
    return DEFAULT_STEPS[kind]


def schedule_name(scheduler: SchedulerMixin) -> str:
    """ "legacy" if `scheduler` carries explicit betas, else its diffusers beta_schedule name."""
    return "legacy" if scheduler.config.get("trained_betas") is not None else scheduler.config.beta_schedule


def check_prediction_type(prediction_type: str) -> None:
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type={prediction_type!r}; choose one of {', '.join(PREDICTION_TYPES)}")


def signal_noise_scales(scheduler: SchedulerMixin, t: torch.Tensor | int,
                        like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sqrt(ab_t), sqrt(1 - ab_t) in float64, shaped to broadcast over `like` (B, ...) for t () or (B,)."""
    t = torch.as_tensor(t, device=like.device).long()
    ab = scheduler.alphas_cumprod.to(like.device, torch.float64)[t]
    ab = ab.reshape(-1, *([1] * (like.ndim - 1))) if ab.ndim else ab
    return ab.sqrt(), (1 - ab).sqrt()


def predicted_x0(output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int, scheduler: SchedulerMixin,
                 prediction_type: str) -> torch.Tensor:
    """The clean sample (float64) implied by a model `output` of `prediction_type` at noisy `x_t`, step t."""
    check_prediction_type(prediction_type)
    a, s = signal_noise_scales(scheduler, t, x_t)
    if prediction_type == "epsilon":
        return (x_t.double() - s * output.double()) / a
    return a * x_t.double() - s * output.double()


def output_from_x0(x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int, scheduler: SchedulerMixin,
                   prediction_type: str) -> torch.Tensor:
    """The output of `prediction_type` (float64) that implies clean sample `x0` at noisy `x_t`, step t.
    Both forms divide by sqrt(1 - ab_t) only, which is >= 0.006 at every step of both schedules."""
    check_prediction_type(prediction_type)
    a, s = signal_noise_scales(scheduler, t, x_t)
    if prediction_type == "epsilon":
        return (x_t.double() - a * x0.double()) / s
    return (a * x_t.double() - x0.double()) / s


def training_target(scheduler: SchedulerMixin, clean: torch.Tensor, noise: torch.Tensor, t: torch.Tensor,
                    prediction_type: str) -> torch.Tensor:
    """What a `prediction_type` model is trained to output for `clean` noised with `noise` at t (B,)."""
    check_prediction_type(prediction_type)
    if prediction_type == "epsilon":
        return noise
    a, s = signal_noise_scales(scheduler, t, clean)
    return (a * noise.double() - s * clean.double()).to(clean.dtype)


# ----------------------------------------------------------------------------------------------------
# the public code's DDPM step (inference="official")


def official_ddpm_tables(scheduler: SchedulerMixin) -> dict[str, torch.Tensor]:
    """The per-step constants the public FashionFlow inference precomputes, from `scheduler`'s betas and in
    its float32 arithmetic: betas, sqrt(1/alpha), sqrt(1 - alpha_bar), the posterior variance
    beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) with alpha_bar_{-1} = 1. Each (T,)."""
    betas = scheduler.betas.to(torch.float32)
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    alphas_cumprod_prev = torch.nn.functional.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
    return {
        "betas": betas,
        "sqrt_recip_alphas": torch.sqrt(1.0 / alphas),
        "sqrt_one_minus_alphas_cumprod": torch.sqrt(1.0 - alphas_cumprod),
        "posterior_variance": betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod),
    }


def official_ddpm_step(tables: dict[str, torch.Tensor], eps: torch.Tensor, t: int, x_t: torch.Tensor,
                       noise: torch.Tensor | None) -> torch.Tensor:
    """One ancestral DDPM step x_t -> x_{t-1} as the public code writes it, with NO clip of the implied x0:

        mean = (x_t - beta_t / sqrt(1 - ab_t) * eps) / sqrt(alpha_t),   x_{t-1} = mean + sqrt(var_t) * noise,

    which is the DDPM posterior mean sqrt(ab_{t-1}) beta_t / (1 - ab_t) x0 + sqrt(alpha_t) (1 - ab_{t-1}) /
    (1 - ab_t) x_t at x0 = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t), and its variance. At t = 0 the mean is
    returned and `noise` is not used (the public code draws none there). Computed in x_t's dtype (float32).
    """
    if t > 0 and noise is None:
        raise ValueError(f"official_ddpm_step at t={t} > 0 needs the step's noise")

    def at(name: str) -> torch.Tensor:
        return tables[name][t].to(x_t.device, x_t.dtype)

    # the public code's order of operations: sqrt(1/alpha) * (x - beta * eps / sqrt(1 - ab))
    eps = eps.to(x_t.dtype)
    mean = at("sqrt_recip_alphas") * (x_t - at("betas") * eps / at("sqrt_one_minus_alphas_cumprod"))
    if t == 0:
        return mean
    return mean + torch.sqrt(at("posterior_variance")) * noise.to(x_t.dtype)
