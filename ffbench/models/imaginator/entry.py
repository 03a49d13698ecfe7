"""ImaGINator in the model registry: `ffbench train imaginator`, `ffbench generate --checkpoint RUN`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ffbench.models.imaginator.training import EXPORT, TRAIN_DEFAULTS
from ffbench.models.registry import ModelEntry, ModelTypeError, register, reject_unused


class ImaginatorSampler:
    """The registry's generator protocol over a trained `ImaginatorGenerator` (eval mode: BatchNorm uses
    its running statistics). It makes `num_frames` frames, its training clip length; asking for fewer
    keeps the first ones."""

    def __init__(self, model: Any) -> None:
        self.model = model.eval()
        self.size = tuple(model.config.sample_size)
        self.num_frames = self.max_frames = int(model.config.num_frames)
        self.fps = float(model.config.fps)
        self.settings = {"noise": f"N(0, I) of {model.config.noise_dim} dims", "class": 0}
        self.flags: list[str] = []

    def __call__(self, cond: torch.Tensor, num_frames: int, generator: torch.Generator,
                 real: torch.Tensor | None = None) -> torch.Tensor:
        param = next(self.model.parameters())
        return self.model.generate(cond.to(param), generator=generator)[:, :, :num_frames]


def load(checkpoint: Path, device: str | torch.device = "cpu", **options: Any) -> ImaginatorSampler:
    from ffbench.models.imaginator import ImaginatorGenerator

    reject_unused("imaginator", options)
    try:
        model = ImaginatorGenerator.from_pretrained(checkpoint, low_cpu_mem_usage=False)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ModelTypeError(f"--checkpoint {checkpoint} cannot be loaded as an ImaGINator generator: "
                             f"{err}") from err
    return ImaginatorSampler(model.to(device))


def train(shards: str | Path, out: str | Path, config: Any, *, preset: str, resume: bool, progress: bool,
          num_workers: int, **options: Any):
    from ffbench.models.imaginator.training import ImaginatorOptions, train_imaginator

    reject_unused("imaginator", options)
    return train_imaginator(shards, out, config, ImaginatorOptions(preset=preset, num_workers=num_workers),
                            resume=resume, progress=progress)


def networks(size: str) -> dict[str, torch.nn.Module]:
    """The generator and both discriminators at `size` ("official" or "cpu")."""
    from ffbench.models.imaginator import (
        ImageDiscriminator,
        ImaginatorGenerator,
        VideoDiscriminator,
        discriminator_configs,
        imaginator_config,
    )

    config = imaginator_config(size)
    discs = discriminator_configs(config)
    return {"generator": ImaginatorGenerator(**config), "video_disc": VideoDiscriminator(**discs["video"]),
            "image_disc": ImageDiscriminator(**discs["image"])}


register(ModelEntry(
    name="imaginator",
    description="ImaGINator (Wang et al., WACV 2020): image encoder + (2+1)D transposed-conv decoder GAN",
    load=load,
    train=train,
    class_names=("ImaginatorGenerator",),
    export=EXPORT,
    train_defaults=TRAIN_DEFAULTS,
    networks=networks,
))
