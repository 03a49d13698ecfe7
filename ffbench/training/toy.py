"""Toy tasks for smoke-testing the trainer without data or the real models.

Batches are deterministic functions of their index (a moving Gaussian blob in a 4-channel clip).
The denoiser task: a small pseudo-3D conv net with dropout (so the global RNG matters) and an
epsilon-prediction MSE with noise, timesteps and condition dropout drawn from the loop's generator.
The GAN task (`toy_gan_setup`): a generator with BatchNorm (buffers that must resume and stay in sync
over ranks) and a spectral-norm critic, trained by three phases: G (L1 + non-saturating GAN), D (BCE on
the G phase's fakes, passed through `ctx.shared`) and D_reg every second step (a logit penalty).
`python -m ffbench.training.toy --out DIR [--gan]` runs either, also under torchrun:

    torchrun --nproc_per_node=2 --standalone -m ffbench.training.toy --out /tmp/toy --steps 4
"""

from __future__ import annotations

import argparse
import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ffbench.training.config import TrainConfig
from ffbench.training.distributed import cleanup_distributed, init_distributed
from ffbench.training.loop import (
    Phase,
    StepContext,
    TrainingSetup,
    adamw,
    seed_everything,
    train,
    train_phases,
)


class ToyDenoiser(nn.Module):
    """eps = net(x_t (B, C, F, h, w), t (B,), cond_latent (B, C, h, w))."""

    def __init__(self, channels: int = 4, width: int = 16, dropout: float = 0.1) -> None:
        super().__init__()
        self.inp = nn.Conv3d(2 * channels, width, kernel_size=3, padding=1)
        self.time = nn.Linear(1, width)
        self.mid = nn.Conv3d(width, width, kernel_size=(3, 3, 3), padding=1)
        self.out = nn.Conv3d(width, channels, kernel_size=1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        cond = cond[:, :, None].expand_as(x)
        h = self.inp(torch.cat([x, cond], dim=1)) + self.time(t[:, None].float())[:, :, None, None, None]
        h = self.drop(F.silu(h))
        return self.out(F.silu(self.mid(h)) + h)


def toy_batch(index: int, batch_size: int = 2, frames: int = 4, size: int = 8, seed: int = 0,
              rank: int = 0) -> dict[str, torch.Tensor]:
    """Batch number `index` of the stream: `latents` (B, 4, F, size, size) with a blob moving over time,
    `cond_latent` (B, 4, size, size) = frame 0. A pure function of its arguments."""
    g = torch.Generator().manual_seed(((seed * 1_000_003 + rank) * 1_000_033 + index) % 2**63)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    clips = []
    for _ in range(batch_size):
        y0, x0 = torch.rand(2, generator=g) * (size - 1)
        vy, vx = (torch.rand(2, generator=g) - 0.5) * 2
        colour = torch.randn(4, generator=g)
        frames_ = []
        for f in range(frames):
            d2 = (yy - y0 - vy * f) ** 2 + (xx - x0 - vx * f) ** 2
            frames_.append(colour[:, None, None] * torch.exp(-d2 / 4.0))
        clips.append(torch.stack(frames_, dim=1))
    latents = torch.stack(clips)
    return {"latents": latents, "cond_latent": latents[:, :, 0].clone()}


def toy_batches(start_batch: int, **kwargs) -> Iterator[dict[str, torch.Tensor]]:
    """The endless deterministic stream, starting at batch `start_batch`."""
    index = start_batch
    while True:
        yield toy_batch(index, **kwargs)
        index += 1


def toy_loss(model: nn.Module, batch: dict[str, torch.Tensor], generator: torch.Generator,
             cond_dropout: float = 0.0) -> torch.Tensor:
    """Epsilon-prediction MSE on a cosine noise level t ~ U(0, 1)."""
    x0 = batch["latents"]
    b = x0.shape[0]
    t = torch.rand(b, generator=generator, device=x0.device)
    noise = torch.randn(x0.shape, generator=generator, device=x0.device)
    alpha = torch.cos(t * math.pi / 2)[:, None, None, None, None]
    sigma = torch.sin(t * math.pi / 2)[:, None, None, None, None]
    keep = (torch.rand(b, generator=generator, device=x0.device) >= cond_dropout).float()
    cond = batch["cond_latent"] * keep[:, None, None, None]
    return F.mse_loss(model(alpha * x0 + sigma * noise, t, cond), noise)


class ToyGenerator(nn.Module):
    """clip (B, C, F, h, w) = net(cond (B, C, h, w) tiled over F frames, noise (B, 1, F, h, w))."""

    def __init__(self, channels: int = 4, width: int = 8, frames: int = 4) -> None:
        super().__init__()
        self.frames = frames
        self.inp = nn.Conv3d(channels + 1, width, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(width)
        self.out = nn.Conv3d(width, channels, kernel_size=3, padding=1)

    def forward(self, cond: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, c, h, w = cond.shape
        noise = torch.randn((b, 1, self.frames, h, w), generator=generator, device=cond.device)
        x = torch.cat([cond[:, :, None].expand(b, c, self.frames, h, w), noise], dim=1)
        return cond[:, :, None] + self.out(F.leaky_relu(self.norm(self.inp(x)), 0.2))


class ToyCritic(nn.Module):
    """logit (B,) of a clip (B, C, F, h, w) being real; spectral-norm convs (their power-iteration
    vectors are buffers that change in every forward pass)."""

    def __init__(self, channels: int = 4, width: int = 8) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        self.conv = sn(nn.Conv3d(channels, width, kernel_size=3, stride=2, padding=1))
        self.head = sn(nn.Linear(width, 1))

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.head(F.leaky_relu(self.conv(clip), 0.2).mean(dim=(2, 3, 4)))[:, 0]


def toy_gan_setup(config: TrainConfig, l1_weight: float = 10.0) -> TrainingSetup:
    """The toy GAN as the loop takes it: modules generator/critic, optimizers g_opt/d_opt, phases
    G, D and D_reg (every 2 steps), EMA of the generator. Build after `seed_everything`."""
    gen, critic = ToyGenerator(), ToyCritic()

    def g_loss(ctx: StepContext):
        real = ctx.batch["latents"]
        fake = ctx.modules["generator"](ctx.batch["cond_latent"], ctx.generator)
        ctx.shared["fake"] = fake.detach()
        l1 = (fake - real).abs().mean()
        adv = F.softplus(-ctx.modules["critic"](fake)).mean()
        return l1_weight * l1 + adv, {"l1": l1, "adv": adv}

    def d_loss(ctx: StepContext):
        critic = ctx.modules["critic"]
        real = F.softplus(-critic(ctx.batch["latents"])).mean()
        fake = F.softplus(critic(ctx.shared["fake"])).mean()
        return real + fake, {"real": real, "fake": fake}

    def d_reg(ctx: StepContext):
        return 0.1 * ctx.modules["critic"](ctx.batch["latents"]).square().mean()

    return TrainingSetup(
        modules={"generator": gen, "critic": critic},
        optimizers={"g_opt": adamw(gen.parameters(), config), "d_opt": adamw(critic.parameters(), config)},
        phases=[Phase("G", ("generator",), "g_opt", g_loss), Phase("D", ("critic",), "d_opt", d_loss),
                Phase("D_reg", ("critic",), "d_opt", d_reg, interval=2)],
        ema=("generator",),
    )


def weights_digest(model: nn.Module) -> str:
    """sha256 over the bytes of every tensor of the state dict, in name order."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="run directory")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--ema-decay", type=float, default=0.0, help="0 = no EMA (skips importing diffusers)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--gan", action="store_true", help="the three-phase toy GAN instead of the denoiser")
    args = parser.parse_args(argv)
    info = init_distributed()
    config = TrainConfig(steps=args.steps, checkpoint_every=2, log_every=1, ema_decay=args.ema_decay, seed=0)
    seed_everything(config.seed)
    batches = lambda start: toy_batches(start, rank=info.rank)  # noqa: E731
    if args.gan:
        setup = toy_gan_setup(config)
        result = train_phases(setup, batches, config, args.out, resume=args.resume, info=info, progress=False)
        digest = weights_digest(nn.ModuleDict(setup.modules))  # weights and buffers of both networks
    else:
        model = ToyDenoiser()
        result = train(model, toy_loss, batches, config, args.out, resume=args.resume, info=info,
                       progress=False)
        digest = weights_digest(model)
    (Path(args.out) / f"digest-rank{info.rank}.txt").write_text(f"{digest} {result.step}\n")
    cleanup_distributed()


if __name__ == "__main__":
    main()
