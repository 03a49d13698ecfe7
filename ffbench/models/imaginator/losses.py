"""ImaGINator's objectives, as phase losses of the training loop (`ffbench.training.loop`).

Official recipe: the condition image is frame 0 of the real clip; the generator minimises
`l1_weight * |G(x0, z) - clip|_1 + BCE(D_v(fake), 1) + BCE(D_i(fake frame t), 1)` with one random frame
index t for the batch; each discriminator minimises `BCE(D(real), 1) + BCE(D(fake), 0)` on the fakes of
the generator step (detached), the image discriminator on another random real frame. The generator
step runs first, then the two discriminator steps, every step.

Batches hold `video` (B, 3, F, H, W) in [-1, 1] (`ffbench.datasets.loader.pixel_clip_loader`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ffbench.training.loop import StepContext

MODULES = ("generator", "video_disc", "image_disc")


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def _frame_index(ctx: StepContext, frames: int) -> int:
    return int(torch.randint(frames, (1,), generator=ctx.generator, device=ctx.generator.device))


def generator_loss(ctx: StepContext, l1_weight: float = 100.0) -> tuple[torch.Tensor, dict]:
    """Phase "G": reconstruction L1 plus the two adversarial terms; leaves the fakes in `ctx.shared`."""
    gen = ctx.modules["generator"]
    real = ctx.batch["video"]  # (B, 3, F, H, W)
    noise = torch.randn((real.shape[0], gen.config.noise_dim), generator=ctx.generator,
                        device=real.device, dtype=real.dtype)
    fake = gen(real[:, :, 0], noise)
    t = _frame_index(ctx, real.shape[2])
    l1 = (fake - real).abs().mean()
    adv_video = _bce(ctx.modules["video_disc"](fake), True)
    adv_image = _bce(ctx.modules["image_disc"](fake[:, :, t]), True)
    ctx.shared["fake"], ctx.shared["fake_frame"] = fake.detach(), fake[:, :, t].detach()
    return l1_weight * l1 + adv_video + adv_image, {"l1": l1, "adv_video": adv_video, "adv_image": adv_image}


def video_disc_loss(ctx: StepContext) -> tuple[torch.Tensor, dict]:
    """Phase "D_video": real clips against the generator step's fakes."""
    disc = ctx.modules["video_disc"]
    real, fake = _bce(disc(ctx.batch["video"]), True), _bce(disc(ctx.shared["fake"]), False)
    return real + fake, {"real": real, "fake": fake}


def image_disc_loss(ctx: StepContext) -> tuple[torch.Tensor, dict]:
    """Phase "D_image": a random real frame against the generator step's fake frame."""
    disc, video = ctx.modules["image_disc"], ctx.batch["video"]
    frame = video[:, :, _frame_index(ctx, video.shape[2])]
    real, fake = _bce(disc(frame), True), _bce(disc(ctx.shared["fake_frame"]), False)
    return real + fake, {"real": real, "fake": fake}
