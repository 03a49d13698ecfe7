"""The named metric protocols, frozen and recorded as JSON in every result row.

- fvd: I3D Kinetics-400; one 16-frame clip per video; 224x224 stretch, [-1, 1]; 400 logits averaged
  over time; up to 2048 clips per side; Frechet distance.
- kvd: the fvd features; unbiased polynomial-kernel MMD^2.
- vfid: I3D rgb_imagenet; the first 60 frames, one vector per video; native size, [0, 1]; 1024-d
  Mixed_5c average; Frechet distance.
- fid: Inception-v3 (FID weights); every frame; 299x299, [0, 1]; 2048-d pool; Frechet distance.
- is: the same Inception; every frame; softmax of the 1008 logits; 10 splits after a seeded shuffle.
- fvd-stylegan-v: the fvd features sampled as StyleGAN-V's `calc_metrics_for_dataset.py` does (the code the
  FashionFlow paper's numbers came from): real clips at a random offset, generated clips from frame 0,
  N = min(items, 2048) per side, optionally every real video a second time mirrored (`--mirror 1` in its
  README command), covariance divided by N. See `fvd_variants`.
- fvd-cdfvd: the fvd features sampled as the cd-fvd package does with I3D: one random clip per real
  video, generated videos cycled (new random clips) until 2048 clips, short side resized to 256
  (antialiased), centre crop, uint8, then a 224x224 stretch; covariance divided by N.

Clip starts (fvd/kvd) are drawn per video from a generator seeded with (seed, video index), so they
are reproducible and change with `--seeds`. `max_items` caps the number of clips/videos per side.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    name: str
    network: str  # "i3d" | "inception"
    weights: str  # "k400" | "imagenet" | "fid": which published weights the numbers assume
    output: str  # "logits" | "pool" | "probs"
    unit: str  # "clip" (one window per video) | "video" (first `frames`) | "frame" (every frame)
    distance: str  # "frechet" | "kernel" | "inception_score"
    frames: int | None  # frames per clip / video; None: every frame
    size: tuple[int, int] | None  # (H, W) after a bilinear stretch; None: native size
    value_range: tuple[float, float]  # pixel values fed to the network
    max_items: int | None = None  # per side
    splits: int = 10  # Inception Score splits
    bn_eps: float | None = None  # I3D BatchNorm epsilon matching the weights' port
    sampling: str = "ffbench"  # "ffbench" | "stylegan-v" | "cdfvd": which clips each side contributes
    mirror: bool = False  # stylegan-v only: every real video a second time, flipped left-right
    covariance: str = "unbiased"  # "unbiased" (N - 1) | "biased" (N, as StyleGAN-V and cd-fvd)

    family = "distribution"

    def feature_spec(self) -> dict:
        """What determines the features (not the distance): fvd and kvd share one cache entry."""
        spec = dataclasses.asdict(self)
        for key in ("name", "distance", "splits", "output", "covariance"):
            spec.pop(key)
        return spec

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def replace(self, **changes) -> Protocol:
        """A copy with some fields changed (tests use smaller inputs)."""
        return dataclasses.replace(self, **changes)


PROTOCOLS: dict[str, Protocol] = {
    "fvd": Protocol("fvd", "i3d", "k400", "logits", "clip", "frechet", frames=16, size=(224, 224),
                    value_range=(-1.0, 1.0), max_items=2048, bn_eps=1e-5),
    "kvd": Protocol("kvd", "i3d", "k400", "logits", "clip", "kernel", frames=16, size=(224, 224),
                    value_range=(-1.0, 1.0), max_items=2048, bn_eps=1e-5),
    "vfid": Protocol("vfid", "i3d", "imagenet", "pool", "video", "frechet", frames=60, size=None,
                     value_range=(0.0, 1.0), bn_eps=1e-3),
    "fid": Protocol("fid", "inception", "fid", "pool", "frame", "frechet", frames=None, size=(299, 299),
                    value_range=(0.0, 1.0)),
    "is": Protocol("is", "inception", "fid", "probs", "frame", "inception_score", frames=None,
                   size=(299, 299), value_range=(0.0, 1.0), splits=10),
    "fvd-stylegan-v": Protocol("fvd-stylegan-v", "i3d", "k400", "logits", "clip", "frechet", frames=16,
                               size=(224, 224), value_range=(-1.0, 1.0), max_items=2048, bn_eps=1e-5,
                               sampling="stylegan-v", covariance="biased"),
    "fvd-cdfvd": Protocol("fvd-cdfvd", "i3d", "k400", "logits", "clip", "frechet", frames=16,
                          size=(224, 224), value_range=(-1.0, 1.0), max_items=2048, bn_eps=1e-5,
                          sampling="cdfvd", covariance="biased"),
}
# Which metrics exist, their family, direction and order: `registry` (each declared beside its code).
FEATURE_DIMS = {"logits": 400, "pool_i3d": 1024, "pool_inception": 2048, "probs": 1008}


def feature_dim(protocol: Protocol) -> int:
    if protocol.output == "pool":
        return FEATURE_DIMS["pool_i3d" if protocol.network == "i3d" else "pool_inception"]
    return FEATURE_DIMS[protocol.output]


_LEGACY = {  # names older callers import from here, now read from the registry
    "METRICS": lambda r: tuple(r.metric_names()),
    "FVD_ALL": lambda r: tuple(r.groups()["fvd-all"]),
    "PAIRED": lambda r: tuple(s.name for s in r.specs() if s.family == "paired"),
    "DIAGNOSTICS": lambda r: tuple(s.name for s in r.specs() if s.family == "diagnostic"),
    "FLOW_DISTRIBUTION": lambda r: tuple(s.name for s in r.specs() if s.runner == "flow-distance"),
    "WEIGHT_FREE": lambda r: tuple(s.name for s in r.specs() if s.weight_free),
}


def __getattr__(name: str):
    if name in _LEGACY:
        from ffbench.metrics import registry

        return _LEGACY[name](registry)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
