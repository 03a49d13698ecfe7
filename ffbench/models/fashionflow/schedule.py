"""Noise schedules and samplers: diffusers schedulers configured the FashionFlow way.

`cosine` is the schedule the paper names (Nichol & Dhariwal 2021), diffusers' `squaredcos_cap_v2`.
`legacy` is what the public code actually trains with: betas on a cosine-eased ramp from 1e-4 to 0.02,
    beta_j = 1e-4 + (0.02 - 1e-4) * (1 - cos(pi * j / (T - 1))) / 2,   j = 0 .. T-1.
Both use T = 1000 steps and epsilon prediction. Sampler kinds: ddpm (ancestral, the paper's 1000 steps),
ddim, dpmpp (DPM-Solver++ multistep, 2nd order).
"""

from __future__ import annotations

import numpy as np
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, SchedulerMixin

NUM_TRAIN_TIMESTEPS = 1000
SCHEDULES = ("cosine", "legacy")
SAMPLERS = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler, "dpmpp": DPMSolverMultistepScheduler}

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


def schedule_name(scheduler: SchedulerMixin) -> str:
    """ "legacy" if `scheduler` carries explicit betas, else its diffusers beta_schedule name."""
    return "legacy" if scheduler.config.get("trained_betas") is not None else scheduler.config.beta_schedule
