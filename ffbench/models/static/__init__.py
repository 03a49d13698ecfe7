"""`static`: the conditioning frame repeated, no training. The floor every method must beat on the
motion-aware metrics (a frozen video has perfect frame quality and no motion)."""

from ffbench.models.static.sampler import StaticSampler

__all__ = ["StaticSampler"]
