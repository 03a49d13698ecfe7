"""Stage 2b of the cINN baseline: the conditional invertible network between the motion code z and a
standard normal, given the condition c of the first frame.

Official facts (`stage2_cINN/modules/flow_blocks.py`, configs): 20 blocks, each ActNorm (initialised from
the first batch) -> invertible LeakyReLU (slope 0.9 for negative inputs) -> a double affine coupling
(both halves updated in turn; scale and shift from separate fully connected nets on [kept half | c],
width 8 x z_dim, two hidden layers) -> a fixed random permutation. Trained by exact likelihood,
`0.5 |u|^2 - log|det du/dz|`, with z the frozen encoder's posterior sample.

One departure, a correction: the official invertible LeakyReLU returns a log-determinant of 0, which is
wrong wherever an input is negative (each such entry scales by 0.9). Here it is `log(slope)` per negative
entry, so the likelihood is exact (a test checks the whole network against a brute-force Jacobian).
"""

from __future__ import annotations

import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ffbench.models.cinn.layers import channel_moments
from ffbench.models.loading import LoadAlignedMixin


class ActNorm(nn.Module):
    """`scale * (x + loc)` per feature, initialised from the first training batch to zero mean, unit
    variance. forward(x (B, D)) -> (y, logdet (B,)); inverse(y) -> x."""

    def __init__(self, dim: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(dim))
        self.scale = nn.Parameter(torch.ones(dim))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialized):
            mean, std = channel_moments(x)
            with torch.no_grad():
                self.loc.copy_(-mean)
                self.scale.copy_(1 / (std + 1e-6))
                self.initialized.fill_(1)
        logdet = torch.log(torch.abs(self.scale)).sum().expand(x.shape[0])
        return self.scale * (x + self.loc), logdet

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y / self.scale - self.loc


class InvertibleLeakyReLU(nn.Module):
    """y = x for x >= 0, slope * x otherwise; log|det| = log(slope) x (number of negative entries)."""

    def __init__(self, slope: float = 0.9):
        super().__init__()
        if not slope > 0:
            raise ValueError(f"slope={slope}; an invertible LeakyReLU needs a positive slope")
        self.slope = slope

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        negative = x < 0
        logdet = negative.sum(dim=1).to(x.dtype) * math.log(self.slope)
        return torch.where(negative, x * self.slope, x), logdet

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.where(y < 0, y / self.slope, y)  # the sign is kept, so y < 0 iff x < 0


def mlp(dim_in: int, hidden: int, depth: int, dim_out: int) -> nn.Sequential:
    """Linear -> LeakyReLU, `depth` x (Linear -> LeakyReLU), Linear (the official BasicFullyConnectedNet)."""
    layers: list[nn.Module] = [nn.Linear(dim_in, hidden), nn.LeakyReLU()]
    for _ in range(depth):
        layers += [nn.Linear(hidden, hidden), nn.LeakyReLU()]
    layers.append(nn.Linear(hidden, dim_out))
    return nn.Sequential(*layers)


