"""Convolutional parts of the pseudo-3D U-Net: factorised conv, residual block, pixel (un)shuffle.

Inside the U-Net a clip travels folded as `(B*F, C, H, W)` with frames of one sample adjacent, and
`num_frames` is passed alongside (as diffusers' UNet3DConditionModel does), so spatial layers run on
the folded tensor directly and only the temporal layers reshape. Every temporal part starts as the
identity or as a frame-wise copy, so at initialisation the network is an image network run per frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def to_temporal(x: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(B*F, C, H, W) -> (B*H*W, C, F): one sequence over time per pixel."""
    bf, c, h, w = x.shape
    b = bf // num_frames
    return x.reshape(b, num_frames, c, h, w).permute(0, 3, 4, 2, 1).reshape(b * h * w, c, num_frames)


def from_temporal(x: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
    """(B*H*W, C, F) -> (B*F, C, H, W), the inverse of `to_temporal`."""
    _, c, f = x.shape
    return x.reshape(batch, height, width, c, f).permute(0, 4, 3, 1, 2).reshape(batch * f, c, height, width)


class PseudoConv3d(nn.Module):
    """A Conv2d on every frame, then a Conv1d over time at every pixel (Make-A-Video's factorisation).

    The temporal conv is initialised to the identity (dirac weights, zero bias). A spatial kernel of
    1 has no temporal part, as in the reference code. Input and output are folded: (B*F, C, H, W).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, temporal_kernel_size: int = 3
    ):
        super().__init__()
        self.spatial = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.temporal = None
        if kernel_size > 1:
            self.temporal = nn.Conv1d(
                out_channels, out_channels, temporal_kernel_size, padding=temporal_kernel_size // 2
            )
            nn.init.dirac_(self.temporal.weight)
            nn.init.zeros_(self.temporal.bias)

    def forward(self, x: torch.Tensor, num_frames: int, enable_time: bool = True) -> torch.Tensor:
        x = self.spatial(x)
        if self.temporal is None or not enable_time:
            return x
        b = x.shape[0] // num_frames
        h, w = x.shape[-2:]
        return from_temporal(self.temporal(to_temporal(x, num_frames)), b, h, w)


GROUP_NORM_OVER = ("frame", "clip")


def group_norm(norm: nn.GroupNorm, x: torch.Tensor, num_frames: int, over: str) -> torch.Tensor:
    """Apply `norm`'s GroupNorm to the folded clip x (B*F, C, H, W): statistics per frame ("frame") or per
    sample over all its frames ("clip": each group's channels x F x H x W, as GroupNorm on the 5-D clip
    in the public FashionFlow code)."""
    if over == "frame":
        return norm(x)
    bf, c, h, w = x.shape
    clip = x.reshape(bf // num_frames, num_frames, c, h * w).transpose(1, 2)  # (B, C, F, H*W)
    out = F.group_norm(clip, norm.num_groups, norm.weight, norm.bias, norm.eps)
    return out.transpose(1, 2).reshape(bf, c, h, w)


class ResnetBlock(nn.Module):
    """Two (pseudo-3D conv, GroupNorm, SiLU) layers plus a skip; the first takes timestep scale/shift.

    `norm_over="frame"`: GroupNorm per frame (on the folded tensor), so normalisation never mixes frames,
    only the temporal layers do; "clip": per sample over all its frames (the public FashionFlow code).
    With `enable_time=False` the frames are independent images, so the norm is per frame either way.
    x (B*F, C_in, H, W), temb (B, D) -> (B*F, C_out, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        temb_dim: int | None = None,
        groups: int = 8,
        norm_over: str = "frame",
    ):
        super().__init__()
        if norm_over not in GROUP_NORM_OVER:
            raise ValueError(f"group_norm_over={norm_over!r}; choose one of {', '.join(GROUP_NORM_OVER)}")
        self.norm_over = norm_over
        self.time_mlp = None
        if temb_dim is not None:
            self.time_mlp = nn.Sequential(nn.SiLU(), nn.Linear(temb_dim, out_channels * 2))
        self.conv1 = PseudoConv3d(in_channels, out_channels, 3)
        self.norm1 = nn.GroupNorm(groups, out_channels)
        self.conv2 = PseudoConv3d(out_channels, out_channels, 3)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(
        self, x: torch.Tensor, num_frames: int, temb: torch.Tensor | None = None, enable_time: bool = True
    ) -> torch.Tensor:
        over = self.norm_over if enable_time else "frame"
        h = group_norm(self.norm1, self.conv1(x, num_frames, enable_time), num_frames, over)
        if self.time_mlp is not None:
            if temb is None:
                raise ValueError("this residual block is timestep-conditioned: pass temb (B, D)")
            scale, shift = (
                self.time_mlp(temb).repeat_interleave(num_frames, dim=0)[:, :, None, None].chunk(2, 1)
            )
            h = h * (scale + 1) + shift
        h = F.silu(h)
        h = F.silu(group_norm(self.norm2, self.conv2(h, num_frames, enable_time), num_frames, over))
        return h + self.skip(x)


def _repeat_init(conv: nn.Conv2d, factor: int, interleave: bool) -> None:
    """Kaiming-initialise one output group and copy it `factor` times, so every sub-pixel (or
    sub-frame) an upsampler creates starts identical: no checkerboard at initialisation."""
    out_channels, *rest = conv.weight.shape
    base = torch.empty(out_channels // factor, *rest)
    nn.init.kaiming_uniform_(base)
    weight = base.repeat_interleave(factor, 0) if interleave else base.repeat(factor, *([1] * len(rest)))
    with torch.no_grad():
        conv.weight.copy_(weight)
        if conv.bias is not None:
            conv.bias.zero_()


class Downsample(nn.Module):
    """Pixel-unshuffle 2x2 + 1x1 conv; optionally also halve time by stacking frame pairs on channels.

    (B*F, C, H, W) -> (B*F', C, H/2, W/2) with F' = F/2 when `time` is set (F must then be even).
    """

    def __init__(self, channels: int, time: bool = False):
        super().__init__()
        self.space = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(channels * 4, channels, 1, bias=False))
        self.time = nn.Conv2d(channels * 2, channels, 1, bias=False) if time else None

    def forward(self, x: torch.Tensor, num_frames: int, enable_time: bool = True) -> tuple[torch.Tensor, int]:
        x = self.space(x)
        if self.time is None or not enable_time:
            return x, num_frames
        bf, c, h, w = x.shape
        # frames of a sample are adjacent, so this reshape puts each frame pair side by side on channels
        return self.time(x.reshape(bf // 2, 2 * c, h, w)), num_frames // 2


class Upsample(nn.Module):
    """1x1 conv + pixel-shuffle 2x2; optionally also double time. Inverse geometry of `Downsample`."""

    def __init__(self, channels: int, time: bool = False):
        super().__init__()
        self.space = nn.Sequential(nn.Conv2d(channels, channels * 4, 1), nn.PixelShuffle(2))
        _repeat_init(self.space[0], 4, interleave=True)  # PixelShuffle reads channels as (c, 2, 2)
        self.time = None
        if time:
            self.time = nn.Conv2d(channels, channels * 2, 1)
            _repeat_init(self.time, 2, interleave=False)  # the reshape below reads channels as (2, c)

    def forward(self, x: torch.Tensor, num_frames: int, enable_time: bool = True) -> tuple[torch.Tensor, int]:
        x = self.space(x)
        if self.time is None or not enable_time:
            return x, num_frames
        bf, c, h, w = x.shape
        return self.time(x).reshape(bf * 2, c, h, w), num_frames * 2
