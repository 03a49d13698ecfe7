"""ImaGINator's two spectral-norm discriminators: one on whole clips, one on single frames.

Official layout: four stride-2 k4 convs (widths ch..8ch) with LeakyReLU(0.2), every conv spectrally
normalised, then one conv over the remaining volume to a single logit. The video discriminator takes the
motion-class one-hot as extra channels after its first conv. The last kernel covers (F/16, H/16, W/16):
(2, 4, 4) for the official 32 frames at 64x64.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn import init
from torch.nn.utils.parametrizations import spectral_norm

from ffbench.models.imaginator.generator import check_geometry


def _sn(conv: nn.Module) -> nn.Module:
    init.normal_(conv.weight, 0.0, 0.02)
    return spectral_norm(conv)


class VideoDiscriminator(ModelMixin, ConfigMixin):
    """logits (B,) that clips (B, 3, F, H, W) are real; `classes` (B,) motion classes (default 0)."""

    @register_to_config
    def __init__(self, sample_size: Sequence[int] = (64, 64), num_frames: int = 32, num_classes: int = 1,
                 channels: int = 64):
        super().__init__()
        depth = check_geometry(sample_size, num_frames)
        ch = channels
        self.first = _sn(nn.Conv3d(3, ch, 4, 2, 1))
        self.rest = nn.Sequential(
            _sn(nn.Conv3d(ch + num_classes, 2 * ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            _sn(nn.Conv3d(2 * ch, 4 * ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            _sn(nn.Conv3d(4 * ch, 8 * ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            _sn(nn.Conv3d(8 * ch, 1, depth)),
        )
        self.act = nn.LeakyReLU(0.2)

    def forward(self, video: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        h = self.act(self.first(video))
        if classes is None:
            classes = torch.zeros(video.shape[0], dtype=torch.long, device=video.device)
        onehot = nn.functional.one_hot(classes, self.config.num_classes).to(h.dtype)
        h = torch.cat([h, onehot[:, :, None, None, None].expand(-1, -1, *h.shape[2:])], dim=1)
        return self.rest(h).flatten()


class ImageDiscriminator(ModelMixin, ConfigMixin):
    """logits (B,) that frames (B, 3, H, W) are real."""

    @register_to_config
    def __init__(self, sample_size: Sequence[int] = (64, 64), channels: int = 64):
        super().__init__()
        _, bh, bw = check_geometry(sample_size, 16)
        ch = channels
        self.net = nn.Sequential(
            _sn(nn.Conv2d(3, ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            _sn(nn.Conv2d(ch, 2 * ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            _sn(nn.Conv2d(2 * ch, 4 * ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            _sn(nn.Conv2d(4 * ch, 8 * ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            _sn(nn.Conv2d(8 * ch, 1, (bh, bw))),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).flatten()
