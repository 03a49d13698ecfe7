"""A toy video-denoising task for smoke-testing the trainer without data or the real model.

Batches are deterministic functions of their index (a moving Gaussian blob in a 4-channel latent
clip), the model is a small pseudo-3D conv net with dropout (so the global RNG matters), and the loss
is an epsilon-prediction MSE with noise, timesteps and condition dropout drawn from the loop's
generator. `python -m ffbench.training.toy --out DIR` runs it, also under torchrun:

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
from ffbench.training.loop import seed_everything, train


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
    args = parser.parse_args(argv)
    info = init_distributed()
    config = TrainConfig(steps=args.steps, checkpoint_every=2, log_every=1, ema_decay=args.ema_decay, seed=0)
    seed_everything(config.seed)
    model = ToyDenoiser()
    result = train(model, toy_loss, lambda start: toy_batches(start, rank=info.rank), config, args.out,
                   resume=args.resume, info=info, progress=False)
    digest = weights_digest(model)
    (Path(args.out) / f"digest-rank{info.rank}.txt").write_text(f"{digest} {result.step}\n")
    cleanup_distributed()


if __name__ == "__main__":
    main()
