"""The network metrics' declarations: each one's protocol, distance and bootstrap interval.

`distribution` runs the feature pass (one per network and input settings) and calls these on the
extracted features (`features.Extraction`); they need numpy only, so the registry loads without torch.
The protocols themselves are the frozen records of `protocols.PROTOCOLS`.
"""

from __future__ import annotations

import numpy as np

from ffbench.metrics import bootstrap
from ffbench.metrics.frechet import frechet_distance_weighted
from ffbench.metrics.inception_score import inception_score
from ffbench.metrics.kernel import kernel_distance
from ffbench.metrics.protocols import PROTOCOLS, Protocol
from ffbench.metrics.registry import register_metric


def _ddof(protocol: Protocol) -> int:
    return 0 if protocol.covariance == "biased" else 1


def frechet(protocol: Protocol, real, fake, seed: int) -> tuple[float, dict]:
    # From the kept features: with fewer units than dimensions (VFID, FID and FVD on test sets of a few
    # hundred videos) the exact sample-space route avoids eigen-decompositions of D x D matrices.
    x, y = real.features(protocol.output), fake.features(protocol.output)
    return frechet_distance_weighted(x, np.ones(len(x)), y, np.ones(len(y)), ddof=_ddof(protocol)), {}


def frechet_interval(protocol: Protocol, real, fake, seed: int, resamples: int,
                     splits: int) -> bootstrap.Interval:
    f, r = fake.features(protocol.output), real.features(protocol.output)
    return bootstrap.frechet_interval_checked(f, fake.video_index(), r, real.video_index(), resamples, seed,
                                              ddof=_ddof(protocol))


def kernel(protocol: Protocol, real, fake, seed: int) -> tuple[float, dict]:
    return kernel_distance(real.stats[protocol.output].features, fake.stats[protocol.output].features), {}


def kernel_interval(protocol: Protocol, real, fake, seed: int, resamples: int,
                    splits: int) -> bootstrap.Interval:
    f, r = fake.features(protocol.output), real.features(protocol.output)
    return bootstrap.kernel_interval_checked(f, fake.video_index(), r, real.video_index(), resamples, seed)


def inception(protocol: Protocol, real, fake, seed: int) -> tuple[float, dict]:
    probs = fake.stats[protocol.output].features
    splits = min(protocol.splits, len(probs))
    mean, split_std = inception_score(probs, splits=splits, shuffle_seed=seed)
    return mean, {"split_std": split_std, "splits": splits}


def inception_interval(protocol: Protocol, real, fake, seed: int, resamples: int,
                       splits: int) -> bootstrap.Interval:
    return bootstrap.inception_score_interval_checked(fake.features(protocol.output), fake.video_index(),
                                                      splits, resamples, seed)


_WEIGHTS = {"k400": "i3d", "imagenet": "i3d_vfid", "fid": "inception"}  # EvalOptions field of each


def _network(name: str, help: str, distance, interval, higher_is_better: bool = False, **fields) -> None:
    protocol = PROTOCOLS[name]
    register_metric(name, family="distribution", higher_is_better=higher_is_better, help=help,
                    runner="network", compute=distance, interval=interval, protocol=protocol,
                    weights=_WEIGHTS[protocol.weights], **fields)


_network("fvd", "FVD: Frechet distance of I3D (Kinetics-400) logits, one 16-frame clip per video, 224x224",
         frechet, frechet_interval, groups=("fvd-all",))
_network("fvd-stylegan-v", "FVD sampled as StyleGAN-V does (real clips at a random offset, generated from "
         "frame 0, covariance / N)", frechet, frechet_interval, groups=("fvd-all",), streamable=False)
_network("fvd-cdfvd", "FVD sampled as cd-fvd does (generated cycled to 2048 clips, short side 256 + centre "
         "crop, covariance / N)", frechet, frechet_interval, groups=("fvd-all",), streamable=False)
_network("kvd", "KVD: unbiased polynomial-kernel MMD^2 of the fvd features", kernel, kernel_interval)
_network("vfid", "VFID-I3D: Frechet distance of the rgb_imagenet I3D's 1024-d pool, first 60 frames",
         frechet, frechet_interval)
_network("fid", "per-frame FID with pytorch-fid's Inception (2048-d pool), every frame", frechet,
         frechet_interval)
_network("is", "Inception Score of the generated frames (softmax, 10 splits)", inception,
         inception_interval, higher_is_better=True, needs_real=False)
