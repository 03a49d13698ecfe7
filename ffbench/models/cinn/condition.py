"""Stage 2a of the cINN baseline: the image encoder giving the condition vector c of the first frame x0.

Official facts (`stage2_cINN/AE/`): torchvision's ResNet-50 with InstanceNorm (no affine weights) on the
64x64 frame, average pool, a conv to the mean and log-variance of a 128-d Gaussian; trained as an image
VAE (L1 + LPIPS, KL weight 1e-5, a patch GAN) with a BigGAN-style decoder, after which only the encoder is
kept and c is its posterior mean. Here the ResNet's widths are a config (ResNet-50 at the official size,
a few narrow basic blocks for the CPU), and the training decoder is a plain upsampling conv net: BigGAN's
pretrained weights are not available offline, and the decoder is discarded after this stage anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ffbench.models.cinn.layers import group_norm
from ffbench.models.loading import LoadAlignedMixin


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels)  # affine=False: torchvision's ResNet given norm_layer=InstanceNorm2d


class ResBlock2d(nn.Module):
    """torchvision's BasicBlock (bottleneck=False) or Bottleneck (expansion 4, stride on the 3x3 conv).
    forward(x (B, Cin, H, W)) -> (B, Cout, H / stride, W / stride)."""

    def __init__(self, cin: int, cout: int, stride: int, bottleneck: bool):
        super().__init__()
        if bottleneck:
            mid = cout // 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, mid, 1, bias=False), instance_norm(mid), nn.ReLU(),
                nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False), instance_norm(mid), nn.ReLU(),
                nn.Conv2d(mid, cout, 1, bias=False), instance_norm(cout),
            )
        else:
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), instance_norm(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), instance_norm(cout),
            )
        self.shortcut = None
        if stride != 1 or cin != cout:
            conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
            self.shortcut = nn.Sequential(conv, instance_norm(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.body(x) + skip)


class ImageEncoder(nn.Module):
    """ResNet (stem 7x7 stride 2 + max-pool, stages with stride 1, 2, 2, 2) -> average pool -> 1x1 conv
    to 2 * c_dim. forward(image (B, 3, H, W)) -> mean, logvar (B, c_dim)."""

    def __init__(self, c_dim: int, stem_channels: int, block_out_channels: Sequence[int],
                 layers_per_block: Sequence[int], bottleneck: bool):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_channels, 7, stride=2, padding=3, bias=False), instance_norm(stem_channels),
            nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
        )
        blocks, cin = [], stem_channels
        for i, (cout, n) in enumerate(zip(block_out_channels, layers_per_block, strict=True)):
            for j in range(n):
                blocks.append(ResBlock2d(cin, cout, 2 if (i > 0 and j == 0) else 1, bottleneck))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(cin, 2 * c_dim, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module is not self.head:
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.blocks(self.stem(image)).mean(dim=(2, 3), keepdim=True)
        mean, logvar = self.head(feature).flatten(1).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 10.0)  # the official DiagonalGaussianDistribution's clamp


class ImageDecoder(nn.Module):
    """The training aid: c (B, c_dim) -> Linear -> (C0, h0, w0) -> per width [2x nearest, 3x3 conv,
    GroupNorm, LeakyReLU] -> 3x3 conv -> tanh -> (B, 3, H, W)."""

    def __init__(self, c_dim: int, height: int, width: int, channels: Sequence[int]):
        super().__init__()
        ups = len(channels) - 1
        self.start = (channels[0], math.ceil(height / 2**ups), math.ceil(width / 2**ups))
        self.size = (height, width)
        self.fc = nn.Linear(c_dim, math.prod(self.start))
        layers: list[nn.Module] = []
        for cin, cout in zip(channels[:-1], channels[1:], strict=True):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1),
                       group_norm(cout), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(channels[-1], 3, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        x = self.body(self.fc(c).view(c.shape[0], *self.start))
        return torch.tanh(x[..., : self.size[0], : self.size[1]])


class CINNConditionEncoder(LoadAlignedMixin, ModelMixin, ConfigMixin):
    """c(x0): the condition of the cINN, and the image VAE it is trained in.

    `condition(x0 (B, 3, H, W))` -> c (B, c_dim), the posterior mean; `forward` reconstructs for training.

    Args:
        sample_size: (H, W) of the frames.
        c_dim: condition width (128 official).
        stem_channels, block_out_channels, layers_per_block, bottleneck: the ResNet (ResNet-50: 64,
            (256, 512, 1024, 2048), (3, 4, 6, 3), True).
        decoder_channels: widths of the training decoder, one 2x upsampling between consecutive entries.
    """

    @register_to_config
    def __init__(
        self,
        sample_size: Sequence[int] = (64, 64),
        c_dim: int = 128,
        stem_channels: int = 64,
        block_out_channels: Sequence[int] = (256, 512, 1024, 2048),
        layers_per_block: Sequence[int] = (3, 4, 6, 3),
        bottleneck: bool = True,
        decoder_channels: Sequence[int] = (512, 512, 256, 128, 64),
    ):
        super().__init__()
        # stem and max-pool divide by 4, every stage after the first by 2; InstanceNorm needs > 1 value
        last = [math.ceil(n / 2 ** (len(block_out_channels) + 1)) for n in sample_size]
        if last[0] * last[1] < 2:
            raise ValueError(f"{len(block_out_channels)} ResNet stages reduce {tuple(sample_size)} frames to "
                             "1x1, where InstanceNorm is undefined; use fewer stages (block_out_channels)")
        self.encoder = ImageEncoder(c_dim, stem_channels, block_out_channels, layers_per_block, bottleneck)
        self.decoder = ImageDecoder(c_dim, *sample_size, decoder_channels)

    def _check(self, image: torch.Tensor) -> None:
        want = (3, *self.config.sample_size)
        if image.ndim != 4 or tuple(image.shape[1:]) != want:
            dims = ", ".join(map(str, want))
            raise ValueError(f"image has shape {tuple(image.shape)}; expected (B, {dims})")

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image (B, 3, H, W) in [-1, 1] -> mean, logvar (B, c_dim)."""
        self._check(image)
        return self.encoder(image)

    def condition(self, image: torch.Tensor) -> torch.Tensor:
        """c = the posterior mean (the official `encode(x).mode()`): (B, 3, H, W) -> (B, c_dim)."""
        return self.encode(image)[0]

    def forward(self, image: torch.Tensor, generator: torch.Generator | None = None):
        """image (B, 3, H, W) -> (reconstruction (B, 3, H, W), mean, logvar); the decoder sees a sample."""
        mean, logvar = self.encode(image)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return self.decoder(mean + torch.exp(0.5 * logvar) * eps), mean, logvar
