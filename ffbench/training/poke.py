"""Poke training: the official alternating updates, one step at a time.

Every iteration, in the official order (`experiments/fixed_length_model.py`):

1. `static`: the image encoder and the decoder autoencode x0 under the perceptual loss;
2. the dynamics forward pass: from x0's features the GRU rolls T steps under the poke;
3. (after `gan_start` steps) `patch_disc` learns on random single frames, `temporal_disc` on whole clips
   (hinge loss + R1 on the real inputs), each right before its generator terms are computed;
4. `dynamics`: the poke encoder, the GRU and the decoder minimise
   perceptual * mean-over-frames reconstruction + latent * latent-dynamics
   + patch_gan * (-D_patch(fake)) + patch_fmap * FM_patch
   + temporal_gan * (-D_temp(fake)) + temporal_fmap * FM_temp.

The decoder belongs to both the static and the dynamics optimizer, as in the official code. Loss
weights default to the official fixed-length config (`fixed_length_model.yaml`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ffbench.models.poke.losses import (
    feature_matching,
    hinge_fake,
    hinge_real,
    latent_dynamics,
    r1_penalty,
    video_perceptual,
)

OPTIMIZER_PARTS = {
    "static": ("image_encoder", "decoder"),
    "dynamics": ("poke_encoder", "gru", "decoder"),
}


@dataclass(frozen=True)
class PokeLossWeights:
    """Loss weights and GAN schedule (defaults: the official fixed-length config)."""

    perceptual: float = 5.0  # vgg_dyn_weight
    latent: float = 0.1  # latent_dynamics_weight
    patch_gan: float = 1.0
    patch_fmap: float = 0.0
    patch_r1: float = 1e-4  # gan.gp_weight
    temporal_gan: float = 5.0
    temporal_fmap: float = 10.0
    temporal_r1: float = 0.1  # gan_temp.gp_weight
    gan_start: int = 4000  # iterations before the discriminators join (start_iteration)
    patch_examples: int = 16  # frames per side the patch discriminator sees per step (n_examples)


def parameters_of(model: nn.Module, role: str) -> list[nn.Parameter]:
    """Parameters of `model` that the `static` or `dynamics` optimizer updates."""
    return [p for part in OPTIMIZER_PARTS[role] for p in getattr(model, part).parameters()]


def make_optimizers(model: nn.Module, discriminators: dict[str, nn.Module], lr: float = 1e-4,
                    betas: tuple[float, float] = (0.9, 0.999)) -> dict[str, torch.optim.Optimizer]:
    """Adam for `static`, `dynamics` and each discriminator (official: lr 1e-4, torch's default betas)."""
    opts = {role: torch.optim.Adam(parameters_of(model, role), lr=lr, betas=betas)
            for role in OPTIMIZER_PARTS}
    opts.update({name: torch.optim.Adam(d.parameters(), lr=lr, betas=betas)
                 for name, d in discriminators.items()})
    return opts


def static_loss(model: nn.Module, perceptual: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Perceptual loss of x0 (B, 3, H, W) against its reconstruction through encoder and decoder."""
    return perceptual(model.decode(model.encode(image)), image)


def _discriminator_update(disc: nn.Module, opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
                          r1_weight: float) -> dict[str, float]:
    """One hinge-loss step of `disc` on real and (detached) fake inputs, R1 on the real ones."""
    opt.zero_grad(set_to_none=True)
    real = real.detach().requires_grad_(r1_weight > 0)
    real_logits, _ = disc(real)
    loss_real = hinge_real(real_logits)
    r1 = r1_penalty(real_logits, real) if r1_weight > 0 else real_logits.new_zeros(())
    fake_logits, _ = disc(fake.detach())
    loss_fake = hinge_fake(fake_logits)
    (loss_real + r1_weight * r1 + loss_fake).backward()
    opt.step()
    return {"d_loss": (loss_real + loss_fake).item() / 2, "r1": r1.item(),
            "p_real": torch.sigmoid(real_logits).mean().item(),
            "p_fake": torch.sigmoid(fake_logits).mean().item()}


def _generator_terms(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor, with_fmap: bool
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    fake_logits, fake_features = disc(fake)
    if not with_fmap:
        return -fake_logits.mean(), fake_logits.new_zeros(())
    with torch.no_grad():
        _, real_features = disc(real)
    return -fake_logits.mean(), feature_matching(fake_features, real_features)


def train_step(model: nn.Module, discriminators: dict[str, nn.Module],
               optimizers: dict[str, torch.optim.Optimizer], perceptual: nn.Module,
               batch: dict[str, torch.Tensor], step: int, weights: PokeLossWeights,
               generator: torch.Generator) -> dict[str, float]:
    """One official iteration (see the module docstring). `batch` as `ffbench.datasets.pokes.poke_batch`
    returns it: image (B, 3, H, W), poke (B, 2, H, W), target (B, 3, T, H, W). Returns the loss terms."""
    image, poke, target = batch["image"], batch["poke"], batch["target"]
    b, _, t, h, w = target.shape
    logs: dict[str, float] = {}

    # 1. static: autoencode x0
    loss_static = static_loss(model, perceptual, image)
    optimizers["static"].zero_grad(set_to_none=True)
    loss_static.backward()
    optimizers["static"].step()
    logs["static"] = loss_static.item()

    # 2. dynamics forward; the encoder is not a dynamics parameter, so its features can be detached
    with torch.no_grad():
        frames = torch.cat([image, target.transpose(1, 2).reshape(b * t, 3, h, w)])
        features = model.encode(frames)
    initial = [f[:b] for f in features]
    targets = [[f[b:].view(b, t, *f.shape[1:])[:, i] for f in features] for i in range(t)]
    fake, states = model.rollout(image, poke, t, features=initial)
    loss_rec = video_perceptual(perceptual, fake, target)
    loss_latent = latent_dynamics(states, targets)
    loss = weights.perceptual * loss_rec + weights.latent * loss_latent
    logs.update(reconstruction=loss_rec.item(), latent=loss_latent.item())

    # 3. discriminators, each updated right before its generator terms
    if step >= weights.gan_start:
        if "patch_disc" in discriminators:
            n = weights.patch_examples
            real_frames = target.transpose(1, 2).reshape(b * t, 3, h, w)
            fake_frames = fake.transpose(1, 2).reshape(b * t, 3, h, w)
            real_sel = real_frames[torch.randint(b * t, (n,), generator=generator)]
            fake_sel = fake_frames[torch.randint(b * t, (n,), generator=generator)]
            disc = discriminators["patch_disc"]
            d = _discriminator_update(disc, optimizers["patch_disc"], real_sel, fake_sel, weights.patch_r1)
            gen, fmap = _generator_terms(disc, real_sel, fake_sel, weights.patch_fmap > 0)
            loss = loss + weights.patch_gan * gen + weights.patch_fmap * fmap
            logs.update({f"patch_{k}": v for k, v in d.items()}, patch_gen=gen.item())
        if "temporal_disc" in discriminators:
            disc = discriminators["temporal_disc"]
            d = _discriminator_update(disc, optimizers["temporal_disc"], target, fake, weights.temporal_r1)
            gen, fmap = _generator_terms(disc, target, fake, weights.temporal_fmap > 0)
            loss = loss + weights.temporal_gan * gen + weights.temporal_fmap * fmap
            logs.update({f"temporal_{k}": v for k, v in d.items()}, temporal_gen=gen.item(),
                        temporal_fmap=fmap.item())

    # 4. dynamics update
    optimizers["dynamics"].zero_grad(set_to_none=True)
    loss.backward()
    optimizers["dynamics"].step()
    logs["dynamics"] = loss.item()
    return logs
