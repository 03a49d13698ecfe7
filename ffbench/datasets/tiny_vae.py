"""The offline stand-in VAE: a small diffusers `AutoencoderKL` trained on the prepared training frames.

Without Stable Diffusion's weights the latent pipeline still needs a decoder that turns latents back
into images; a random one turns every generated latent into noise. So `ffbench prepare --vae tiny`
(or `ffbench train vae`) trains this one on frames of the training videos and measures its PSNR on
frames of other, held-out videos. Downsample 4 (three encoder stages), 4 latent channels, no
attention: at the cpu preset (128x96) the latents are 4x32x24.

Training: Adam with a one-cycle schedule; most steps on frames downsampled 2x, the last ones on whole
frames; MSE reconstruction plus extra weight on the figure's pixels (an L1 term and random crops are
options), decoded from the posterior mean (the latents `vae_encode` caches are
means too) plus a small KL term that keeps the latents bounded. MSE alone is what held-out PSNR
measures: adding L1 (whose gradient dominates once errors are small) cost 0.65 dB.
The config's scaling factor is then set to 1/std of the training latents, so cached latents are
about unit variance, as diffusion expects.

Deterministic: the same frames, settings and seed give the same weights on the same machine and
thread count (initialisation and batch sampling both come from `seed`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from ffbench import fileio
from ffbench.encoders import frames_to_tensor, state_dict_sha256, vae_decode, vae_encode
from ffbench.progress import progress_bar

# Architecture of the stand-in (diffusers AutoencoderKL keyword arguments).
TINY_VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 3,
    up_block_types=("UpDecoderBlock2D",) * 3,
    # 32, not 64, channels at the latent resolution: the 64-wide mid blocks and first decoder
    # upsampling conv were a third of the step time; the saved time buys more steps (+1.1 dB).
    block_out_channels=(16, 32, 32),
    layers_per_block=1,
    latent_channels=4,
    # One group: GroupNorm over all channels keeps each pixel's colour relative to the others'. With 16
    # groups (one channel each at width 16) every norm removed a channel's mean over the frame, so a flat
    # background's colour could not pass through and the VAE recalled the colours it was trained on.
    # Test split (8 frames of each of the 16 cpu-preset test videos, never trained on), 800 steps:
    # 16 groups 25.01 dB, mean-colour error 6.9/4.6/6.5 grey levels (R/G/B); 1 group 25.37 dB, 5.3/4.3/4.6;
    # 1 group + colour_augment 0.5 (the default) 25.19 dB, 4.9/4.5/3.5. Issue 14 asks for >= 30 dB and
    # <= 3 levels: not reached at this budget.
    norm_num_groups=1,
    sample_size=128,
    mid_block_add_attention=False,  # attention costs more than it gives at this size
)
DOWNSAMPLE = 4
# The recipe (issue 14), measured on the cpu-preset synthetic test split (8 frames of each of 16 test
# videos, never trained on; `colour` is the worst channel's mean-colour error in grey levels; CPU seconds on
# one thread of a core shared with one other job):
#   800 whole-frame steps (the old default)                           25.19 dB  colour 4.9   ~250 s
#   + foreground-weighted MSE (FOREGROUND_WEIGHT)                      26.00 dB  colour 4.8   ~250 s
#   2400 half-resolution steps, then 200 whole-frame ones              28.02 dB  colour 3.5   ~310 s
#   + frames of 400 extra synthetic looks (SYNTHETIC_LOOKS)            28.29 dB  colour 2.9   ~370 s
#   4000 half-resolution + 400 whole-frame steps (no extra looks)      29.14 dB  colour 3.1   ~590 s
#   3200 half-resolution + 400 whole-frame steps, extra looks          29.01 dB  colour 2.9   ~530 s
#   6400 half-resolution + 800 whole-frame steps, extra looks          31.66 dB  colour 0.8   (prepare: 639 s)
# A half-resolution step (frames area-downsampled 2x) costs a third of a whole-frame one (0.083 s vs
# 0.26 s for 4 frames on an idle core) and teaches the same colours; the last whole-frame steps adapt
# it to full-size detail. The garment's colour (not the background's) is what converges slowest: the
# foreground weight spends the loss where the person is. On an otherwise idle machine two torch threads
# are 1.6x faster than one (`prepare --threads 2`, as the demo runs it).
DEFAULT_STEPS = 7200
HALF_RES_FRACTION = 8 / 9  # of the steps, first, on 2x-downsampled frames (6400 of 7200)
FOREGROUND_WEIGHT = 4.0  # extra MSE weight on pixels that differ from the frame's border colour
SYNTHETIC_LOOKS = 400  # extra generator looks (3 frames each) a synthetic set's tiny VAE trains on
# Fraction of training frames recoloured by `colour_augment` (the synthetic set has few distinct colours).
COLOUR_AUGMENT = 0.5
TARGET_PSNR = 24.0  # dB on held-out frames at the cpu preset


def recipe() -> dict:
    """What a trained stand-in depends on besides its data and seed (prepare retrains when it changes)."""
    return {"config": json.loads(json.dumps(TINY_VAE_CONFIG)), "default_steps": DEFAULT_STEPS,
            "colour_augment": COLOUR_AUGMENT, "half_res_fraction": HALF_RES_FRACTION,
            "foreground_weight": FOREGROUND_WEIGHT, "synthetic_looks": SYNTHETIC_LOOKS}


def build_tiny_vae(seed: int = 0, scaling_factor: float = 1.0):
    """A randomly initialised stand-in AutoencoderKL from `seed` (the caller's RNG is left untouched)."""
    from diffusers import AutoencoderKL

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoencoderKL(**TINY_VAE_CONFIG, scaling_factor=scaling_factor)


def _as_frames(frames: np.ndarray | Iterable[np.ndarray], name: str) -> np.ndarray:
    arr = frames if isinstance(frames, np.ndarray) else np.stack(list(frames))
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3 or len(arr) == 0:
        raise ValueError(
            f"{name} must be a non-empty uint8 array (N, H, W, 3) or iterable of (H, W, 3) frames, "
            f"got dtype {arr.dtype} shape {arr.shape}"
        )
    h, w = arr.shape[1:3]
    if h % DOWNSAMPLE or w % DOWNSAMPLE:
        raise ValueError(f"{name}: frame size {h}x{w} must be a multiple of {DOWNSAMPLE} in both axes")
    return arr


@torch.no_grad()
def heldout_psnr(vae, frames: np.ndarray, batch_size: int = 16) -> float:
    """Mean per-frame PSNR (dB, peak 255) of uint8 frames (N, H, W, 3) after encode -> decode -> uint8."""
    video = frames_to_tensor(frames)[None]  # (1, 3, N, H, W)
    rec = vae_decode(vae, vae_encode(vae, video, chunk_size=batch_size), chunk_size=batch_size)
    rec8 = rec.add(1).mul(127.5).round().clamp(0, 255)
    ref8 = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].double()  # (1, 3, N, H, W)
    mse = (rec8.double() - ref8).pow(2).mean(dim=(0, 1, 3, 4)).clamp_min(1e-10)
    return float((10 * torch.log10(255.0**2 / mse)).mean())


