"""The cINN video decoder G(x0, z): 3D residual blocks where the first frame enters every block by SPADE
and the motion code z by AdaIN (Dorkenwald et al. 2021, stage 1).

Official layout (`stage1_VAE/modules/decoder.py`, channel_factor nf = 64, z 64-d): Linear(z -> 16nf x 4 x 4)
as a (16nf, 1, 4, 4) volume; blocks 16nf->16nf (head), 16nf->16nf, 16nf->8nf, 8nf->4nf, 4nf->2nf, 2nf->nf,
each but the head and the last preceded by a nearest 2x upsampling of time and space; LeakyReLU(0.2),
Conv3d(nf -> 3), tanh. 16 frames at 64x64 from a 1x4x4 start; 152,786,243 parameters.

Here the volume sizes are computed from the requested output, so any (frames, height, width) works:
each upsampling goes to ceil(final / 2^k) for the k upsamplings still to come, which for powers of two
is exactly the official 2x nearest upsampling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ffbench.models.cinn.layers import SPADE, AdaIN, group_norm, maybe_spectral


class GeneratorBlock(nn.Module):
    """SPADE(x0) -> LeakyReLU -> Conv3d -> AdaIN(z) -> LeakyReLU -> Conv3d, plus a shortcut
    (GroupNorm + 1x1x1 conv when the width changes). forward(x (B, Cin, T, H, W), x0 (B, 3, h, w),
    z (B, D)) -> (B, Cout, T, H, W)."""

    def __init__(self, cin: int, cout: int, z_dim: int, spade_hidden: int, spectral: bool):
        super().__init__()
        mid = min(cin, cout)
        self.conv_0 = maybe_spectral(nn.Conv3d(cin, mid, 3, padding=1), spectral)
        self.conv_1 = maybe_spectral(nn.Conv3d(mid, cout, 3, padding=1), spectral)
        self.norm_0 = SPADE(cin, spade_hidden)
        self.norm_1 = AdaIN(mid, z_dim)
        self.shortcut = None
        if cin != cout:
            conv = maybe_spectral(nn.Conv3d(cin, cout, 1, bias=False), spectral)
            self.shortcut = nn.Sequential(group_norm(cin), conv)

    def forward(self, x: torch.Tensor, x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, x0), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, z), 0.2))
        return skip + dx


def upsampling_sizes(final: int, count: int) -> list[int]:
    """Sizes along one axis before the first and after each of `count` 2x upsamplings ending at `final`:
    [ceil(final / 2^count), ..., ceil(final / 2), final]."""
    return [math.ceil(final / 2**k) for k in range(count, -1, -1)]


class VideoDecoder(nn.Module):
    """G(x0, z) -> the frames after x0.

    forward(x0 (B, 3, H, W) in [-1, 1], z (B, z_dim)) -> (B, 3, frames, H, W) in [-1, 1].

    Args:
        frames, height, width: output geometry (the clip after x0).
        z_dim: motion code width.
        channel_factor: nf; block widths are `channel_multipliers` x nf.
        channel_multipliers: width of the start volume and of each block's output, e.g. the official
            (16, 16, 16, 8, 4, 2, 1): start 16nf, head 16nf, then 16nf, 8nf, 4nf, 2nf, nf.
        upsample: for each block after the head, whether a 2x upsampling (time and space) precedes it.
        spade_hidden: width of SPADE's hidden conv (128 official).
        spectral_norm: spectral normalisation of the 3D convs (official: on).
    """

    def __init__(self, frames: int, height: int, width: int, z_dim: int, channel_factor: int,
                 channel_multipliers: Sequence[int], upsample: Sequence[bool], spade_hidden: int = 128,
                 spectral_norm: bool = True):
        super().__init__()
        widths = [channel_factor * m for m in channel_multipliers]
        if len(upsample) != len(widths) - 2:
            raise ValueError(f"upsample has {len(upsample)} entries; channel_multipliers "
                             f"{tuple(channel_multipliers)} need {len(widths) - 2} (one per block after the "
                             "head)")
        ups = sum(bool(u) for u in upsample)
        self.sizes_t = upsampling_sizes(frames, ups)
        self.sizes_h = upsampling_sizes(height, ups)
        self.sizes_w = upsampling_sizes(width, ups)
        self.upsample = [bool(u) for u in upsample]
        self.start = (widths[0], self.sizes_t[0], self.sizes_h[0], self.sizes_w[0])
        if math.prod(self.start[1:]) < 2:  # AdaIN's instance norm needs more than one value per channel
            raise ValueError(f"{ups} upsamplings of a {frames}x{height}x{width} clip start from a 1x1x1 "
                             "volume; use fewer upsampling blocks (decoder_upsample) or a larger clip")
        self.fc = nn.Linear(z_dim, math.prod(self.start))
        self.blocks = nn.ModuleList(
            GeneratorBlock(cin, cout, z_dim, spade_hidden, spectral_norm)
            for cin, cout in zip(widths[:-1], widths[1:], strict=True)
        )
        self.conv_out = nn.Conv3d(widths[-1], 3, 3, padding=1)
        for module in self.modules():  # the official init touches the 2D convs (SPADE) only
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight, gain=0.02)
                nn.init.zeros_(module.bias)

    def forward(self, x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], *self.start)
        level = 0
        for i, block in enumerate(self.blocks):
            if i > 0 and self.upsample[i - 1]:
                level += 1
                size = (self.sizes_t[level], self.sizes_h[level], self.sizes_w[level])
                x = F.interpolate(x, size=size, mode="nearest")
            x = block(x, x0, z)
        return torch.tanh(self.conv_out(F.leaky_relu(x, 0.2)))
