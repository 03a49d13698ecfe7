"""`EvalOptions`: everything `metrics.evaluate` needs besides the metric names and the two folders.

Built once by `ffbench eval` from its flags (or by a Python caller) and passed down whole: the families
read the fields they need (stylegan2-ada's `MetricOptions`), so no layer relays twenty arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffbench.metrics.bootstrap import DEFAULT_RESAMPLES

_WEIGHTS_OF = {"k400": "i3d", "imagenet": "i3d_vfid", "fid": "inception"}  # Protocol.weights -> field


@dataclass(frozen=True)
class EvalOptions:
    """How to score (the flags of `ffbench eval`).

    seeds: clip-start / IS-shuffle seeds; value = mean over seeds, std their standard deviation; the first
        seed also seeds the bootstrap.
    i3d, i3d_vfid, inception: weight files, None (the canonical file, cached or downloaded), "random", or
        an `Extractor` built once (the Python API); lpips_vgg: torchvision's vgg16-397923af.pth for LPIPS.
    batch_size, device: of the feature pass. cache_dir: feature cache (None: no cache); weights_dir:
        where downloaded weights are kept.
    protocols: replacements for named protocols (tests shrink the input size).
    max_items: cap on units per side (default: the protocol's own); recal_items: real units used to
        re-estimate BatchNorm statistics of random extractors.
    progress: show progress bars.
    paired_protocol: "correct" or "disco" (see `paired`); paired_frames: slice of generated frames.
    allow_missing: score paired metrics on the ids both folders have instead of refusing.
    bootstrap: resamples of the 95% intervals (0: none).
    stylegan_v_mirror: fvd-stylegan-v adds every real video mirrored, as StyleGAN-V's `--mirror 1`.
    resize_fake: resize generated videos of another size to their real video's (flagged) instead of
        refusing them.
    info: the torchrun process group (`ffbench.distributed.init_distributed`): every family splits its
        videos between the processes and gathers them in id order, so every value is the one-process
        value; None: one process.
    """

    seeds: tuple[int, ...] = (0,)
    i3d: Any = None
    i3d_vfid: Any = None
    inception: Any = None
    lpips_vgg: str | None = None
    batch_size: int = 8
    device: str = "cpu"
    cache_dir: str | Path | None = None
    weights_dir: str | Path | None = None
    protocols: Mapping[str, Any] = field(default_factory=dict)
    max_items: int | None = None
    recal_items: int = 64
    progress: bool = False
    paired_protocol: str = "correct"
    paired_frames: str = "1:"
    allow_missing: bool = False
    bootstrap: int = DEFAULT_RESAMPLES
    stylegan_v_mirror: bool = False
    resize_fake: bool = False
    info: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if not self.seeds:
            raise ValueError("seeds must hold at least one seed, e.g. --seeds 0")
        if self.bootstrap < 0:
            raise ValueError(f"--bootstrap {self.bootstrap}: give 0 (no intervals) or a number of resamples")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size {self.batch_size}: give 1 or more")
        from ffbench.metrics.paired import VARIANTS, parse_frames

        if self.paired_protocol not in VARIANTS:
            raise ValueError(f"--paired-protocol {self.paired_protocol!r}: choose one of "
                             f"{', '.join(VARIANTS)}")
        parse_frames(self.paired_frames)  # a ValueError naming --paired-frames

    @property
    def seed(self) -> int:
        """The bootstrap seed (the first of `seeds`)."""
        return self.seeds[0]

    def weights_for(self, protocol) -> Any:
        """The extractor option a network protocol reads (i3d, i3d_vfid or inception)."""
        return getattr(self, _WEIGHTS_OF[protocol.weights])

    def replace(self, **changes: Any) -> EvalOptions:
        """A copy with some fields changed; a TypeError names an unknown field."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"EvalOptions has no option {unknown[0]!r}; options: "
                            f"{', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes)
