"""Latent sampling loops: the joint keyframe sampler, the interpolation stage, and a per-frame sampler.

All three are one loop: start from noise, and after every scheduler step put the frames that are given
back in (frame 0 = the clean conditioning latent; for interpolation, every even frame). Optional
classifier-free guidance runs the conditional and unconditional (zeroed conditioning) passes as one
batch. Shapes: latents (B, 4, F, h, w), cond_latent (B, 4, h, w), clip_tokens (B, T, D).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from ffbench.models.fashionflow.losses import interpolation_inputs, keyframe_mask
from ffbench.models.fashionflow.model import FashionFlowModel

# Latents are scaled to about unit variance (the VAE's scaling factor), so a clean latent beyond +-4 is
# an estimation error. Near t = T the cosine schedule has almost no signal and x0 = (x_t - sqrt(1-ab) eps)
# / sqrt(ab) multiplies an imperfect model's epsilon error by up to ~1e3: measured on a CPU-trained model,
# sampled latents reached std 4.5 (DDIM-50) and 25 (DPM-Solver++-25) against 1.0 for real ones. Clipping
# the implied x0 (DDPM's clip_sample, but for every sampler) keeps them at 0.84 (DDIM-50).
X0_CLIP = 4.0


def clip_epsilon(eps: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, scheduler: SchedulerMixin,
                 limit: float = X0_CLIP) -> torch.Tensor:
    """Return the epsilon whose implied clean sample x0 is clamped to [-limit, limit]; unchanged where
    x0 already lies inside (so an exact denoiser of in-range data is untouched)."""
    ab = scheduler.alphas_cumprod.to(x_t.device, torch.float64)[t.long()]
    x0 = (x_t.double() - (1 - ab).sqrt() * eps.double()) / ab.sqrt()
    clipped = x0.clamp(-limit, limit)
    eps_clipped = (x_t.double() - ab.sqrt() * clipped) / (1 - ab).sqrt()
    return torch.where(x0.abs() <= limit, eps, eps_clipped.to(eps.dtype))


def _denoise(
    model: FashionFlowModel,
    scheduler: SchedulerMixin,
    shape: tuple[int, ...],
    cond: torch.Tensor,
    clip: torch.Tensor | None,
    steps: int,
    generator: torch.Generator | None,
    guidance_scale: float,
    known: torch.Tensor | None = None,
    known_latents: torch.Tensor | None = None,
    lowres: torch.Tensor | None = None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    if steps < 1:
        raise ValueError(f"num_inference_steps={steps}; give at least 1")
    device, dtype = cond.device, model.dtype
    scheduler.set_timesteps(steps, device=device)
    latents = (
        randn_tensor(shape, generator=generator, device=device, dtype=dtype) * scheduler.init_noise_sigma
    )
    where_known = None if known is None else known.to(device)[None, None, :, None, None]

    def pin(x: torch.Tensor) -> torch.Tensor:
        return x if where_known is None else torch.where(where_known, known_latents.to(x.dtype), x)

    guided = guidance_scale > 1.0
    if guided:
        cond_in = torch.cat([cond, torch.zeros_like(cond)])
        clip_in = None if clip is None else torch.cat([clip, torch.zeros_like(clip)])
    else:
        cond_in, clip_in = cond, clip
    latents = pin(latents)
    for t in scheduler.timesteps:
        x = scheduler.scale_model_input(latents, t)
        if lowres is not None:
            x = interpolation_inputs(x, lowres, known.to(device))
        if guided:
            eps_cond, eps_uncond = model(torch.cat([x, x]), t, cond_in, clip_in).chunk(2)
            eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
        else:
            eps = model(x, t, cond_in, clip_in)
        eps = clip_epsilon(eps, latents, t, scheduler)
        latents = pin(scheduler.step(eps, t, latents, generator=generator).prev_sample)
        if on_step is not None:
            on_step()
    return latents


@torch.no_grad()
def sample_keyframes(
    model: FashionFlowModel,
    scheduler: SchedulerMixin,
    cond_latent: torch.Tensor,
    clip_tokens: torch.Tensor | None,
    num_frames: int,
    num_inference_steps: int,
    generator: torch.Generator | None = None,
    guidance_scale: float = 1.0,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Sample a whole clip jointly (FashionFlow): -> latents (B, 4, num_frames, h, w).

    With local conditioning frame 0 of the result is exactly `cond_latent`.
    """
    if model.config.stage != "keyframes":
        raise ValueError("sample_keyframes needs a stage='keyframes' model; use sample_interpolation")
    if num_frames < 1:
        raise ValueError(f"num_frames={num_frames}; give at least 1")
    b, c, h, w = cond_latent.shape
    known = known_latents = None
    if model.replaces_first_frame:
        known = torch.zeros(num_frames, dtype=torch.bool)
        known[0] = True
        known_latents = cond_latent[:, :, None].expand(b, c, num_frames, h, w)
    return _denoise(
        model,
        scheduler,
        (b, c, num_frames, h, w),
        cond_latent,
        clip_tokens,
        num_inference_steps,
        generator,
        guidance_scale,
        known,
        known_latents,
        on_step=on_step,
    )


