"""Video metrics: FVD, KVD, VFID-I3D, FID and IS over one Frechet distance and one statistics accumulator,
paired metrics (PSNR, SSIM, L1, LPIPS) and weight-free diagnostics.

On folders: `ffbench.metrics.evaluate.evaluate(metrics, real, fake, ...)` (what `ffbench eval` runs).
On arrays and tensors: the functions below (`functional`), e.g. `ffbench.metrics.fvd(real, fake,
extractor=...)`, and the streaming `VideoMetrics` (`streaming`: update with batches, compute). Protocols in
`protocols`, extractors and their weights in `i3d`, `inception` and `weights`.

The API names are imported on first use, so `import ffbench.metrics` stays cheap (no torch).
"""

from __future__ import annotations

import importlib
import importlib.util

_FUNCTIONAL = ("fvd", "fvd_stylegan_v", "fvd_cdfvd", "kvd", "vfid", "fid", "is_", "fvmd_flow",
               "psnr", "ssim", "l1", "lpips", "motion", "colour_drift", "saturation_drift", "detail_drift",
               "flicker", "build_extractor", "Score")
_STREAMING = ("VideoMetrics",)
__all__ = [*_FUNCTIONAL, *_STREAMING]


def __getattr__(name: str):
    if name in _FUNCTIONAL or name in _STREAMING:
        module = importlib.import_module("ffbench.metrics." + ("functional" if name in _FUNCTIONAL else
                                                               "streaming"))
        return getattr(module, name)
    # A metric a plugin registered (`registry`): its array function, built from its declaration. Submodule
    # names are left to the import system.
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is None:
        registry = importlib.import_module("ffbench.metrics.registry")
        try:
            spec = next((s for s in registry.specs() if s.api_name == name), None)
        except ValueError:  # a plugin that fails to import: say so where it is used, not here
            spec = None
        if spec is not None:
            return importlib.import_module("ffbench.metrics.functional").metric_function(spec.name)
    raise AttributeError(f"module 'ffbench.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