class DoubleAffineCoupling(nn.Module):
    """Two affine couplings in turn, so both halves change:
    (a, b) -> (a, b' = b * exp(s0(a, c)) + t0(a, c)), then (b', a) -> (b', a * exp(s1(b', c)) + t1(b', c)).
    forward(x (B, D), c (B, C)) -> (y (B, D), logdet (B,)); inverse(y, c) -> x."""

    def __init__(self, dim: int, c_dim: int, hidden: int, depth: int):
        super().__init__()
        if dim % 2:
            raise ValueError(f"z_dim={dim}; the coupling splits z into two equal halves, use an even width")
        half = dim // 2
        self.scale = nn.ModuleList(mlp(half + c_dim, hidden, depth, half) for _ in range(2))
        self.shift = nn.ModuleList(mlp(half + c_dim, hidden, depth, half) for _ in range(2))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for i in range(2):
            kept, changed = x.chunk(2, dim=1)
            h = torch.cat([kept, c], dim=1)
            s = self.scale[i](h)
            changed = changed * torch.exp(s) + self.shift[i](h)
            logdet = logdet + s.sum(dim=1)
            x = torch.cat([changed, kept], dim=1) if i == 0 else torch.cat([kept, changed], dim=1)
        return x, logdet

    def inverse(self, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # The forward's outputs are (b', a) after step 0 and (b', a') after step 1.
        for i in (1, 0):
            kept, changed = y.chunk(2, dim=1) if i == 1 else y.chunk(2, dim=1)[::-1]
            h = torch.cat([kept, c], dim=1)
            changed = (changed - self.shift[i](h)) * torch.exp(-self.scale[i](h))
            y = torch.cat([kept, changed], dim=1)
        return y


class Permutation(nn.Module):
    """A fixed permutation of the features (log|det| = 0), drawn once from `seed` and saved as a buffer."""

    def __init__(self, dim: int, seed: int):
        super().__init__()
        order = torch.randperm(dim, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("order", order)
        self.register_buffer("inverse_order", torch.argsort(order))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, self.order], x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y[:, self.inverse_order]


class FlowBlock(nn.Module):
    """ActNorm -> invertible LeakyReLU -> double affine coupling (given c) -> permutation."""

    def __init__(self, dim: int, c_dim: int, hidden: int, depth: int, slope: float, seed: int):
        super().__init__()
        self.norm = ActNorm(dim)
        self.activation = InvertibleLeakyReLU(slope)
        self.coupling = DoubleAffineCoupling(dim, c_dim, hidden, depth)
        self.permute = Permutation(dim, seed)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, logdet = self.norm(x)
        x, ld = self.activation(x)
        logdet = logdet + ld
        x, ld = self.coupling(x, c)
        logdet = logdet + ld
        x, _ = self.permute(x)
        return x, logdet

    def inverse(self, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        y = self.permute.inverse(y)
        y = self.coupling.inverse(y, c)
        y = self.activation.inverse(y)
        return self.norm.inverse(y)


class CINNFlow(LoadAlignedMixin, ModelMixin, ConfigMixin):
    """The conditional INN: forward(z (B, z_dim), c (B, c_dim)) -> (u (B, z_dim), log|det du/dz| (B,));
    inverse(u, c) -> z. Sampling: u ~ N(0, I), z = inverse(u, c).

    Args:
        z_dim: width of the motion code (the autoencoder's z_dim).
        c_dim: width of the condition (the condition encoder's c_dim).
        num_blocks: flow blocks (20 official).
        hidden_dim: width of the coupling nets (8 x z_dim official).
        hidden_depth: hidden layers after the first in each coupling net (2 official).
        leaky_slope: slope of the invertible LeakyReLU for negative inputs (0.9 official).
        permutation_seed: seed of the fixed permutations (block i uses permutation_seed + i).
    """

    @register_to_config
    def __init__(
        self,
        z_dim: int = 64,
        c_dim: int = 128,
        num_blocks: int = 20,
        hidden_dim: int = 512,
        hidden_depth: int = 2,
        leaky_slope: float = 0.9,
        permutation_seed: int = 0,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            FlowBlock(z_dim, c_dim, hidden_dim, hidden_depth, leaky_slope, permutation_seed + i)
            for i in range(num_blocks)
        )

    def _check(self, x: torch.Tensor, c: torch.Tensor, name: str) -> None:
        if x.ndim != 2 or x.shape[1] != self.config.z_dim:
            raise ValueError(f"{name} has shape {tuple(x.shape)}; expected (B, {self.config.z_dim})")
        if c.shape != (x.shape[0], self.config.c_dim):
            raise ValueError(f"c has shape {tuple(c.shape)}; expected ({x.shape[0]}, {self.config.c_dim})")

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(z, c, "z")
        logdet = z.new_zeros(z.shape[0])
        for block in self.blocks:
            z, ld = block(z, c)
            logdet = logdet + ld
        return z, logdet

    def inverse(self, u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        self._check(u, c, "u")
        for block in reversed(self.blocks):
            u = block.inverse(u, c)
        return u

    def sample(self, c: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p(z | c): draw u ~ N(0, I) from `generator` and invert. c (B, c_dim) -> z (B, z_dim)."""
        u = torch.randn(c.shape[0], self.config.z_dim, generator=generator, device=c.device, dtype=c.dtype)
        return self.inverse(u, c)


def flow_nll(u: torch.Tensor, logdet: torch.Tensor) -> torch.Tensor:
    """Exact negative log-likelihood of z under the flow, in nats per dimension, averaged over the batch:
    mean_b [0.5 |u_b|^2 + D/2 log(2 pi) - logdet_b] / D. (The official loss drops the constant.)"""
    d = u.shape[1]
    return (0.5 * u.pow(2).sum(1) + 0.5 * d * math.log(2 * math.pi) - logdet).mean() / d
