"""The cINN baseline's objectives, one function per term, composed per stage.

Stage 1 (video autoencoder; official `stage1_VAE/modules/loss.py`, iPER config):
    L_AE = 10 L1 + 40 LPIPS + 1e-4 KL + hinge_G(clip D) + 10 feature-matching L1(clip D) + hinge_G(frame D)
    L_D  = hinge_D(clip D) + 10 gradient penalty on real clips + hinge_D(frame D)
The clip discriminator sees `clip_window` (12) consecutive frames at a random offset, the frame
discriminator `frame_samples` (20) frames drawn at random from the batch; the same views serve the
discriminator and the generator update of one step. LPIPS enters only when its weights are present; the
GAN terms can be switched off (smoke tests, and the official `pretrain` warm-up).
Stage 2a (condition encoder): L1 (+ LPIPS) + a small KL. Stage 2b (flow): the exact NLL (`flow_nll`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

# perceptual(prediction (N, 3, H, W), target (N, 3, H, W)) in [-1, 1] -> distance per image (N,)
Perceptual = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AutoencoderLossWeights:
    """Weights of the stage-1 terms (official iPER values) and the discriminators' views."""

    recon: float = 10.0  # L1
    perceptual: float = 40.0  # LPIPS (dropped when no LPIPS weights are available)
    kl: float = 1e-4
    gan_clip: float = 1.0
    gan_frame: float = 1.0
    feature_matching: float = 10.0
    gradient_penalty: float = 10.0
    clip_window: int = 12  # consecutive frames the clip discriminator sees
    frame_samples: int = 20  # random frames per batch the frame discriminator sees

    def to_dict(self) -> dict:
        return asdict(self)


def _floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: float(value.detach()) for name, value in terms.items()}


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over dimensions, averaged over the batch."""
    return (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)).mean()


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean())


def hinge_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def feature_matching(fake: list[torch.Tensor], real: list[torch.Tensor]) -> torch.Tensor:
    """Mean over discriminator stages of the L1 distance between fake and real features."""
    return sum((f - r).abs().mean() for f, r in zip(fake, real, strict=True)) / len(fake)


def gradient_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """E_b |d mean(logits) / d inputs_b|^2 on real inputs (the official R1-style penalty)."""
    (grad,) = torch.autograd.grad(logits.mean(), inputs, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


@dataclass(frozen=True)
class Views:
    """Which parts of a (B, 3, T, H, W) clip each discriminator sees in one step."""

    start: int  # first frame of the clip discriminator's window
    length: int
    frames: torch.Tensor  # (N,) flat indices into the B * T frames

    @classmethod
    def draw(cls, batch: int, frames: int, weights: AutoencoderLossWeights,
             generator: torch.Generator | None) -> Views:
        length = min(weights.clip_window, frames)
        device = generator.device if generator is not None else None
        start = int(torch.randint(0, frames - length + 1, (1,), generator=generator, device=device))
        picks = torch.randint(0, batch * frames, (weights.frame_samples,), generator=generator, device=device)
        return cls(start, length, picks.cpu())

    def window(self, clip: torch.Tensor) -> torch.Tensor:
        return clip[:, :, self.start: self.start + self.length]

    def pick_frames(self, clip: torch.Tensor) -> torch.Tensor:
        flat = clip.transpose(1, 2).flatten(0, 1)  # (B * T, 3, H, W)
        return flat[self.frames.to(flat.device)]


def discriminator_loss(discriminators, real: torch.Tensor, fake: torch.Tensor, views: Views,
                       weights: AutoencoderLossWeights) -> tuple[torch.Tensor, dict[str, float]]:
    """L_D for real and generated frames after x0 (B, 3, T, H, W); `fake` is detached here."""
    fake = fake.detach()
    real_window = views.window(real).detach().requires_grad_(weights.gradient_penalty > 0)
    real_logits, _, real_patch = discriminators(real_window, views.pick_frames(real))
    fake_logits, _, fake_patch = discriminators(views.window(fake), views.pick_frames(fake))
    d_clip, d_frame = hinge_d_loss(real_logits, fake_logits), hinge_d_loss(real_patch, fake_patch)
    loss = d_clip + d_frame
    logs = _floats({"d_clip": d_clip, "d_frame": d_frame, "logits_real_clip": real_logits.mean(),
                    "logits_fake_clip": fake_logits.mean()})
    if weights.gradient_penalty > 0:
        gp = gradient_penalty(real_logits, real_window)
        loss = loss + weights.gradient_penalty * gp
        logs["gradient_penalty"] = float(gp.detach())
    return loss, logs


def reconstruction_terms(recon: torch.Tensor, real: torch.Tensor, perceptual: Perceptual | None
                         ) -> dict[str, torch.Tensor]:
    """L1 and (when `perceptual` is given) LPIPS averaged over every frame; clips are (B, 3, T, H, W) or
    images (B, 3, H, W)."""
    terms = {"l1": (recon - real).abs().mean()}
    if perceptual is not None:
        flat = (lambda x: x.transpose(1, 2).flatten(0, 1)) if recon.ndim == 5 else (lambda x: x)
        terms["lpips"] = perceptual(flat(recon), flat(real)).mean()
    return terms


def autoencoder_loss(recon: torch.Tensor, real: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                     weights: AutoencoderLossWeights, *, discriminators=None, views: Views | None = None,
                     perceptual: Perceptual | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """L_AE for recon and real frames after x0 (B, 3, T, H, W); GAN terms only when `discriminators` is
    given (the discriminators' own weights get gradients too: zero them before their update)."""
    terms = reconstruction_terms(recon, real, perceptual)
    terms["kl"] = kl_divergence(mu, logvar)
    loss = weights.recon * terms["l1"] + weights.kl * terms["kl"]
    if "lpips" in terms:
        loss = loss + weights.perceptual * terms["lpips"]
    if discriminators is not None:
        fake_logits, fake_features, fake_patch = discriminators(views.window(recon), views.pick_frames(recon))
        with torch.no_grad():  # called whole, not `.clip`: `discriminators` may be a DDP wrapper
            _, real_features, _ = discriminators(views.window(real), views.pick_frames(real)[:1])
        terms["g_clip"] = hinge_g_loss(fake_logits)
        terms["g_frame"] = hinge_g_loss(fake_patch)
        terms["feature_matching"] = feature_matching(fake_features, real_features)
        loss = loss + (weights.gan_clip * terms["g_clip"] + weights.gan_frame * terms["g_frame"]
                       + weights.feature_matching * terms["feature_matching"])
    return loss, _floats(terms)


def condition_loss(recon: torch.Tensor, image: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
                   kl_weight: float, perceptual: Perceptual | None = None
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """The condition encoder's image VAE loss: L1 (+ LPIPS) + kl_weight KL, images (B, 3, H, W)."""
    terms = reconstruction_terms(recon, image, perceptual)
    terms["kl"] = kl_divergence(mean, logvar)
    loss = terms["l1"] + terms.get("lpips", 0.0) + kl_weight * terms["kl"]
    return loss, _floats(terms)
