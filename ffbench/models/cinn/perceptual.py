"""LPIPS for the cINN losses, when its weights are present: the metrics package's LPIPS-VGG (verified
ImageNet backbone), used as a differentiable distance. Without the module or its weights the term is left
out, and why is recorded in the run's config.json and the exported model_index.json."""

from __future__ import annotations

from collections.abc import Callable

import torch

Perceptual = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def load_perceptual(spec: str | None = None, device: str | torch.device = "cpu"
                    ) -> tuple[Perceptual | None, dict[str, str | bool]]:
    """(distance (N, 3, H, W) x2 in [-1, 1] -> (N,), note) or (None, note saying why it is left out).

    `spec`: the VGG16 backbone file (torchvision's vgg16-397923af.pth); None searches the usual places.
    """
    try:
        from ffbench.metrics.perceptual import load_lpips
    except ImportError:
        return None, {"lpips": False, "lpips_note": "left out: ffbench has no LPIPS module "
                                                    "(ffbench.metrics.perceptual)"}
    from ffbench.errors import UserError

    try:
        model = load_lpips(spec)
    except UserError as err:  # WeightsError: the VGG16 backbone is not available offline
        return None, {"lpips": False, "lpips_note": f"left out: {err}"}
    net = model.net.to(device)

    def distance(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return net(prediction, target).reshape(-1)

    return distance, {"lpips": True, "lpips_note": model.label, "lpips_sha256": model.sha256}