@torch.no_grad()
def sample_per_frame(
    model: FashionFlowModel,
    scheduler: SchedulerMixin,
    cond_latent: torch.Tensor,
    clip_tokens: torch.Tensor | None,
    num_frames: int,
    num_inference_steps: int,
    generator: torch.Generator | None = None,
    guidance_scale: float = 1.0,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Sample each frame on its own, as DreamPose does, with the same model: -> (B, 4, num_frames, h, w).

    Frame i > 0 comes from its own run over the 2-frame clip [conditioning latent, frame]; frame 0 is
    the conditioning latent. A model without local conditioning samples 1-frame clips. This costs
    (num_frames - 1) times the sampler's U-Net calls, each on a short clip: the speed reference.
    """
    b, c, h, w = cond_latent.shape
    frames = [cond_latent] if model.replaces_first_frame else []
    while len(frames) < num_frames:
        clip_len = 2 if model.replaces_first_frame else 1
        out = sample_keyframes(
            model,
            scheduler,
            cond_latent,
            clip_tokens,
            clip_len,
            num_inference_steps,
            generator,
            guidance_scale,
            on_step,
        )
        frames.append(out[:, :, -1])
    return torch.stack(frames, dim=2)


def interpolation_windows(length: int, window: int) -> list[tuple[int, int]]:
    """Split a clip of `length` frames (known at even indices, `length` odd) into [start, stop) windows of
    at most `window` frames that start and end on known frames, so each can be filled independently."""
    if length % 2 == 0 or length < 1:
        raise ValueError(f"an interpolated clip has an odd number of frames (2K - 1), got {length}")
    step = max(2, window - 1 - (window - 1) % 2)  # even, so every window starts on a known frame
    return [(s, min(s + step + 1, length)) for s in range(0, max(length - 1, 1), step)]


@torch.no_grad()
def sample_interpolation(
    model: FashionFlowModel,
    scheduler: SchedulerMixin,
    keyframes: torch.Tensor,
    keyframes_lowres: torch.Tensor,
    cond_latent: torch.Tensor,
    clip_tokens: torch.Tensor | None,
    num_inference_steps: int,
    generator: torch.Generator | None = None,
    guidance_scale: float = 1.0,
    window: int | None = None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Double the frame rate (paper section 3.3): keyframes (B, 4, K, h, w) with their RGB at latent size
    keyframes_lowres (B, 3, K, h, w) -> (B, 4, 2K - 1, h, w), keyframes at the even indices unchanged.

    The clip is filled in windows of at most `window` frames (default: the model's training clip length)
    that begin and end on keyframes, so the model always sees clips as long as those it learned on.
    """
    if model.config.stage != "interpolation":
        raise ValueError(
            f"sample_interpolation needs a stage='interpolation' model, got {model.config.stage!r}"
        )
    b, c, k, h, w = keyframes.shape
    if keyframes_lowres.shape != (b, 3, k, h, w):
        raise ValueError(
            f"keyframes_lowres has shape {tuple(keyframes_lowres.shape)}; expected {(b, 3, k, h, w)}"
        )
    length = 2 * k - 1
    known = keyframe_mask(length)
    full = keyframes.new_zeros(b, c, length, h, w)
    full[:, :, known] = keyframes
    lowres = keyframes.new_zeros(b, 3, length, h, w)
    lowres[:, :, known] = keyframes_lowres.to(keyframes.dtype)
    for start, stop in interpolation_windows(length, window or model.config.num_frames):
        if stop - start == 1:
            continue
        part = _denoise(
            model,
            scheduler,
            (b, c, stop - start, h, w),
            cond_latent,
            clip_tokens,
            num_inference_steps,
            generator,
            guidance_scale,
            known[start:stop],
            full[:, :, start:stop],
            lowres[:, :, start:stop],
            on_step,
        )
        full[:, :, start:stop] = part
    return full
