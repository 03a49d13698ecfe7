"""Latent sampling loops: the joint keyframe sampler, the interpolation stage, and a per-frame sampler.

All three are one loop: start from noise, and after every scheduler step put the frames that are given
back in (frame 0 = the clean conditioning latent; for interpolation, every even frame). Optional
classifier-free guidance runs the conditional and unconditional (zeroed conditioning) passes as one
batch. Shapes: latents (B, 4, F, h, w), cond_latent (B, 4, h, w), clip_tokens (B, T, D).

`sample_keyframes_official` is the public FashionFlow inference's loop instead (`inference="official"`):
DDPM over every training step, no x0 clip, frame 0 and the adapter fed two different posterior draws.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from ffbench.models.fashionflow.losses import interpolation_inputs, keyframe_mask
from ffbench.models.fashionflow.model import FashionFlowModel
from ffbench.models.fashionflow.schedule import (
    official_ddpm_step,
    official_ddpm_tables,
    output_from_x0,
    predicted_x0,
)

# Latents are scaled to about unit variance (the VAE's scaling factor), so a clean latent beyond +-4 is
# an estimation error. Near t = T the cosine schedule has almost no signal and an epsilon model's implied
# x0 = (x_t - sqrt(1-ab) eps) / sqrt(ab) multiplies its error by up to ~1e3: measured on a CPU-trained
# epsilon model, sampled latents reached std 4.5 (DDIM-50) and 25 (DPM-Solver++-25) against 1.0 for real
# ones. Clipping the implied x0 (DDPM's clip_sample, but for every sampler) keeps them at 0.84 (DDIM-50).
# A v-prediction model's x0 never amplifies its error, so there the clip rarely acts.
X0_CLIP = 4.0


def clip_model_output(output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, scheduler: SchedulerMixin,
                      prediction_type: str = "epsilon", limit: float = X0_CLIP) -> torch.Tensor:
    """Return the model output (of `prediction_type`) whose implied clean sample x0 is clamped to
    [-limit, limit]; unchanged where x0 already lies inside (an exact denoiser of in-range data is
    untouched)."""
    x0 = predicted_x0(output, x_t, t, scheduler, prediction_type)
    clipped = output_from_x0(x0.clamp(-limit, limit), x_t, t, scheduler, prediction_type)
    return torch.where(x0.abs() <= limit, output, clipped.to(output.dtype))


def clip_epsilon(eps: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, scheduler: SchedulerMixin,
                 limit: float = X0_CLIP) -> torch.Tensor:
    """`clip_model_output` for an epsilon output."""
    return clip_model_output(eps, x_t, t, scheduler, "epsilon", limit)


def as_scheduler_output(output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, scheduler: SchedulerMixin,
                        prediction_type: str) -> torch.Tensor:
    """Convert a model output of `prediction_type` into the prediction type `scheduler` steps with."""
    want = scheduler.config.prediction_type
    if want == prediction_type:
        return output
    x0 = predicted_x0(output, x_t, t, scheduler, prediction_type)
    return output_from_x0(x0, x_t, t, scheduler, want).to(output.dtype)


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

    kind = model.config.prediction_type
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
            pred_cond, pred_uncond = model(torch.cat([x, x]), t, cond_in, clip_in).chunk(2)
            pred = pred_uncond + guidance_scale * (pred_cond - pred_uncond)  # linear: any prediction type
        else:
            pred = model(x, t, cond_in, clip_in)
        # the model's output (epsilon or v, its config says which), x0-clipped, in the scheduler's terms
        out = clip_model_output(pred, latents, t, scheduler, kind)
        out = as_scheduler_output(out, latents, t, scheduler, kind)
        latents = pin(scheduler.step(out, t, latents, generator=generator).prev_sample)
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
    # a cond_residual model denoises differences from the conditioning latent (frame 0's is zero)
    offset = cond_latent[:, :, None] if getattr(model.config, "cond_residual", False) else None
    known = known_latents = None
    if model.replaces_first_frame:
        known = torch.zeros(num_frames, dtype=torch.bool)
        known[0] = True
        first = cond_latent if offset is None else torch.zeros_like(cond_latent)
        known_latents = first[:, :, None].expand(b, c, num_frames, h, w)
    sample = _denoise(
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
    return sample if offset is None else sample + offset.to(sample.dtype)


def _official_noise(shape: tuple[int, ...], generator: torch.Generator | None,
                    device: torch.device) -> torch.Tensor:
    """Standard normal (B, C, F, h, w) drawn in the public code's (B, F, C, h, w) layout, float32."""
    b, c, f, h, w = shape
    noise = randn_tensor((b, f, c, h, w), generator=generator, device=device, dtype=torch.float32)
    return noise.permute(0, 2, 1, 3, 4).contiguous()