@torch.no_grad()
def reconstruction_scores(vae, frames: np.ndarray, batch_size: int = 16) -> dict:
    """How faithfully `vae` reproduces uint8 frames (N, H, W, 3) after encode -> decode -> uint8:
    psnr (dB, peak 255, mean over frames) and psnr_min; colour_error, per RGB channel, the mean over
    frames of |mean value of the reconstruction - mean value of the frame| in grey levels (a colour
    shift that PSNR spreads thinly over the whole frame shows here); colour_error_max, its worst channel."""
    frames = _as_frames(frames, "frames")
    video = frames_to_tensor(frames)[None]  # (1, 3, N, H, W)
    rec = vae_decode(vae, vae_encode(vae, video, chunk_size=batch_size), chunk_size=batch_size)
    rec8 = rec.add(1).mul(127.5).round().clamp(0, 255)[0].double()  # (3, N, H, W)
    ref = torch.from_numpy(frames).permute(3, 0, 1, 2).double()
    mse = (rec8 - ref).pow(2).mean(dim=(0, 2, 3)).clamp_min(1e-10)  # (N,)
    psnr = 10 * torch.log10(255.0**2 / mse)
    colour = (rec8.mean(dim=(2, 3)) - ref.mean(dim=(2, 3))).abs().mean(dim=1)  # (3,)
    return {"psnr": round(float(psnr.mean()), 3), "psnr_min": round(float(psnr.min()), 3),
            "colour_error": [round(float(c), 3) for c in colour],
            "colour_error_max": round(float(colour.max()), 3), "frames": int(len(frames))}


@torch.no_grad()
def _latent_std(vae, frames: np.ndarray, batch_size: int = 16) -> float:
    vae.register_to_config(scaling_factor=1.0)
    lat = vae_encode(vae, frames_to_tensor(frames)[None], chunk_size=batch_size)
    return float(lat.std())


