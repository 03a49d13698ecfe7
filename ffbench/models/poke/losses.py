"""Poke's losses: perceptual reconstruction, latent dynamics, hinge GAN with R1 and feature matching.

Perceptual reconstruction (official `vgg_loss_agg`): the sum over [pixels, relu1_2, relu2_2, relu3_2,
relu4_2, relu5_2] of VGG-19 of the mean absolute difference, on ImageNet-normalised [0, 1] frames. It
needs torchvision's ImageNet VGG-19 file (`vgg19-dcbb9e9d.pth`). Without it, `PyramidL1` stands in:
the mean absolute difference of the frames and of their x/y gradients at five scales (halving each
time), summed; no weights, so nothing to download, but not the paper's loss, and every saved model and
result row says which one was used (`perceptual_loss` in the model config).

Latent dynamics (official `DynamicsLoss`): the MSE between the GRU states of step t and the image
encoder's features of real frame t, averaged over scales and steps.

GAN terms (official `GANTrainer`): hinge loss for the discriminators, an R1 penalty on real inputs
(sum of squared input gradients per sample, averaged), -mean(D(fake)) for the generator and an L1
feature-matching term between D's features of fake and real inputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ffbench.errors import UserError

VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet VGG-19 weights
VGG19_LAYERS = {3: "relu1_2", 8: "relu2_2", 13: "relu3_2", 22: "relu4_2", 31: "relu5_2"}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class PerceptualWeightsError(UserError, ValueError):
    """A VGG-19 weight file was asked for but cannot be used."""


class VGGPerceptual(nn.Module):
    """Official perceptual loss: loss(a, b) with a, b (N, 3, H, W) in [-1, 1] -> scalar. Frozen."""

    def __init__(self, state_dict: dict[str, torch.Tensor]):
        super().__init__()
        from torchvision.models import vgg19

        with torch.device("meta"):  # no random init of 143M parameters only to overwrite them
            features = vgg19(weights=None).features
        # Only the conv layers are used; the classifier's weights (if the file has them) are not needed.
        wanted = {k[len("features."):]: v for k, v in state_dict.items() if k.startswith("features.")}
        try:
            features.load_state_dict(wanted, assign=True)
        except RuntimeError as exc:
            raise PerceptualWeightsError(f"the VGG-19 weights do not fit torchvision's vgg19: {exc}") \
                from None
        self.features = features[: max(VGG19_LAYERS) + 1].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGPerceptual:  # the feature net always stays in eval mode
        return self

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std
        out = [x]
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG19_LAYERS:
                out.append(x)
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        pairs = zip(self._features(a), self._features(b), strict=True)
        return sum((fa - fb).abs().mean() for fa, fb in pairs)


class PyramidL1(nn.Module):
    """Weight-free stand-in: sum over `levels` scales of L1(frames) + L1(x/y gradients)."""

    def __init__(self, levels: int = 5):
        super().__init__()
        self.levels = levels

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        total = a.new_zeros(())
        for level in range(self.levels):
            if level:
                if min(a.shape[-2:]) < 4:
                    break
                a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
            d = a - b
            total = total + d.abs().mean() + (d[..., 1:, :] - d[..., :-1, :]).abs().mean() \
                + (d[..., :, 1:] - d[..., :, :-1]).abs().mean()
        return total


def find_vgg19(spec: str | None) -> Path | None:
    """The VGG-19 file to use: `spec` if it is a path (it must exist), else the torchvision file in the
    ffbench weights cache or torch's hub cache; None when `spec` is "none" or nothing is found."""
    if spec == "none":
        return None
    if spec not in (None, "", "auto"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise PerceptualWeightsError(f"--vgg {spec}: no such file; pass torchvision's {VGG19_FILE}, "
                                         "'auto' to look in the caches, or 'none' for the weight-free "
                                         "substitute")
        return path
    from ffbench.metrics.weights import default_cache_dir

    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    for candidate in (default_cache_dir() / VGG19_FILE, torch_home / "hub" / "checkpoints" / VGG19_FILE):
        if candidate.is_file():
            return candidate
    return None


def perceptual_loss(kind: str, vgg_path: str | Path | None = None) -> nn.Module:
    """The reconstruction loss module: "vgg19" (needs `vgg_path`) or "pyramid-l1"."""
    if kind == "pyramid-l1":
        return PyramidL1()
    if kind != "vgg19":
        raise ValueError(f"perceptual loss {kind!r}; choose vgg19 or pyramid-l1")
    if vgg_path is None:
        raise PerceptualWeightsError(f"the vgg19 perceptual loss needs torchvision's {VGG19_FILE}; "
                                     "pass --vgg PATH")
    try:
        state = torch.load(vgg_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise PerceptualWeightsError(f"cannot read VGG-19 weights {vgg_path}: {type(exc).__name__}: "
                                     f"{exc}") from None
    return VGGPerceptual(state)


def video_perceptual(loss: nn.Module, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean over frames of `loss` on (B, 3, T, H, W) clips (the official per-step loss, then mean): both
    losses here are means over all their elements, so one call on the B * T frames gives it."""
    b, c, t, h, w = fake.shape
    return loss(fake.transpose(1, 2).reshape(b * t, c, h, w), real.transpose(1, 2).reshape(b * t, c, h, w))


def latent_dynamics(states: list[list[torch.Tensor]], targets: list[list[torch.Tensor]]) -> torch.Tensor:
    """MSE of GRU states against the real frames' encoder features, mean over scales, then steps."""
    per_step = [torch.stack([F.mse_loss(s, t) for s, t in zip(ss, ts, strict=True)]).mean()
                for ss, ts in zip(states, targets, strict=True)]
    return torch.stack(per_step).mean()


def hinge_real(logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - logits).mean()


def hinge_fake(logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 + logits).mean()


def r1_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Mean over samples of the squared norm of d(sum logits)/d(inputs); `inputs` must require grad."""
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def feature_matching(fake: list[torch.Tensor], real: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the L1 distance between discriminator features of fake and real inputs."""
    return torch.stack([(f - r.detach()).abs().mean() for f, r in zip(fake, real, strict=True)]).mean()
