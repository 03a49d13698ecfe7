"""Normalisation and residual layers shared by the cINN video autoencoder, its discriminators and the
condition encoder: group counts that fit any width, SPADE (the first frame modulates a video feature),
AdaIN (the motion code z modulates it), data-initialised ActNorm, and 3D / 2D ResNet basic blocks.

Facts from the official code (CompVis/image2video-synthesis-using-cINNs): GroupNorm with up to 16 groups
everywhere, LeakyReLU(0.2) in the generator, SPADE with a 128-channel hidden conv whose scale and shift
are the same for every frame, AdaIN as `gamma * InstanceNorm(x) + beta` (no `1 +`), 3D ResNet basic
blocks with GroupNorm and a strided 3x3x3 conv shortcut.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

MAX_GROUPS = 16


def num_groups(channels: int, max_groups: int = MAX_GROUPS) -> int:
    """The largest group count <= `max_groups` that divides `channels` (16 at the official widths)."""
    groups = min(max_groups, channels)
    while channels % groups:
        groups -= 1
    return groups


def group_norm(channels: int, affine: bool = True) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups(channels), channels, affine=affine)


def maybe_spectral(module: nn.Module, enabled: bool) -> nn.Module:
    return spectral_norm(module) if enabled else module


class SPADE(nn.Module):
    """Spatially-adaptive normalisation of a video feature by one image.

    forward(x (B, C, T, H, W), image (B, 3, h, w)) -> (B, C, T, H, W): `GroupNorm(x) * (1 + gamma) + beta`
    with gamma, beta (B, C, H, W) computed from the image resized to (H, W), the same for every frame.
    """

    def __init__(self, channels: int, hidden: int = 128, image_channels: int = 3):
        super().__init__()
        self.norm = group_norm(channels, affine=False)
        self.shared = nn.Conv2d(image_channels, hidden, 3, padding=1)
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        image = F.interpolate(image, size=x.shape[-2:], mode="bilinear", align_corners=True)
        h = F.leaky_relu(self.shared(image), 0.2)
        gamma, beta = self.gamma(h).unsqueeze(2), self.beta(h).unsqueeze(2)  # broadcast over frames
        return self.norm(x) * (1 + gamma) + beta


class AdaIN(nn.Module):
    """Adaptive instance normalisation by a vector: forward(x (B, C, T, H, W), z (B, D)) ->
    `gamma(z) * InstanceNorm3d(x) + beta(z)`, the official form (gamma without the `1 +`)."""

    def __init__(self, channels: int, z_dim: int):
        super().__init__()
        self.norm = nn.InstanceNorm3d(channels, affine=False, track_running_stats=False)
        self.linear = nn.Linear(z_dim, 2 * channels)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.linear(z)[:, :, None, None, None].chunk(2, dim=1)
        return gamma * self.norm(x) + beta


def channel_moments(x: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of x over every axis but `dim`, pooled over all DDP ranks
    (so data-initialised layers start identical on every rank). Returns two (C,) tensors."""
    import torch.distributed as dist

    flat = x.detach().transpose(0, dim).reshape(x.shape[dim], -1).double()
    moments = torch.stack([flat.mean(1), flat.pow(2).mean(1)])
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(moments)
        moments /= dist.get_world_size()
    mean, square = moments
    n = flat.shape[1] * (dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1)
    var = (square - mean**2).clamp_min(0) * n / max(n - 1, 1)  # unbiased, as torch.std
    return mean.to(x.dtype), var.sqrt().to(x.dtype)


class ActNorm2d(nn.Module):
    """Per-channel affine `scale * (x + loc)` initialised from the first training batch to zero mean and
    unit variance (Glow); the patch discriminator's normalisation. forward(x (B, C, H, W))."""

    def __init__(self, channels: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not bool(self.initialized):
            mean, std = channel_moments(x)
            with torch.no_grad():
                self.loc.copy_(-mean.view_as(self.loc))
                self.scale.copy_(1 / (std.view_as(self.scale) + 1e-6))
                self.initialized.fill_(1)
        return self.scale * (x + self.loc)


def conv3x3x3(cin: int, cout: int, stride_t: int = 1, stride_s: int = 1) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, 3, stride=(stride_t, stride_s, stride_s), padding=1, bias=False)


class BasicBlock3d(nn.Module):
    """3D ResNet basic block: two 3x3x3 convs with GroupNorm, ReLU, and a strided 3x3x3 conv + GroupNorm
    shortcut when the shape changes. forward(x (B, Cin, T, H, W)) -> (B, Cout, T', H', W')."""

    def __init__(self, cin: int, cout: int, stride_t: int = 1, stride_s: int = 1, spectral: bool = False):
        super().__init__()
        self.conv1 = maybe_spectral(conv3x3x3(cin, cout, stride_t, stride_s), spectral)
        self.norm1 = group_norm(cout)
        self.conv2 = maybe_spectral(conv3x3x3(cout, cout), spectral)
        self.norm2 = group_norm(cout)
        self.shortcut = None
        if cin != cout or stride_t != 1 or stride_s != 1:
            conv = maybe_spectral(conv3x3x3(cin, cout, stride_t, stride_s), spectral)
            self.shortcut = nn.Sequential(conv, group_norm(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        skip = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + skip)


class ResNet3d(nn.Module):
    """Stem (3x7x7 conv, stride (stem_stride_t, 2, 2), GroupNorm, ReLU, optional max-pool) and one stage of
    `blocks` basic blocks per entry of `channels[1:]`, the first of each stage strided.

    forward(x (B, 3, T, H, W)) -> list of the stage outputs (B, C_i, T_i, H_i, W_i).
    The official encoder and temporal discriminator are two settings of this network.
    """

    def __init__(self, channels, strides_t, strides_s, blocks: int = 2, stem_stride_t: int = 2,
                 max_pool: bool = False, spectral: bool = False, in_channels: int = 3):
        super().__init__()
        if not (len(channels) - 1 == len(strides_t) == len(strides_s)):
            raise ValueError(f"channels {channels} need one stride per stage after the stem; got strides_t "
                             f"{strides_t}, strides_s {strides_s}")
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, channels[0], (3, 7, 7), stride=(stem_stride_t, 2, 2), padding=(1, 3, 3),
                      bias=False),
            group_norm(channels[0]),
            nn.ReLU(),
        )
        self.pool = nn.MaxPool3d(3, stride=(1, 2, 2), padding=1) if max_pool else nn.Identity()
        stages, cin = [], channels[0]
        for cout, st, ss in zip(channels[1:], strides_t, strides_s, strict=True):
            # Only each stage's first block is spectrally normalised, as in the official code.
            layers = [BasicBlock3d(cin, cout, st, ss, spectral)]
            layers += [BasicBlock3d(cout, cout) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            cin = cout
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.pool(self.stem(x))
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
