"""Tiny cINN configurations shared by the cINN tests (channels 4-8, 5-frame clips at 16x12)."""

from __future__ import annotations

import torch

from ffbench.models.cinn import (
    CINNAutoencoder,
    CINNConditionEncoder,
    CINNDiscriminators,
    CINNFlow,
    cinn_configs,
)


def tiny_configs(size=(16, 12), frames=5, z_dim=8, c_dim=6) -> dict[str, dict]:
    cfg = cinn_configs("cpu")
    cfg["autoencoder"].update(sample_size=size, num_frames=frames, z_dim=z_dim,
                              encoder_channels=(4, 4, 8, 8, 8), decoder_channel_factor=2,
                              decoder_channel_multipliers=(4, 4, 4, 4, 2, 2, 2), spade_hidden=4,
                              decoder_upsample=(True, True, False, False, False))
    cfg["discriminators"].update(clip_channels=(4, 4, 4, 8, 8), frame_ndf=4, frame_layers=1)
    cfg["condition"].update(sample_size=size, c_dim=c_dim, stem_channels=4, block_out_channels=(4, 8),
                            layers_per_block=(1, 1),
                            decoder_channels=(8, 8, 4))
    cfg["flow"].update(z_dim=z_dim, c_dim=c_dim, num_blocks=4, hidden_dim=16)
    cfg["loss"].update(clip_window=3, frame_samples=4)
    return cfg


def tiny_models(seed: int = 0, **kwargs):
    cfg = tiny_configs(**kwargs)
    torch.manual_seed(seed)
    return (CINNAutoencoder(**cfg["autoencoder"]), CINNDiscriminators(**cfg["discriminators"]),
            CINNConditionEncoder(**cfg["condition"]), CINNFlow(**cfg["flow"]))


def random_clips(batch=2, frames=5, size=(16, 12), seed=0) -> torch.Tensor:
    """Smooth random clips in [-1, 1]: a blurred noise image drifting by a pixel per frame."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(batch, 3, size[0] + frames, size[1] + frames, generator=g)
    base = torch.nn.functional.avg_pool2d(noise, 3, stride=1, padding=1)
    clip = torch.stack([base[:, :, t: t + size[0], t: t + size[1]] for t in range(frames)], dim=2)
    return clip * 2 - 1
