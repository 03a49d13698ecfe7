"""Poke (Blattmann et al., CVPR 2021): a sparse "poke" of motion and a hierarchical ConvGRU that rolls x0
forward. Model `PokeModel(**poke_config(preset))`; discriminators and losses for training; pokes come from
`ffbench.datasets.pokes`.
"""

# diffusers resolves saved classes by looking up their base classes in the defining package.
from diffusers import ModelMixin  # noqa: F401

from ffbench.models.poke.config import DISCRIMINATOR_PRESETS, POKE_PRESETS, poke_config
from ffbench.models.poke.discriminators import PatchDiscriminator, TemporalDiscriminator
from ffbench.models.poke.losses import PyramidL1, VGGPerceptual, find_vgg19, perceptual_loss
from ffbench.models.poke.model import PERCEPTUAL_LOSSES, PokeConfigError, PokeModel

__all__ = [
    "DISCRIMINATOR_PRESETS",
    "PERCEPTUAL_LOSSES",
    "POKE_PRESETS",
    "PatchDiscriminator",
    "PokeConfigError",
    "PokeModel",
    "PyramidL1",
    "TemporalDiscriminator",
    "VGGPerceptual",
    "find_vgg19",
    "perceptual_loss",
    "poke_config",
]
