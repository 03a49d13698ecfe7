"""Stage 1 of the cINN baseline: a video VAE whose decoder is conditioned on the first frame.

`CINNAutoencoder.encode(frames)` maps the frames after x0 to a diagonal Gaussian over the motion code z
(a 3D ResNet-18, as the official `stage1_VAE/modules/resnet3D.Encoder`); `decode(x0, z)` is the
SPADE/AdaIN generator of `decoder.py`. Trained with L1, LPIPS, a small KL term and hinge GANs on clips
and frames (`losses.py`); afterwards the encoder is frozen and its posterior is what the cINN learns to
map to a standard normal given x0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ffbench.models.cinn.decoder import VideoDecoder
from ffbench.models.cinn.layers import ResNet3d
from ffbench.models.loading import LoadAlignedMixin


def _downsampled(n: int, strides: Sequence[int]) -> int:
    for stride in strides:
        n = math.ceil(n / stride)
    return n


class VideoEncoder(nn.Module):
    """3D ResNet of the frames after x0 to the mean and log-variance of z.

    forward(frames (B, 3, T, H, W)) -> mu, logvar (B, z_dim). The last stage's map is averaged over
    whatever time is left (one step at the official 16 frames) and a conv with the map's spatial size as
    kernel (4x4 official) gives each statistic, as the official `conv_mu` / `conv_var`.
    """

    def __init__(self, frames: int, height: int, width: int, z_dim: int, channels: Sequence[int],
                 strides_t: Sequence[int], strides_s: Sequence[int], blocks: int = 2):
        super().__init__()
        self.resnet = ResNet3d(channels, strides_t, strides_s, blocks=blocks, stem_stride_t=2)
        # every conv (stem 3x7x7 / pad 1,3,3 and 3x3x3 / pad 1) maps a length n to ceil(n / stride)
        h, w = (_downsampled(n, (2, *strides_s)) for n in (height, width))
        self.conv_mu = nn.Conv2d(channels[-1], z_dim, (h, w))
        self.conv_logvar = nn.Conv2d(channels[-1], z_dim, (h, w))
        for module in self.resnet.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.resnet(frames)[-1].mean(dim=2)
        return self.conv_mu(feature).flatten(1), self.conv_logvar(feature).flatten(1)


class CINNAutoencoder(LoadAlignedMixin, ModelMixin, ConfigMixin):
    """The video VAE: frames after x0 -> q(z | frames), and G(x0, z) -> frames.

    A clip here is `num_frames` frames (B, 3, num_frames, H, W) in [-1, 1]: frame 0 is the conditioning
    image x0, the other `num_frames - 1` are what the encoder sees and the decoder makes (the official
    configs: 17-frame sequences, 16 generated frames at 64x64).

    Args:
        sample_size: (H, W) of the frames.
        num_frames: frames per clip including x0.
        fps: frame rate of the training videos (written videos use it).
        z_dim: motion code width (64 official).
        encoder_channels, encoder_strides_t, encoder_strides_s, encoder_blocks: the 3D ResNet (stem width
            first, then one entry per stage).
        decoder_channel_factor, decoder_channel_multipliers, decoder_upsample, spade_hidden,
        decoder_spectral_norm: the generator (see `VideoDecoder`).
    """

    @register_to_config
    def __init__(
        self,
        sample_size: Sequence[int] = (64, 64),
        num_frames: int = 17,
        fps: float = 30.0,
        z_dim: int = 64,
        encoder_channels: Sequence[int] = (64, 128, 256, 512, 512),
        encoder_strides_t: Sequence[int] = (1, 2, 2, 2),
        encoder_strides_s: Sequence[int] = (1, 2, 2, 2),
        encoder_blocks: int = 2,
        decoder_channel_factor: int = 64,
        decoder_channel_multipliers: Sequence[int] = (16, 16, 16, 8, 4, 2, 1),
        decoder_upsample: Sequence[bool] = (True, True, True, True, False),
        spade_hidden: int = 128,
        decoder_spectral_norm: bool = True,
    ):
        super().__init__()
        if len(sample_size) != 2 or min(sample_size) < 1:
            raise ValueError(f"sample_size={sample_size!r}; give the frame (height, width)")
        if num_frames < 2:
            raise ValueError(f"num_frames={num_frames}; a clip needs x0 and at least one frame after it")
        height, width = sample_size
        self.encoder = VideoEncoder(num_frames - 1, height, width, z_dim, encoder_channels,
                                    encoder_strides_t, encoder_strides_s, encoder_blocks)
        self.decoder = VideoDecoder(num_frames - 1, height, width, z_dim, decoder_channel_factor,
                                    decoder_channel_multipliers, decoder_upsample, spade_hidden,
                                    decoder_spectral_norm)

    def _check_clip(self, clip: torch.Tensor, name: str, frames: int) -> None:
        want = (3, frames, *self.config.sample_size)
        if clip.ndim != 5 or tuple(clip.shape[1:]) != want:
            dims = ", ".join(map(str, want))
            raise ValueError(f"{name} has shape {tuple(clip.shape)}; expected (B, {dims})")

    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | frames): frames (B, 3, num_frames - 1, H, W) -> mu, logvar (B, z_dim)."""
        self._check_clip(frames, "frames", self.config.num_frames - 1)
        return self.encoder(frames)

    def decode(self, x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """G(x0, z): x0 (B, 3, H, W), z (B, z_dim) -> frames after x0 (B, 3, num_frames - 1, H, W)."""
        want = (3, *self.config.sample_size)
        if x0.ndim != 4 or tuple(x0.shape[1:]) != want:
            raise ValueError(f"x0 has shape {tuple(x0.shape)}; expected (B, {', '.join(map(str, want))})")
        return self.decoder(x0, z)

    def forward(self, clip: torch.Tensor, generator: torch.Generator | None = None):
        """Reconstruct a clip: clip (B, 3, num_frames, H, W) -> (reconstruction of frames 1.. (B, 3,
        num_frames - 1, H, W), z, mu, logvar), with z = mu + sigma * eps drawn from `generator`."""
        self._check_clip(clip, "clip", self.config.num_frames)
        mu, logvar = self.encoder(clip[:, :, 1:])
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decoder(clip[:, :, 0], z), z, mu, logvar


def resize_clip(clip: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Area-resize every frame of clip (B, C, F, H, W) to (h, w) = size (bilinear when enlarging)."""
    b, c, f, h, w = clip.shape
    if (h, w) == tuple(size):
        return clip
    frames = clip.transpose(1, 2).reshape(b * f, c, h, w)
    mode = "area" if size[0] <= h and size[1] <= w else "bilinear"
    frames = F.interpolate(frames, size=tuple(size), mode=mode, **({} if mode == "area" else
                                                                  {"align_corners": False}))
    return frames.reshape(b, f, c, *size).transpose(1, 2)
