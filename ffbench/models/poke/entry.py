"""Poke in the model registry: `ffbench train poke`, `ffbench generate SPLIT --checkpoint RUN` (the real
split: its pokes come from the ground-truth flow of the test videos, a privileged input every row of it
carries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ffbench.models.poke.sampler import PRIVILEGED_INPUT, PokeSampler
from ffbench.models.poke.training import EXPORT, TRAIN_DEFAULTS
from ffbench.models.registry import ModelEntry, ModelTypeError, register, reject_unused


def load(checkpoint: Path, device: str | torch.device = "cpu", **options: Any) -> PokeSampler:
    from ffbench.models.poke import PokeModel

    reject_unused("poke", options)
    try:
        model = PokeModel.from_pretrained(checkpoint)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ModelTypeError(f"--checkpoint {checkpoint} cannot be loaded as a Poke model: {err}") from err
    return PokeSampler(model.to(device))


def train(shards: str | Path, out: str | Path, config: Any, *, preset: str, resume: bool, progress: bool,
          num_workers: int, **options: Any):
    from ffbench.models.poke.training import PokeOptions, train_poke

    reject_unused("poke", options)
    return train_poke(shards, out, config, PokeOptions(preset=preset, num_workers=num_workers), resume=resume,
                      progress=progress)


def networks(size: str) -> dict[str, torch.nn.Module]:
    """The generator and both discriminators at `size` ("official": the paper's 64x64 model, or "cpu")."""
    from ffbench.models.poke import (
        DISCRIMINATOR_PRESETS,
        PatchDiscriminator,
        PokeModel,
        TemporalDiscriminator,
        poke_config,
    )

    config, d = poke_config(size), DISCRIMINATOR_PRESETS[size]
    return {"generator": PokeModel(**config),
            "patch_disc": PatchDiscriminator(d["patch_channels"], d["patch_layers"]),
            "temporal_disc": TemporalDiscriminator(config["num_frames"], config["sample_size"],
                                                   d["temporal_channels"], d["temporal_max_channels"])}


register(ModelEntry(
    name="poke",
    description="Poke (Blattmann et al., CVPR 2021): a poke of flow and a hierarchical ConvGRU rolling x0 on",
    load=load,
    train=train,
    class_names=("PokeModel",),
    export=EXPORT,
    privileged_input=PRIVILEGED_INPUT,
    train_defaults=TRAIN_DEFAULTS,
    networks=networks,
))
