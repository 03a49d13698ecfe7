"""The CLIP + VAE adapter: global conditioning tokens from the conditioning image.

The image latent is max-pooled 2x2 and each of its channels flattened into one token, projected to
the CLIP width; the CLIP tokens and these latent tokens are then mixed across the token axis back to
as many tokens as CLIP gives. The mix starts as the identity on the CLIP tokens, so training starts
from plain CLIP conditioning (DreamPose's adapter, as FashionFlow uses it). At the reference size:
Linear(40*32=1280, 768) + Linear(54, 50) = 0.99M parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ImageAdapter(nn.Module):
    """clip (B, T, D), latent (B, C, h, w) -> tokens (B, T, D)."""

    def __init__(self, latent_channels: int, latent_size: tuple[int, int], clip_tokens: int, clip_dim: int):
        super().__init__()
        self.latent_size = tuple(latent_size)
        pooled = (latent_size[0] // 2) * (latent_size[1] // 2)
        self.latent_to_clip = nn.Linear(pooled, clip_dim)
        self.mix = nn.Linear(clip_tokens + latent_channels, clip_tokens)
        with torch.no_grad():
            self.mix.weight.copy_(torch.eye(clip_tokens, clip_tokens + latent_channels))
            self.mix.bias.zero_()

    def forward(self, clip: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        if tuple(latent.shape[-2:]) != self.latent_size:
            raise ValueError(
                f"cond_latent is {tuple(latent.shape[-2:])} (h, w) but the adapter was built for "
                f"{self.latent_size}: the model config's sample_size must match the latents"
            )
        latent_tokens = self.latent_to_clip(F.max_pool2d(latent, 2).flatten(2))  # (B, C, D)
        tokens = torch.cat([clip, latent_tokens.to(clip.dtype)], dim=1)  # (B, T + C, D)
        return self.mix(tokens.transpose(1, 2)).transpose(1, 2)