def _batch(frames: np.ndarray, batch_size: int, crop: int | None, gen: torch.Generator) -> torch.Tensor:
    """Random frames, one random crop (aligned to the downsample grid) and a random horizontal flip."""
    n, h, w = frames.shape[:3]
    idx = torch.randint(0, n, (batch_size,), generator=gen).numpy()
    crop_h, crop_w = (h, w) if crop is None else (crop, crop)
    y = int(torch.randint(0, (h - crop_h) // DOWNSAMPLE + 1, (1,), generator=gen)) * DOWNSAMPLE
    x = int(torch.randint(0, (w - crop_w) // DOWNSAMPLE + 1, (1,), generator=gen)) * DOWNSAMPLE
    px = frames_to_tensor(frames[idx, y : y + crop_h, x : x + crop_w])  # (3, B, crop_h, crop_w)
    px = px.movedim(1, 0)  # (B, 3, crop_h, crop_w)
    if bool(torch.rand(1, generator=gen) < 0.5):
        px = px.flip(-1)
    return px.contiguous()


def foreground_mask(px: torch.Tensor, border: int = 4, threshold: float = 0.2) -> torch.Tensor:
    """(B, 1, H, W) float 0/1: pixels of px (B, 3, H, W) in [-1, 1] whose colour differs by more than
    `threshold` (25 grey levels) in some channel from the median colour of the frame's top and bottom
    `border` rows (the studio background)."""
    rows = torch.cat([px[..., :border, :], px[..., -border:, :]], dim=-2).flatten(2)  # (B, 3, n)
    background = rows.median(dim=2).values[..., None, None]
    return ((px - background).abs().amax(dim=1, keepdim=True) > threshold).to(px.dtype)


def colour_augment(px: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    """Recolour each frame of px (B, 3, H, W) in [-1, 1] with probability `prob`: a random permutation of
    its RGB channels, then per channel a random contrast a in [0.6, 1] and offset in [-(1 - a), 1 - a], so
    values stay in [-1, 1]. The synthetic videos have a few dozen backgrounds and garments; recoloured,
    every batch shows the VAE colours it has not seen, and it must carry colour rather than recall it."""
    if prob <= 0:
        return px
    out = px.clone()
    for i in range(len(px)):
        if float(torch.rand(1, generator=gen)) >= prob:
            continue
        perm = torch.randperm(3, generator=gen)
        a = 0.6 + 0.4 * torch.rand(3, generator=gen)
        b = (2 * torch.rand(3, generator=gen) - 1) * (1 - a)
        out[i] = px[i, perm] * a[:, None, None] + b[:, None, None]
    return out


def train_tiny_vae(
    frames_train: np.ndarray | Iterable[np.ndarray],
    frames_heldout: np.ndarray | Iterable[np.ndarray],
    out_dir: str | Path,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    progress: bool = True,
    *,
    batch_size: int = 4,
    crop: int | None = None,
    lr: float = 2e-3,
    l1_weight: float = 0.0,
    kl_weight: float = 1e-6,
    max_heldout: int = 256,
    colour_augment_prob: float = COLOUR_AUGMENT,
    frames_test: np.ndarray | Iterable[np.ndarray] | None = None,
    half_res_fraction: float = HALF_RES_FRACTION,
    foreground_weight: float = FOREGROUND_WEIGHT,
) -> dict:
    """Train the stand-in VAE, save it to `out_dir` (save_pretrained + identity.json), return the identity.

    Args:
        frames_train: uint8 (N, H, W, 3) frames of the training videos at the preset size.
        frames_heldout: uint8 (M, H, W, 3) frames of *other* videos, for the held-out PSNR only
            (at most `max_heldout` of them, evenly spaced, are scored).
        out_dir: written atomically: a temporary sibling directory renamed into place.
        steps, batch_size, crop, lr, l1_weight, kl_weight: optimisation settings; the loss is
            MSE + foreground_weight * MSE over `foreground_mask` + l1_weight * L1 + kl_weight * KL (all
            per pixel). crop None trains on whole
            frames (measured better than 64x64 or 32x32 crops: GroupNorm statistics of a crop differ
            from a whole frame's); an int trains on square patches of that side.
        seed: initialisation and batch sampling.
        colour_augment_prob: fraction of training frames recoloured (`colour_augment`).
        half_res_fraction: the first round(steps * fraction) steps see frames area-downsampled 2x
            (when their size allows: a multiple of 2 * DOWNSAMPLE).
        frames_test: uint8 frames of the test split (never trained on): scored by
            `reconstruction_scores` into the identity's "test" entry.

    Returns:
        The identity written to `identity.json`: heldout_psnr (dB), steps, seconds, seed, the
        measured latent std and scaling factor, the settings and the weights' sha256.
    """
    train = _as_frames(frames_train, "frames_train")
    held = _as_frames(frames_heldout, "frames_heldout")
    if held.shape[1:] != train.shape[1:]:
        raise ValueError(
            f"frames_heldout size {held.shape[1:3]} differs from frames_train {train.shape[1:3]}"
        )
    if l1_weight < 0 or kl_weight < 0 or foreground_weight < 0:
        raise ValueError(f"l1_weight, kl_weight and foreground_weight must be >= 0, got {l1_weight}, "
                         f"{kl_weight} and {foreground_weight}")
    if not 0 <= half_res_fraction <= 1:
        raise ValueError(f"half_res_fraction must be in [0, 1], got {half_res_fraction}")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got steps={steps} batch_size={batch_size}")
    if crop is not None:
        crop = max(DOWNSAMPLE, min(crop, *train.shape[1:3]) // DOWNSAMPLE * DOWNSAMPLE)
    if len(held) > max_heldout:
        held = held[np.linspace(0, len(held) - 1, max_heldout).round().astype(int)]

    start = time.perf_counter()
    vae = build_tiny_vae(seed).train()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    # OneCycleLR divides by its warm-up length pct_start * steps - 1, which 5% makes zero at exactly 20
    # steps (ZeroDivisionError): warm up for 1.5 steps there instead; every other count keeps 5%.
    warmup = 0.05 if abs(0.05 * steps - 1) > 1e-9 else 1.5 / steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=warmup)
    losses = []
    size = (crop, crop) if crop is not None else train.shape[1:3]
    half_steps = round(steps * half_res_fraction) if all(v % (2 * DOWNSAMPLE) == 0 for v in size) else 0
    bar = progress_bar(range(steps), desc="tiny VAE", unit="step", disable=not progress)
    for step in bar:
        x = colour_augment(_batch(train, batch_size, crop, gen), colour_augment_prob, gen)
        if step < half_steps:
            x = torch.nn.functional.avg_pool2d(x, 2)
        post = vae.encode(x).latent_dist
        rec = vae.decode(post.mean).sample
        err = rec - x
        kl = post.kl().mean() / (x.shape[-2] * x.shape[-1])  # per pixel, like the reconstruction terms
        loss = err.pow(2).mean() + kl_weight * kl
        if foreground_weight:
            loss = loss + foreground_weight * (err.pow(2) * foreground_mask(x)).mean()
        if l1_weight:
            loss = loss + l1_weight * err.abs().mean()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"tiny VAE loss became {loss.item()}; lower lr (now {lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    vae.eval()

    # Unit-variance latents: measure on (up to 256) training frames, store 1/std as the scaling factor.
    sample = train[np.linspace(0, len(train) - 1, min(len(train), 256)).round().astype(int)]
    std = _latent_std(vae, sample)
    vae.register_to_config(scaling_factor=1.0 / std)
    psnr = heldout_psnr(vae, held)
    test = None if frames_test is None else reconstruction_scores(vae, _as_frames(frames_test, "frames_test"))
    seconds = time.perf_counter() - start
    window = max(1, steps // 10)
    identity = {
        "kind": "tiny",
        "offline_stand_in": True,
        "heldout_psnr": round(psnr, 3),
        "heldout_frames": int(len(held)),
        "target_psnr": TARGET_PSNR,
        "test": test,
        "train_frames": int(len(train)),
        "frame_size": [int(train.shape[1]), int(train.shape[2])],
        "steps": steps,
        "seconds": round(seconds, 1),
        "seed": seed,
        "settings": {"batch_size": batch_size, "crop": crop, "lr": lr, "l1_weight": l1_weight,
                     "kl_weight": kl_weight, "colour_augment_prob": colour_augment_prob,
                     "half_res_steps": half_steps, "foreground_weight": foreground_weight},
        "latent_std": std,
        "scaling_factor": 1.0 / std,
        "loss_first": float(np.mean(losses[:window])),
        "loss_last": float(np.mean(losses[-window:])),
        "torch_threads": torch.get_num_threads(),
        "sha256": state_dict_sha256(vae),
    }
    _save(vae, identity, Path(out_dir))
    return identity


def _save(vae, identity: dict, out_dir: Path) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = fileio.mkdtemp(out_dir.parent, prefix=f".{out_dir.name}-")
    try:
        vae.save_pretrained(tmp)
        (tmp / "identity.json").write_text(json.dumps(identity, indent=2))
        fileio.apply_umask(tmp)  # safetensors writes 0600 files
        if out_dir.exists():  # a directory cannot be os.replace'd onto a non-empty one: move it aside first
            old = out_dir.with_name(f".{out_dir.name}-old-{os.getpid()}")
            os.replace(out_dir, old)
            shutil.rmtree(old)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
