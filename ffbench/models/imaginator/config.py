"""ImaGINator presets: `official` (the official code's sizes) and `cpu` (small enough to train on a CPU).

`imaginator_config(name)` gives the constructor kwargs of the generator and the two discriminators. The
data preset a run trains on picks the model preset: `paper` data -> `official`, `cpu` data -> `cpu`.
"""

from __future__ import annotations

import inspect

from ffbench.presets import Preset, get_preset

# The official code's sizes: 32 frames at 64x64, z 512, appearance 100, ch 64, decoder middle widths
# 4096/3072/1536/768/36 (75.2M generator parameters with one class; the official six classes add 0.2M).
OFFICIAL = dict(sample_size=(64, 64), num_frames=32, noise_dim=512, appearance_dim=100, num_classes=1,
                channels=64, mid_channels=(4096, 3072, 1536, 768, 36))

# The cpu preset's 128x96 frames area-resized by 2 (aspect kept), 16 frames, every width scaled down.
# Measured on this project's 2-core CPU (one thread, batch 8): see `bench/baselines.py`.
CPU = dict(sample_size=(64, 48), num_frames=16, noise_dim=64, appearance_dim=32, num_classes=1,
           channels=16, mid_channels=(256, 192, 96, 48, 16))

PRESETS = {"official": OFFICIAL, "cpu": CPU}
DATA_TO_MODEL = {"paper": "official", "cpu": "cpu"}
DISC_KEYS = {"video": ("sample_size", "num_frames", "num_classes", "channels"),
             "image": ("sample_size", "channels")}


def model_preset_name(preset: Preset | str) -> str:
    """The model preset for a data preset (`paper` -> `official`, `cpu` -> `cpu`) or a model preset name."""
    name = preset.name if isinstance(preset, Preset) else preset
    if name in PRESETS:
        return name
    return DATA_TO_MODEL[get_preset(name).name]


def imaginator_config(preset: Preset | str = "official", **overrides) -> dict:
    """Constructor kwargs of `ImaginatorGenerator` for a model preset (`official`, `cpu`) or data preset
    (`paper`, `cpu`); the data preset also sets `fps`. `overrides` replace any of them."""
    from ffbench.models.imaginator.generator import ImaginatorGenerator

    config = dict(PRESETS[model_preset_name(preset)])
    if isinstance(preset, Preset) or preset in DATA_TO_MODEL:
        config["fps"] = (get_preset(preset) if isinstance(preset, str) else preset).fps
    known = set(inspect.signature(ImaginatorGenerator.__init__).parameters) - {"self"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown ImaginatorGenerator option(s) {unknown}; valid: "
                         f"{', '.join(sorted(known))}")
    config.update(overrides)
    return config


def discriminator_configs(generator_config: dict, channels: int | None = None) -> dict[str, dict]:
    """Constructor kwargs of the video and image discriminators matching a generator config (the official
    discriminators use the generator's base width ch)."""
    base = {**OFFICIAL, **generator_config}
    base["channels"] = channels or base["channels"]
    return {kind: {k: base[k] for k in keys} for kind, keys in DISC_KEYS.items()}
