"""FashionFlow (Islam et al. 2023): latent video diffusion from one fashion image, and its pipeline.

Model: `FashionFlowModel(**fashionflow_config(preset))`; training objectives `diffusion_loss` and
`interpolation_loss`; schedulers `make_noise_scheduler`; sampling loops in `sampling`; the user-facing
`FashionFlowPipeline` and `generate_video`.
"""

# diffusers' pipeline loader resolves a saved component ["ffbench.models.fashionflow", "FashionFlowModel"]
# by importing this module and checking the class against base classes looked up *in this module*.
from diffusers import ModelMixin, SchedulerMixin  # noqa: F401

from ffbench.models.fashionflow.config import fashionflow_config
from ffbench.models.fashionflow.generate import generate_video, generate_videos, load_pipeline
from ffbench.models.fashionflow.losses import diffusion_loss, interpolation_inputs, interpolation_loss
from ffbench.models.fashionflow.model import FashionFlowConfigError, FashionFlowModel
from ffbench.models.fashionflow.pipeline import FashionFlowPipeline, FashionFlowPipelineOutput
from ffbench.models.fashionflow.sampling import sample_interpolation, sample_keyframes, sample_per_frame
from ffbench.models.fashionflow.schedule import legacy_betas, make_noise_scheduler, switch_sampler

__all__ = [
    "FashionFlowConfigError",
    "FashionFlowModel",
    "FashionFlowPipeline",
    "FashionFlowPipelineOutput",
    "diffusion_loss",
    "fashionflow_config",
    "generate_video",
    "generate_videos",
    "interpolation_inputs",
    "interpolation_loss",
    "legacy_betas",
    "load_pipeline",
    "make_noise_scheduler",
    "sample_interpolation",
    "sample_keyframes",
    "sample_per_frame",
    "switch_sampler",
]
