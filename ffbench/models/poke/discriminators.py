"""Poke's two discriminators, as in the official code (`models/discriminator.py`).

- `PatchDiscriminator`: the pix2pix/CycleGAN PatchGAN on single frames (B, 3, H, W): 4x4 convs, the
  first three of stride 2, instance norm, LeakyReLU(0.2), a map of logits.
- `TemporalDiscriminator`: a 3D ResNet-18 on whole clips (B, 3, T, H, W) with spectral-norm convs and
  GroupNorm(16 groups): a (3, 7, 7) stem with a max pool, then stages that halve time (and space down to 1/8
  of the input side) until one time step is left, and a 3x3 conv to a map of logits.

Both return (logits, feature maps); the feature maps feed the feature-matching loss. Neither is part
of the saved generator: they exist only in training checkpoints.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """frames (N, 3, H, W) -> (logits (N, 1, h, w), [feature maps]) with `layers` stride-2 convs in all.

    Official size: channels 64, layers 3 (2.76M parameters).
    """

    def __init__(self, channels: int = 64, layers: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 4, stride=2, padding=1)
        widths = [channels * min(2 ** n, 8) for n in range(layers + 1)]
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 4, stride=2 if n < layers - 1 else 1, padding=1),
                          nn.InstanceNorm2d(b), nn.LeakyReLU(0.2))
            for n, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True))
        )
        self.head = nn.Conv2d(widths[-1], 1, 4, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = nn.functional.leaky_relu(self.stem(x), 0.2)
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return self.head(x), features


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(16, c), c)  # the official 16 groups; fewer only below 16 channels (small presets)


def _conv3(c_in: int, c_out: int, stride: tuple[int, int, int] = (1, 1, 1)) -> nn.Module:
    return spectral_norm(nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False))


class _Block3d(nn.Module):
    """The 3D ResNet basic block: two 3x3x3 convs with GroupNorm(16), a projected shortcut on change."""

    def __init__(self, c_in: int, c_out: int, stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        self.conv1, self.norm1 = _conv3(c_in, c_out, stride), _norm(c_out)
        self.conv2, self.norm2 = _conv3(c_out, c_out), _norm(c_out)
        self.shortcut = (nn.Sequential(_conv3(c_in, c_out, stride), _norm(c_out))
                         if c_in != c_out or stride != (1, 1, 1) else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class TemporalDiscriminator(nn.Module):
    """clips (B, 3, T, H, W) -> (logits (B, 1, h, w), [feature maps]).

    Stages: `channels // 2` wide at the stem's scale, then each stage doubles the width (up to
    `max_channels`), halves time, and halves space while the tracked side is above `min(H, W) / 8`, as
    in the official bookkeeping. Official size: channels 64, max 256, 10 frames at 64x64 (26.55M).
    """

    def __init__(self, num_frames: int, sample_size: tuple[int, int], channels: int = 64,
                 max_channels: int = 256, blocks: int = 2):
        super().__init__()
        if num_frames < 2:
            raise ValueError(f"the temporal discriminator needs clips of >= 2 frames, got {num_frames}")
        self.num_frames = num_frames
        self.stem = nn.Sequential(
            spectral_norm(nn.Conv3d(3, channels, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False)),
            _norm(channels), nn.ReLU(), nn.MaxPool3d(3, stride=(1, 2, 2), padding=1))
        stages = [self._stage(channels, channels // 2, blocks, (1, 1, 1))]
        width, out_width, frames = channels // 2, channels, num_frames
        side, limit = min(sample_size) / 2, int(min(sample_size) / 8)
        while frames > 1:
            out_width = min(2 * out_width, max_channels)
            s = 1 if side <= limit else 2
            side = int(side / s)
            stages.append(self._stage(width, out_width, blocks, (2, s, s)))
            width, frames = out_width, math.ceil(frames / 2)
        self.stages = nn.ModuleList(stages)
        self.head = nn.Conv2d(width, 1, 3, padding=1)

    @staticmethod
    def _stage(c_in: int, c_out: int, blocks: int, stride: tuple[int, int, int]) -> nn.Sequential:
        rest = [_Block3d(c_out, c_out) for _ in range(blocks - 1)]
        return nn.Sequential(_Block3d(c_in, c_out, stride), *rest)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if x.shape[2] != self.num_frames:
            raise ValueError(f"clip has {x.shape[2]} frames; this discriminator takes {self.num_frames}")
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return self.head(x.squeeze(2)), features
