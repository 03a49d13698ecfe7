"""The two discriminators of the cINN video autoencoder (stage 1): one on clips, one on single frames.

Official facts (`stage1_VAE/modules/resnet3D.Discriminator`, `patch_disc.NLayerDiscriminator`):
- clips: a 3D ResNet-18 (stem 3x7x7 stride (1, 2, 2), max-pool, widths 64, 64, 128, 256, 512, strides in
  time 2, 2, 2, 2 and space 1, 1, 2, 2), spectral norm on each stage's first block and shortcut,
  orthogonal init, average pool and a bias-free linear logit; it sees 12 random consecutive generated
  frames and its stage outputs also feed a feature-matching L1 loss;
- frames: the pix2pix PatchGAN (3 layers, ndf 64, 4x4 convs, ActNorm, LeakyReLU 0.2) with spectral norm,
  on 20 random frames of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ffbench.models.cinn.layers import ActNorm2d, ResNet3d
from ffbench.models.loading import LoadAlignedMixin


class ClipDiscriminator(nn.Module):
    """forward(clip (B, 3, T, H, W)) -> (logits (B, 1), stage features for feature matching)."""

    def __init__(self, channels: Sequence[int], strides_t: Sequence[int], strides_s: Sequence[int],
                 blocks: int = 2, spectral: bool = True):
        super().__init__()
        self.resnet = ResNet3d(channels, strides_t, strides_s, blocks=blocks, stem_stride_t=1, max_pool=True,
                               spectral=spectral)
        self.fc = nn.Linear(channels[-1], 1, bias=False)
        for module in self.resnet.modules():
            if isinstance(module, nn.Conv3d) and hasattr(module, "parametrizations"):
                nn.init.orthogonal_(module.parametrizations.weight.original)
            elif isinstance(module, nn.Conv3d):
                nn.init.orthogonal_(module.weight)

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = self.resnet(clip)
        return self.fc(features[-1].mean(dim=(2, 3, 4))), features


class FrameDiscriminator(nn.Module):
    """PatchGAN: forward(frames (N, 3, H, W)) -> patch logits (N, 1, h, w)."""

    def __init__(self, ndf: int = 64, n_layers: int = 3, spectral: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1), ActNorm2d(ndf * mult),
                       nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.Conv2d):
                nn.init.normal_(layer.weight, 0.0, 0.02)
                layers[i] = spectral_norm(layer) if spectral else layer
        self.main = nn.Sequential(*layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.main(frames)


class CINNDiscriminators(LoadAlignedMixin, ModelMixin, ConfigMixin):
    """Both discriminators as one module (one optimiser: their losses touch disjoint weights).

    Args:
        clip_channels, clip_strides_t, clip_strides_s, clip_blocks: the 3D ResNet on clips.
        frame_ndf, frame_layers: the PatchGAN on frames.
        spectral_norm: spectral normalisation (official: on in both).
    """

    @register_to_config
    def __init__(
        self,
        clip_channels: Sequence[int] = (64, 64, 128, 256, 512),
        clip_strides_t: Sequence[int] = (2, 2, 2, 2),
        clip_strides_s: Sequence[int] = (1, 1, 2, 2),
        clip_blocks: int = 2,
        frame_ndf: int = 64,
        frame_layers: int = 3,
        spectral_norm: bool = True,
    ):
        super().__init__()
        self.clip = ClipDiscriminator(clip_channels, clip_strides_t, clip_strides_s, clip_blocks,
                                      spectral_norm)
        self.frame = FrameDiscriminator(frame_ndf, frame_layers, spectral_norm)

    def forward(self, clip: torch.Tensor, frames: torch.Tensor):
        """clip (B, 3, T, H, W), frames (N, 3, H, W) -> (clip logits, clip features, frame logits)."""
        logits, features = self.clip(clip)
        return logits, features, self.frame(frames)
