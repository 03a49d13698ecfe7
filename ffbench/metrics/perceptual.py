"""LPIPS (Zhang et al. 2018), VGG variant, from the `lpips` package with a verified ImageNet backbone.

LPIPS is two things: torchvision's ImageNet VGG16 (`vgg16-397923af.pth`, 528 MB) and the package's own
linear layers (`lpips/weights/v0.1/vgg.pth`, shipped inside the `lpips` wheel). The package would fetch
the backbone through torchvision on first use; here it is built without weights (`pnet_rand=True`) and
the backbone is loaded from, in order: `--lpips-vgg PATH`, torch's hub cache
(`$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth`), ffbench's weights cache, or a download when online
(sha256 prefix 397923af checked). Offline without the file, `WeightsError` names it: a randomly
initialised backbone is never used as LPIPS.

Input ranges: LPIPS expects [-1, 1] (`correct`); the DisCo script feeds `ToTensor()` output in [0, 1]
without `normalize=True` (`disco`), which `lpips_frames` reproduces when asked.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ffbench.fileio import sha256_file
from ffbench.metrics.weights import (
    WEIGHT_SOURCES,
    WeightsError,
    _download,
    _load_state_dict,
    default_cache_dir,
    is_offline,
)

VGG_FILE = WEIGHT_SOURCES["vgg16"].filename
# lpips' VGG16 slices end after these torchvision `features` indices (relu1_2, relu2_2, ... relu5_3).
SLICE_ENDS = (4, 9, 16, 23, 30)
# torchvision's VGG16 `features`: (index, in channels, out channels) of its 13 3x3 convolutions.
CONVS = ((0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256),
         (14, 256, 256), (17, 256, 512), (19, 512, 512), (21, 512, 512), (24, 512, 512), (26, 512, 512),
         (28, 512, 512))


@dataclass
class PerceptualModel:
    """A callable (in0, in1) -> (B, 1, 1, 1) distance plus what the rows must say about it."""

    net: nn.Module
    label: str
    sha256: str  # of the VGG16 backbone file
    lin_sha256: str  # of lpips' linear-layer file


def hub_checkpoint() -> Path:
    """Where torchvision keeps its download of the VGG16 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG_FILE


def resolve_vgg16(spec: str | None, cache_dir: str | Path | None = None, timeout: float = 60.0) -> Path:
    """The VGG16 backbone file: `spec` if given, else torch's hub cache, else ffbench's cache/download."""
    source = WEIGHT_SOURCES["vgg16"]
    if spec:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise WeightsError(f"--lpips-vgg {spec}: no such file; pass torchvision's {VGG_FILE} "
                               f"({source.url})")
        return path
    if hub_checkpoint().is_file():
        return hub_checkpoint()
    target = Path(cache_dir or default_cache_dir()) / VGG_FILE
    if target.is_file():
        return target
    fix = (f"Download {source.url} elsewhere and pass --lpips-vgg PATH (or put it in "
           f"{hub_checkpoint().parent}), or leave lpips out of --metric")
    if is_offline():
        raise WeightsError(f"lpips: {VGG_FILE} (torchvision's ImageNet VGG16, the LPIPS backbone) is not in "
                           f"{hub_checkpoint().parent} or {target.parent} and downloads are off (offline). "
                           f"{fix}")
    try:
        _download(source, target, timeout)
    except WeightsError as exc:
        raise WeightsError(f"lpips: could not fetch {VGG_FILE} ({str(exc).split(';')[0]}). {fix}") from None
    return target


def backbone_state(path: Path) -> dict[str, torch.Tensor]:
    """lpips' `net.sliceK.I.*` keys from a torchvision VGG16 state dict (`features.I.*`; the classifier,
    if present, is ignored). Raises WeightsError when the file is not a VGG16."""
    state = _load_state_dict(path, "--lpips-vgg")
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] != "features" or len(parts) != 3:
            continue
        index = int(parts[1])
        k = next(i for i, end in enumerate(SLICE_ENDS) if index < end) + 1
        out[f"net.slice{k}.{index}.{parts[2]}"] = value
    return out


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """lpips' trunk keys and tensor shapes for torchvision's VGG16."""
    out = {}
    for index, cin, cout in CONVS:
        k = next(i for i, end in enumerate(SLICE_ENDS) if index < end) + 1
        out[f"net.slice{k}.{index}.weight"] = (cout, cin, 3, 3)
        out[f"net.slice{k}.{index}.bias"] = (cout,)
    return out


def load_lpips(spec: str | None = None, cache_dir: str | Path | None = None) -> PerceptualModel:
    """LPIPS-VGG v0.1 with the ImageNet backbone from `resolve_vgg16`; strict key and shape checks."""
    import lpips

    path = resolve_vgg16(spec, cache_dir)
    backbone = backbone_state(path)
    expected = expected_shapes()
    wrong = sorted(k for k in expected if k not in backbone or tuple(backbone[k].shape) != expected[k])
    if wrong or len(backbone) != len(expected):
        raise WeightsError(f"--lpips-vgg {path}: not torchvision's VGG16 ({len(wrong)} of {len(expected)} "
                           f"backbone tensors missing or misshaped, e.g. {wrong[:3]}); pass {VGG_FILE} from "
                           f"{WEIGHT_SOURCES['vgg16'].url}")
    with warnings.catch_warnings():  # torchvision's deprecation notes about `pretrained=`
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="vgg", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    lin_path = Path(lpips.__file__).parent / "weights" / "v0.1" / "vgg.pth"
    model.load_state_dict(backbone, strict=False)
    model.eval().requires_grad_(False)
    return PerceptualModel(model, f"lpips-vgg v0.1 ({path.name} + lpips {lpips_version()} linear layers)",
                           sha256_file(path), sha256_file(lin_path))


def lpips_version() -> str:
    from importlib.metadata import version

    return version("lpips")


@torch.no_grad()
def lpips_frames(model: PerceptualModel, fake: np.ndarray, real: np.ndarray, variant: str,
                 batch_size: int = 8) -> np.ndarray:
    """Per-frame LPIPS of uint8 frames (F, H, W, 3) against (F, H, W, 3): float64 (F,).

    variant "correct" feeds [-1, 1] (what LPIPS was trained on); "disco" feeds [0, 1], as the DisCo
    script does.
    """
    if fake.shape != real.shape:
        raise ValueError(f"frame arrays differ: {fake.shape} vs {real.shape}")
    out = []
    for start in range(0, len(fake), batch_size):
        a, b = (torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).permute(0, 3, 1, 2)
                .float() / 255.0 for x in (fake, real))
        if variant == "correct":
            a, b = a * 2 - 1, b * 2 - 1
        elif variant != "disco":
            raise ValueError(f"variant must be 'correct' or 'disco', got {variant!r}")
        out.append(model.net(a, b).reshape(-1).double().numpy())
    return np.concatenate(out)
