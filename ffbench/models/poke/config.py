"""Poke presets: `official` (the paper's 64x64 fixed-length model) and `cpu` (scaled for this project's CI).

`official` reproduces the official `fixed_length_model.yaml` + `SkipSequenceModel` at 64x64: 10 frames
after x0, image encoder widths 128/256 (nf_first = max(32, 512 / 4)), bottleneck 512, poke encoder
32/64 with two residual blocks, 3x3 pokes: 39,110,819 generator parameters (the paper's 39.1M). Its
discriminators: PatchGAN 64 wide, 3 layers (2.76M) and the 3D ResNet-18 (26.55M).

`cpu` keeps every part and connection and divides the widths by 16 (the poke encoder's by 4), at the
cpu data preset's frames halved (64x48), 10 frames after x0 as the official model; generation rolls on
to the 16 frames of the cpu preset's clips.

The demo's run, `ffbench train poke --preset cpu --steps 300 --batch-size 4 --lr 1e-3 --threads 1` on the
synthetic cpu data (the flow cache of its 48 training videos included, about 6 s), took 222 s of CPU on a
shared 2-core machine: 200 reconstruction-only steps, then 100 with both discriminators. Its samples keep
the person in place, blurred (the static autoencoder reaches 21.5 dB PSNR at 64x48 in that time).
`ffbench generate DATA/shards/test --checkpoint RUN --frames 16` makes the cpu preset's 16-frame clips
(the poke from the real frames 0 -> 10, the GRU rolling on past its training horizon).
"""

from __future__ import annotations

from typing import Any

POKE_PRESETS: dict[str, dict[str, Any]] = {
    "official": dict(sample_size=(64, 64), num_frames=10, encoder_channels=(128, 256),
                     bottleneck_channels=512, poke_channels=(32, 64), poke_res_blocks=2, poke_size=3),
    "cpu": dict(sample_size=(64, 48), num_frames=10, encoder_channels=(8, 16), bottleneck_channels=32,
                poke_channels=(8, 16), poke_res_blocks=2, poke_size=3),
}

# Discriminator widths per preset (training only; not part of the saved generator).
DISCRIMINATOR_PRESETS: dict[str, dict[str, int]] = {
    "official": dict(patch_channels=64, patch_layers=3, temporal_channels=64, temporal_max_channels=256),
    "cpu": dict(patch_channels=16, patch_layers=3, temporal_channels=8, temporal_max_channels=32),
}

# 0-based step at which the discriminators join: the official 4000; the cpu preset's short runs (the demo's
# 300 steps) let them in after the reconstruction has taken shape. With R1 on both, a GAN step costs about
# 3.5 times a reconstruction-only step on the CPU.
GAN_START = {"official": 4000, "cpu": 200}

# The data preset (`--preset` of prepare/train) each Poke preset trains on by default.
DATA_PRESET_TO_POKE = {"paper": "official", "cpu": "cpu"}


def poke_config(preset: str = "official", **overrides: Any) -> dict[str, Any]:
    """Constructor arguments of `PokeModel` for a preset, with `overrides` applied."""
    if preset not in POKE_PRESETS:
        raise ValueError(f"unknown Poke preset {preset!r}; choose one of {', '.join(POKE_PRESETS)}")
    return {**POKE_PRESETS[preset], **overrides}
