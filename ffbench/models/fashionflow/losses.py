"""Training objectives: the keyframe model's masked epsilon MSE, and the interpolation stage's.

Batches are the training loader's dicts: `latents` (B, 4, F, h, w) clean latents (already scaled by
the VAE factor), `cond_latent` (B, 4, h, w) clean latent of the conditioning frame, `clip` (B, T, D)
CLIP tokens of that frame, and for interpolation `lowres` (B, 3, F, h, w) RGB at latent size in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from ffbench.models.fashionflow.model import FashionFlowModel
from ffbench.models.fashionflow.schedule import signal_noise_scales, training_target


def keyframe_mask(num_frames: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Frames the interpolation stage is given: the even ones. (F,) bool."""
    return torch.arange(num_frames, device=device) % 2 == 0


def interpolation_inputs(noisy: torch.Tensor, lowres: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Input of the interpolation model: latents (B, 4, F, h, w) with the known frames clean, the RGB
    of the known frames at latent size (B, 3, F, h, w) with the others zeroed, and the mask (1 = known).
    known (F,) bool -> (B, 8, F, h, w)."""
    b, _, f, h, w = noisy.shape
    mask = known.to(noisy.dtype).reshape(1, 1, f, 1, 1)
    return torch.cat([noisy, lowres.to(noisy.dtype) * mask, mask.expand(b, 1, f, h, w)], dim=1)


def _check_batch(batch: dict, keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in batch]
    if missing:
        raise ValueError(f"training batch lacks {missing}; it has {sorted(batch)}")


def add_noise(
    scheduler: SchedulerMixin, clean: torch.Tensor, noise: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """The forward process q(x_t | x_0) = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps for (B, ...) tensors, from
    the scheduler's alphas_cumprod: the same for every sampler kind (DPM-Solver's add_noise is not)."""
    a, s = signal_noise_scales(scheduler, t, clean)
    return (a * clean.double() + s * noise.double()).to(clean.dtype)


def _timesteps_and_noise(scheduler: SchedulerMixin, latents: torch.Tensor, generator: torch.Generator | None):
    b = latents.shape[0]
    gen_device = generator.device if generator is not None else latents.device
    t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=generator, device=gen_device)
    noise = randn_tensor(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
    return t.to(latents.device), noise


def _drop_conditions(cond: torch.Tensor, clip: torch.Tensor, p: float, generator: torch.Generator | None):
    """Zero the conditioning of a random fraction p of the batch (classifier-free guidance training)."""
    if p <= 0:
        return cond, clip
    if not 0 <= p <= 1:
        raise ValueError(f"cond_dropout={p}; give a probability in [0, 1]")
    gen_device = generator.device if generator is not None else cond.device
    keep = (torch.rand(cond.shape[0], generator=generator, device=gen_device) >= p).to(cond.device)
    return cond * keep[:, None, None, None].to(cond.dtype), clip * keep[:, None, None].to(clip.dtype)


def diffusion_loss(
    model: FashionFlowModel,
    scheduler: SchedulerMixin,
    batch: dict,
    generator: torch.Generator | None = None,
    cond_dropout: float = 0.0,
) -> torch.Tensor:
    """FashionFlow's objective: epsilon (or v, per the model's `prediction_type`) MSE on a clip noised at
    random timesteps (scalar tensor).

    With local conditioning frame 0 is the clean conditioning latent (zero noise target) and is left out
    of the mean; with conditioning="global" every frame is generated and scored. `cond_dropout` zeroes
    the CLIP tokens and conditioning latent of that fraction of samples, for classifier-free guidance.
    """
    _check_batch(batch, ("latents", "cond_latent", "clip"))
    latents, cond, clip = batch["latents"], batch["cond_latent"], batch["clip"]
    latents = model.diffusion_space(latents, cond)  # before dropout: the residual is to the real image
    t, noise = _timesteps_and_noise(scheduler, latents, generator)
    noisy = add_noise(scheduler, latents, noise, t)
    cond, clip = _drop_conditions(cond, clip, cond_dropout, generator)
    pred = model(noisy, t, cond, clip)  # the model itself puts `cond` into frame 0 when local
    target = training_target(scheduler, latents, noise, t, model.config.prediction_type)
    if model.replaces_first_frame:
        return F.mse_loss(pred[:, :, 1:].float(), target[:, :, 1:].float())
    return F.mse_loss(pred.float(), target.float())


def interpolation_loss(
    model: FashionFlowModel,
    scheduler: SchedulerMixin,
    batch: dict,
    generator: torch.Generator | None = None,
    cond_dropout: float = 0.0,
) -> torch.Tensor:
    """The interpolation stage's objective (scalar tensor): the even frames are given (clean latent,
    RGB at latent size, mask), the odd frames are noised and only they are scored. `cond_dropout` zeroes
    the global conditioning (CLIP tokens, conditioning latent) only: the given frames always stay."""
    if model.config.stage != "interpolation":
        raise ValueError(
            f"interpolation_loss needs a model with stage='interpolation', got {model.config.stage!r}"
        )
    _check_batch(batch, ("latents", "cond_latent", "clip", "lowres"))
    latents, cond, clip, lowres = batch["latents"], batch["cond_latent"], batch["clip"], batch["lowres"]
    if latents.shape[2] < 2:
        raise ValueError(f"interpolation needs clips of at least 2 frames, got {latents.shape[2]}")
    known = keyframe_mask(latents.shape[2], latents.device)
    t, noise = _timesteps_and_noise(scheduler, latents, generator)
    noisy = torch.where(known[None, None, :, None, None], latents, add_noise(scheduler, latents, noise, t))
    cond, clip = _drop_conditions(cond, clip, cond_dropout, generator)
    pred = model(interpolation_inputs(noisy, lowres, known), t, cond, clip)
    target = training_target(scheduler, latents, noise, t, model.config.prediction_type)
    return F.mse_loss(pred[:, :, ~known].float(), target[:, :, ~known].float())
