"""ImaGINator (Wang et al., WACV 2020), the image-to-video GAN baseline: generator, discriminators, presets.

`ImaginatorGenerator(**imaginator_config("cpu"))`; the discriminators from `discriminator_configs`;
training in `ffbench.models.imaginator.training`; `ffbench generate --checkpoint <run>/generator` samples it.
"""

from ffbench.models.imaginator.config import discriminator_configs, imaginator_config, model_preset_name
from ffbench.models.imaginator.discriminators import ImageDiscriminator, VideoDiscriminator
from ffbench.models.imaginator.generator import ImaginatorConfigError, ImaginatorGenerator

__all__ = [
    "ImageDiscriminator",
    "ImaginatorConfigError",
    "ImaginatorGenerator",
    "VideoDiscriminator",
    "discriminator_configs",
    "imaginator_config",
    "model_preset_name",
]