def check_official_model(model: FashionFlowModel) -> None:
    """Raise ValueError when `model` has parts the public network has not (the official loop cannot feed
    them): cond_residual, concat_cond_latent, the interpolation stage."""
    cfg = model.config
    if cfg.stage != "keyframes":
        raise ValueError(f"inference='official' samples keyframes; this model has stage={cfg.stage!r}")
    for option in ("cond_residual", "concat_cond_latent"):
        if getattr(cfg, option, False):
            raise ValueError(
                f"inference='official': this model has {option}=True, which the public FashionFlow network "
                "has not, so its inference cannot drive it; sample it with inference='ffbench'"
            )


@torch.no_grad()
def sample_keyframes_official(
    model: FashionFlowModel,
    scheduler: SchedulerMixin,
    first_latent: torch.Tensor,
    adapter_latent: torch.Tensor,
    clip_tokens: torch.Tensor | None,
    num_frames: int,
    generator: torch.Generator | None = None,
    autocast: bool | None = None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """The public FashionFlow inference loop: -> latents (B, 4, num_frames, h, w), float32.

    first_latent (B, 4, h, w) is written into frame 0 before the loop and after every step (with local
    conditioning); adapter_latent (B, 4, h, w), a second posterior draw in the public code, and clip_tokens
    (B, T, D) make the cross-attention tokens once, in float32, outside autocast (as `get_image_embedding`
    does). Then ancestral DDPM over all T steps of `scheduler`'s betas (`official_ddpm_step`: epsilon, no
    x0 clip, posterior variance, no noise at t = 0). The network runs under fp16 autocast where `autocast`
    (default: when the latents are on CUDA, as `torch.cuda.amp.autocast()` there); on CPU in float32.
    Noise: the initial clip, then one draw per step t = T-1 .. 1, each in the public (B, F, C, h, w)
    layout, all from `generator` (the public code uses torch's global CPU and CUDA generators unseeded).
    A v-prediction model's output is converted to epsilon exactly (the public network predicts epsilon).
    """
    check_official_model(model)
    if num_frames < 1:
        raise ValueError(f"num_frames={num_frames}; give at least 1")
    device = first_latent.device
    b, c, h, w = first_latent.shape
    autocast = device.type == "cuda" if autocast is None else autocast
    tables = official_ddpm_tables(scheduler)
    kind = model.config.prediction_type
    first = first_latent.float()[:, :, None]

    def pin(x: torch.Tensor) -> torch.Tensor:
        if model.replaces_first_frame:
            x[:, :, 0:1] = first
        return x

    context = None
    if model.adapter is not None:
        # FashionFlowModel.forward feeds the adapter and frame 0 one latent; the public code feeds two
        # draws, so the adapter and the U-Net are called here on their own (the adapter in float32).
        context = model.adapter(clip_tokens.to(device, model.dtype), adapter_latent.to(device, model.dtype))
    latents = pin(_official_noise((b, c, num_frames, h, w), generator, device))
    for i in reversed(range(len(tables["betas"]))):
        t = torch.full((b,), i, device=device, dtype=torch.long)
        with torch.autocast(device.type, dtype=torch.float16, enabled=autocast):
            out = model.unet(latents.to(model.dtype), t, context)
        out = out.float()
        if kind != "epsilon":  # exact, float64, no clip
            x0 = predicted_x0(out, latents, t, scheduler, kind)
            out = output_from_x0(x0, latents, t, scheduler, "epsilon").float()
        noise = _official_noise(latents.shape, generator, device) if i > 0 else None
        latents = pin(official_ddpm_step(tables, out, i, latents, noise))
        if on_step is not None:
            on_step()
    return latents


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
