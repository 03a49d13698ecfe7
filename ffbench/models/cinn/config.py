"""The cINN baseline's sizes: the official configuration and one that trains on a CPU in minutes.

`cinn_configs(name)` gives the constructor kwargs of the four parts, keyed "autoencoder",
"discriminators", "condition" and "flow", plus the stage-1 loss weights under "loss". `official` is the
public code's iPER setting (17-frame sequences: x0 and 16 generated frames at 64x64, z 64-d, c 128-d,
20 flow blocks): decoder 152,786,243 parameters, encoder 73,639,488, clip discriminator 37,750,336,
frame discriminator 2,766,529, condition ResNet-50 23,979,456 (torchvision's with InstanceNorm, plus the
head), flow 49,935,360. `cpu` keeps every part at narrow widths on the cpu data preset's frames
area-resized to 64x48 (16-frame clips, z 32-d, c 32-d, 20 flow blocks), in the same layout except that
the decoder has five blocks, not six (the head and four upsampling blocks, 64 -> 8 channels; none after
the last upsampling). One training step of the autoencoder with its discriminators takes about 0.9 s of
CPU time at batch 4 (1.6 s with the encoder and discriminators twice as wide and a sixth decoder block),
which is what fits `ffbench train cinn --preset cpu` into about 3 minutes.
"""

from __future__ import annotations

import copy

OFFICIAL = {
    "autoencoder": dict(
        sample_size=(64, 64), num_frames=17, fps=30.0, z_dim=64,
        encoder_channels=(64, 128, 256, 512, 512), encoder_strides_t=(1, 2, 2, 2),
        encoder_strides_s=(1, 2, 2, 2), encoder_blocks=2,
        decoder_channel_factor=64, decoder_channel_multipliers=(16, 16, 16, 8, 4, 2, 1),
        decoder_upsample=(True, True, True, True, False), spade_hidden=128, decoder_spectral_norm=True,
    ),
    "discriminators": dict(
        clip_channels=(64, 64, 128, 256, 512), clip_strides_t=(2, 2, 2, 2), clip_strides_s=(1, 1, 2, 2),
        clip_blocks=2, frame_ndf=64, frame_layers=3, spectral_norm=True,
    ),
    "condition": dict(
        sample_size=(64, 64), c_dim=128, stem_channels=64, block_out_channels=(256, 512, 1024, 2048),
        layers_per_block=(3, 4, 6, 3), bottleneck=True, decoder_channels=(512, 512, 256, 128, 64),
    ),
    "flow": dict(z_dim=64, c_dim=128, num_blocks=20, hidden_dim=512, hidden_depth=2, leaky_slope=0.9),
    "loss": dict(recon=10.0, perceptual=40.0, kl=1e-4, gan_clip=1.0, gan_frame=1.0, feature_matching=10.0,
                 gradient_penalty=10.0, clip_window=12, frame_samples=20),
}

CPU = {
    "autoencoder": dict(
        OFFICIAL["autoencoder"], sample_size=(64, 48), num_frames=16, z_dim=32,
        encoder_channels=(8, 8, 16, 32, 32), decoder_channel_factor=4, spade_hidden=16,
        decoder_channel_multipliers=(16, 16, 16, 8, 4, 2), decoder_upsample=(True, True, True, True),
    ),
    "discriminators": dict(
        OFFICIAL["discriminators"], clip_channels=(8, 8, 16, 32, 32), clip_blocks=1, frame_ndf=8,
    ),
    "condition": dict(
        sample_size=(64, 48), c_dim=32, stem_channels=16, block_out_channels=(16, 32, 64, 64),
        layers_per_block=(1, 1, 1, 1), bottleneck=False, decoder_channels=(64, 64, 32, 16),
    ),
    "flow": dict(OFFICIAL["flow"], z_dim=32, c_dim=32, hidden_dim=128),
    "loss": dict(OFFICIAL["loss"], clip_window=8, frame_samples=8),
}

CONFIGS = {"official": OFFICIAL, "cpu": CPU}
PARTS = ("autoencoder", "discriminators", "condition", "flow")


def cinn_configs(name: str) -> dict[str, dict]:
    """Constructor kwargs of every cINN part for size `name` ("official" or "cpu"); a deep copy."""
    try:
        return copy.deepcopy(CONFIGS[name])
    except KeyError:
        raise ValueError(f"unknown cINN size {name!r}; choose one of {', '.join(CONFIGS)}") from None
