"""cINNs in the model registry: `ffbench train cinn --stage autoencoder|condition|flow|all`,
`ffbench generate SPLIT --checkpoint RUN` (the run directory or its exported `model/` folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ffbench.models.cinn.training import EXPORT, TRAIN_DEFAULTS
from ffbench.models.registry import ModelEntry, register, reject_unused


def load(checkpoint: Path, device: str | torch.device = "cpu", **options: Any):
    """The sampler of a saved cINN model folder (`<run>/model`): u ~ N(0, I), z = cINN^-1(u | c(x0)),
    frames G(x0, z) after the condition frame x0."""
    from ffbench.models.cinn.saved import CINNSampler

    reject_unused("cinn", options)
    return CINNSampler(checkpoint, device)


def train(shards: str | Path, out: str | Path, config: Any, *, preset: str, resume: bool, progress: bool,
          num_workers: int, stage: str | None = None, **options: Any):
    """`ffbench train cinn`: `stage` autoencoder, condition, flow, or all (the default: the stages in order,
    skipping those already trained and resuming the one that stopped, with --resume)."""
    from ffbench.models.cinn.training import CINNOptions, train_cinn

    reject_unused("cinn", options)
    cinn = CINNOptions(preset=preset, stage="all" if stage is None else stage, num_workers=num_workers)
    return train_cinn(shards, out, config, cinn, resume=resume, progress=progress)


def networks(size: str) -> dict[str, torch.nn.Module]:
    """Every network at `size` ("official" or "cpu"): the autoencoder's decoder and encoder, both
    discriminators, the condition encoder, the image decoder that trains it (stage 2a only) and the flow."""
    from ffbench.models.cinn import (
        CINNAutoencoder,
        CINNConditionEncoder,
        CINNDiscriminators,
        CINNFlow,
        cinn_configs,
    )

    configs = cinn_configs(size)
    autoencoder = CINNAutoencoder(**configs["autoencoder"])
    discriminators = CINNDiscriminators(**configs["discriminators"])
    condition = CINNConditionEncoder(**configs["condition"])
    return {"decoder": autoencoder.decoder, "encoder": autoencoder.encoder,
            **{f"{name}_disc": module for name, module in discriminators.named_children()},
            "condition": condition.encoder, "condition_decoder": condition.decoder,
            "flow": CINNFlow(**configs["flow"])}


register(ModelEntry(
    name="cinn",
    description="cINNs (Dorkenwald et al., CVPR 2021): video VAE G(x0, z) + conditional INN from z to "
                "N(0, I) given c(x0)",
    load=load,
    train=train,
    class_names=("CINNModel",),
    export=EXPORT,
    train_defaults=TRAIN_DEFAULTS,
    networks=networks,
))
