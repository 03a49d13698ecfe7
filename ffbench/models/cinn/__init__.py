"""cINNs (Dorkenwald et al., CVPR 2021): stochastic image-to-video synthesis with a video autoencoder and a
conditional invertible network, the second baseline of the FashionFlow comparison.

Three parts trained in turn: `CINNAutoencoder` (stage 1, with `CINNDiscriminators`), the condition
encoder `CINNConditionEncoder` (stage 2a) and the flow `CINNFlow` (stage 2b); `sample_clips` draws videos.
Sizes: `cinn_configs("official" | "cpu")`; objectives in `losses`.
"""

from ffbench.models.cinn.autoencoder import CINNAutoencoder, resize_clip
from ffbench.models.cinn.condition import CINNConditionEncoder
from ffbench.models.cinn.config import cinn_configs
from ffbench.models.cinn.discriminators import CINNDiscriminators
from ffbench.models.cinn.flow import CINNFlow, flow_nll
from ffbench.models.cinn.losses import AutoencoderLossWeights
from ffbench.models.cinn.sampling import check_compatible, sample_clips

# Saved configs record a class by module path: record the package's public path.
for _cls in (CINNAutoencoder, CINNConditionEncoder, CINNDiscriminators, CINNFlow):
    _cls.__module__ = "ffbench.models.cinn"

__all__ = [
    "AutoencoderLossWeights",
    "CINNAutoencoder",
    "CINNConditionEncoder",
    "CINNDiscriminators",
    "CINNFlow",
    "check_compatible",
    "cinn_configs",
    "flow_nll",
    "resize_clip",
    "sample_clips",
]
