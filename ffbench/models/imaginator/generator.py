"""ImaGINator's generator (Wang et al., WACV 2020): a 2D image encoder and a (2+1)D transposed-conv decoder.

Layer facts from the official code (MIT), our implementation:

- Encoder: four blocks Conv2d(k4, s2, p1) + BatchNorm + LeakyReLU(0.2), widths ch, 2ch, 4ch, 8ch, then a
  conv over the whole remaining map (4x4 at 64x64) to the appearance vector. The feature map of every
  block is kept.
- Decoder: [noise z | motion-class one-hot | appearance] as a 1x1x1 volume, then five (2+1)D blocks:
  a temporal transposed conv, BatchNorm, LeakyReLU, a spatial transposed conv (4x4), BatchNorm,
  LeakyReLU. The first block grows 1x1x1 to (F/16) x (H/16) x (W/16), each later one doubles time and
  space. After each of the first four blocks the encoder map of the same scale (repeated over time) and
  the class one-hot (repeated everywhere) are concatenated; the last block ends in tanh.

The official model is 32 frames at 64x64 (time 1 -> 2 -> 4 -> 8 -> 16 -> 32); here H, W and F may be any
multiples of 16, so the cpu preset's 64x48 frames (the 128x96 shards area-resized by 2) and 16-frame
clips use the same code. UBC Fashion has no motion classes: one class, whose one-hot is constant.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn import init

from ffbench.errors import UserError


class ImaginatorConfigError(UserError, ValueError):
    """An ImaGINator configuration that cannot be built (sizes that are not multiples of 16, ...)."""


def check_geometry(sample_size: Sequence[int], num_frames: int) -> tuple[int, int, int]:
    """(F/16, H/16, W/16): the size of the deepest feature volume; raises for sizes it cannot build."""
    if len(sample_size) != 2 or any(s < 16 or s % 16 for s in sample_size):
        raise ImaginatorConfigError(f"sample_size={tuple(sample_size)}: give (height, width), each a "
                                    "multiple of 16 (four stride-2 blocks), e.g. (64, 64) or (64, 48)")
    if num_frames < 16 or num_frames % 16:
        raise ImaginatorConfigError(f"num_frames={num_frames}: give a multiple of 16 (four blocks double "
                                    "time), e.g. 16 or 32")
    return num_frames // 16, sample_size[0] // 16, sample_size[1] // 16


class ImageEncoder(nn.Module):
    """image (B, 3, H, W) -> [appearance (B, A, 1, 1), h4 (B, 8ch, H/16, W/16), h3 (4ch, H/8), h2 (2ch, H/4),
    h1 (ch, H/2)], deepest first."""

    def __init__(self, appearance_dim: int, channels: int, bottom: tuple[int, int]) -> None:
        super().__init__()
        widths = [3, channels, 2 * channels, 4 * channels, 8 * channels]
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))
            for cin, cout in zip(widths[:-1], widths[1:], strict=True)
        )
        self.to_appearance = nn.Conv2d(8 * channels, appearance_dim, bottom)
        for module in self.modules():  # DCGAN initialisation, as the official encoder
            if isinstance(module, nn.Conv2d):
                init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                init.normal_(module.weight, 1.0, 0.02)
                init.zeros_(module.bias)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        h = image
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        return [self.to_appearance(h), *reversed(feats)]


class DecoderBlock(nn.Module):
    """(2+1)D transposed-conv block: time by (k_t, s_t, p_t), then space by (k_s, s_s, p_s).

    (B, C_in, T, H, W) -> (B, C_out, T', H', W'); `last` ends in tanh instead of BatchNorm + LeakyReLU.
    """

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, time: tuple[int, int, int],
                 space: tuple[tuple[int, int], int, int], last: bool = False) -> None:
        super().__init__()
        (k_t, s_t, p_t), (k_s, s_s, p_s) = time, space
        layers: list[nn.Module] = [
            nn.ConvTranspose3d(in_ch, mid_ch, (k_t, 1, 1), (s_t, 1, 1), (p_t, 0, 0)),
            nn.BatchNorm3d(mid_ch),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose3d(mid_ch, out_ch, (1, *k_s), (1, s_s, s_s), (0, p_s, p_s)),
        ]
        layers += [nn.Tanh()] if last else [nn.BatchNorm3d(out_ch), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class ImaginatorGenerator(ModelMixin, ConfigMixin):
    """video (B, 3, F, H, W) in [-1, 1] = G(image (B, 3, H, W) in [-1, 1], noise (B, noise_dim), classes).

    Args:
        sample_size: (H, W) of the frames, each a multiple of 16 (official 64x64).
        num_frames: F, a multiple of 16 (official 32).
        fps: frame rate of the training videos, the rate generated videos are written at.
        noise_dim: size of the motion noise z (official 512).
        appearance_dim: size of the encoder's appearance vector (official 100).
        num_classes: motion classes of the one-hot (UBC Fashion: 1).
        channels: base width ch of the encoder (ch..8ch) and decoder (8ch..ch) (official 64).
        mid_channels: widths between the temporal and the spatial conv of the five decoder blocks
            (official 4096, 3072, 1536, 768, 36).
    """

    @register_to_config
    def __init__(
        self,
        sample_size: Sequence[int] = (64, 64),
        num_frames: int = 32,
        fps: float = 30.0,
        noise_dim: int = 512,
        appearance_dim: int = 100,
        num_classes: int = 1,
        channels: int = 64,
        mid_channels: Sequence[int] = (4096, 3072, 1536, 768, 36),
    ):
        super().__init__()
        t0, bh, bw = check_geometry(sample_size, num_frames)
        if len(mid_channels) != 5 or min(mid_channels) < 1 or min(noise_dim, appearance_dim, channels) < 1:
            raise ImaginatorConfigError(f"mid_channels={tuple(mid_channels)} needs 5 positive widths; "
                                        "noise_dim, appearance_dim and channels must be >= 1")
        if num_classes < 1:
            raise ImaginatorConfigError(f"num_classes={num_classes}: give at least 1")
        ch, nc = channels, num_classes
        self.encoder = ImageEncoder(appearance_dim, ch, (bh, bw))
        up_t, up_s = (4, 2, 1), ((4, 4), 2, 1)  # double time / space
        self.blocks = nn.ModuleList([
            DecoderBlock(noise_dim + nc + appearance_dim, mid_channels[0], 8 * ch, (t0, 1, 0),
                         ((bh, bw), 1, 0)),  # 1x1x1 -> (F/16, H/16, W/16)
            DecoderBlock(16 * ch + nc, mid_channels[1], 4 * ch, up_t, up_s),
            DecoderBlock(8 * ch + nc, mid_channels[2], 2 * ch, up_t, up_s),
            DecoderBlock(4 * ch + nc, mid_channels[3], ch, up_t, up_s),
            DecoderBlock(2 * ch + nc, mid_channels[4], 3, up_t, up_s, last=True),
        ])

    def one_hot(self, batch: int, device: torch.device, classes: torch.Tensor | None = None) -> torch.Tensor:
        """(B, num_classes): `classes` (B,) as one-hot; None = class 0 (the only class of UBC Fashion)."""
        if classes is None:
            classes = torch.zeros(batch, dtype=torch.long, device=device)
        return nn.functional.one_hot(classes, self.config.num_classes).float()

    def forward(self, image: torch.Tensor, noise: torch.Tensor,
                classes: torch.Tensor | None = None) -> torch.Tensor:
        b = image.shape[0]
        if tuple(image.shape[1:]) != (3, *self.config.sample_size):
            raise ImaginatorConfigError(f"image shape {tuple(image.shape)}; this model takes (B, 3, "
                                        f"{self.config.sample_size[0]}, {self.config.sample_size[1]})")
        onehot = self.one_hot(b, image.device, classes).to(image.dtype)
        appearance, *skips = self.encoder(image)
        h = torch.cat([noise[:, :, None, None], onehot[:, :, None, None], appearance], dim=1)[:, :, None]
        for block, skip in zip(self.blocks[:-1], skips, strict=True):
            h = block(h)  # (B, C, T, H', W')
            t = h.shape[2]
            h = torch.cat([h, skip[:, :, None].expand(-1, -1, t, -1, -1),
                           onehot[:, :, None, None, None].expand(-1, -1, t, *h.shape[3:])], dim=1)
        return self.blocks[-1](h)

    @torch.no_grad()
    def generate(self, image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample one video per image: noise z ~ N(0, I) drawn from `generator`; (B, 3, F, H, W)."""
        # Drawn on the generator's device (a CPU generator gives the same videos on every device).
        noise = torch.randn((image.shape[0], self.config.noise_dim), generator=generator,
                            device=generator.device if generator is not None else image.device)
        return self(image, noise.to(image))
