"""Poke training on the shared phase loop: the official alternating updates, pokes from the flow cache.

Modules (checkpoint file names): the generator's parts `image_encoder`, `poke_encoder`, `gru`, `decoder`
(one `PokeModel` holds them), `patch_disc`, `temporal_disc`. Phases, every step, in this order:

1. `static` (image encoder + decoder): autoencode x0 under the perceptual loss;
2. `dynamics` (poke encoder + GRU + decoder): roll x0's features forward under the poke and minimise
   perceptual * mean-over-frames reconstruction + latent * latent dynamics
   (+ from `gan_start`: patch_gan * (-D_patch(fake)) + patch_fmap * FM_patch
   + temporal_gan * (-D_temp(fake)) + temporal_fmap * FM_temp);
3. `patch_disc` (from `gan_start`): hinge + R1 on random single frames of the real and generated clips;
4. `temporal_disc` (from `gan_start`): hinge + R1 on whole clips.

The static and dynamics updates alternate as in the official code (`experiments/fixed_length_model.py`),
the decoder belonging to both optimizers. One difference in order: the official code updates each
discriminator before the dynamics loss reads it; here the dynamics loss reads the discriminators of the
previous step and they learn after it (on the same generated clip, the one made after the static
update), which saves a second roll-out per step. Loss weights default to the official fixed-length
config (`fixed_length_model.yaml`).

Batches: the pixel loader's clips of x0 + T frames at the model's size; each gets its cached flow
(`ffbench.datasets.pokes`) and a poke, drawn from an RNG seeded by (seed, rank, batch index), so a
resumed run sees the same pokes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
from ffbench.training.checkpoint import export_pretrained
from ffbench.training.config import TrainOptionError
from ffbench.training.loop import Phase, StepContext, TrainingSetup

log = logging.getLogger("ffbench.training")
EXPORT = "generator"
PARTS = ("image_encoder", "poke_encoder", "gru", "decoder")
OPTIMIZER_PARTS = {"static": ("image_encoder", "decoder"), "dynamics": ("poke_encoder", "gru", "decoder")}
# The official recipe: Adam (no weight decay), lr 1e-4, betas (0.9, 0.999), no gradient clipping, batch 10.
TRAIN_DEFAULTS = {"lr": 1e-4, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.0, "grad_clip": 0.0,
                  "batch_size": 10}


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
    gan_start: int = 4000  # 0-based step at which the discriminators join (start_iteration)
    patch_examples: int = 16  # frames per side the patch discriminator sees per step (n_examples)


def parameters_of(model: nn.Module, role: str) -> list[nn.Parameter]:
    """Parameters of `model` that the `static` or `dynamics` optimizer updates."""
    return [p for part in OPTIMIZER_PARTS[role] for p in getattr(model, part).parameters()]


def static_loss(model: nn.Module, perceptual: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Perceptual loss of x0 (B, 3, H, W) against its reconstruction through encoder and decoder."""
    return perceptual(model.decode(model.encode(image)), image)


def _frames(clip: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B * T, 3, H, W)."""
    b, c, t, h, w = clip.shape
    return clip.transpose(1, 2).reshape(b * t, c, h, w)


def _disc_loss(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor, r1_weight: float):
    """Hinge loss on real and (detached) fake inputs plus R1 on the real ones."""
    real = real.detach().requires_grad_(r1_weight > 0)
    real_logits, _ = disc(real)
    loss_real = hinge_real(real_logits)
    r1 = r1_penalty(real_logits, real) if r1_weight > 0 else real_logits.new_zeros(())
    loss_fake = hinge_fake(disc(fake.detach())[0])
    return loss_real + loss_fake + r1_weight * r1, {"real": loss_real, "fake": loss_fake, "r1": r1}


def _generator_terms(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor, with_fmap: bool):
    """-mean D(fake) and the feature-matching distance to the real inputs' features."""
    fake_logits, fake_features = disc(fake)
    if not with_fmap:
        return -fake_logits.mean(), fake_logits.new_zeros(())
    with torch.no_grad():
        _, real_features = disc(real)
    return -fake_logits.mean(), feature_matching(fake_features, real_features)


class PokePhases:
    """The four phase losses over one `PokeModel`, its discriminators and a perceptual loss."""

    def __init__(self, model: nn.Module, perceptual: nn.Module, weights: PokeLossWeights):
        self.model, self.perceptual, self.weights = model, perceptual, weights

    def static(self, ctx: StepContext):
        return static_loss(self.model, self.perceptual, ctx.batch["image"])

    def dynamics(self, ctx: StepContext):
        w, model, batch = self.weights, self.model, ctx.batch
        image, target = batch["image"], batch["target"]
        b, t = target.shape[0], target.shape[2]
        with torch.no_grad():  # the encoder is not a dynamics parameter: x0's and the targets' features
            features = model.encode(torch.cat([image, _frames(target)]))
        initial = [f[:b] for f in features]
        targets = [[f[b:].unflatten(0, (b, t))[:, i] for f in features] for i in range(t)]
        fake, states = model.rollout(image, batch["poke"], t, features=initial)
        ctx.shared["fake"] = fake.detach()  # what the discriminator phases of this step judge
        rec = video_perceptual(self.perceptual, fake, target)
        latent = latent_dynamics(states, targets)
        total = w.perceptual * rec + w.latent * latent
        terms = {"reconstruction": rec, "latent": latent,
                 "zero_poke_share": batch["zero_poke"].float().mean()}
        if ctx.step < w.gan_start:
            return total, terms
        if "patch_disc" in ctx.modules:
            real_frames, fake_frames = _frames(target), _frames(fake)
            n = w.patch_examples
            pick = (torch.randint(len(real_frames), (n,), generator=ctx.generator, device=fake.device),
                    torch.randint(len(fake_frames), (n,), generator=ctx.generator, device=fake.device))
            ctx.shared["patch_pick"] = pick  # the patch discriminator learns on the same frames
            gen, fmap = _generator_terms(ctx.modules["patch_disc"], real_frames[pick[0]],
                                         fake_frames[pick[1]], w.patch_fmap > 0)
            total = total + w.patch_gan * gen + w.patch_fmap * fmap
            terms.update(patch_gen=gen, patch_fmap=fmap)
        if "temporal_disc" in ctx.modules:
            gen, fmap = _generator_terms(ctx.modules["temporal_disc"], target, fake, w.temporal_fmap > 0)
            total = total + w.temporal_gan * gen + w.temporal_fmap * fmap
            terms.update(temporal_gen=gen, temporal_fmap=fmap)
        return total, terms

    def patch_disc(self, ctx: StepContext):
        real_pick, fake_pick = ctx.shared["patch_pick"]
        real, fake = _frames(ctx.batch["target"])[real_pick], _frames(ctx.shared["fake"])[fake_pick]
        return _disc_loss(ctx.modules["patch_disc"], real, fake, self.weights.patch_r1)

    def temporal_disc(self, ctx: StepContext):
        return _disc_loss(ctx.modules["temporal_disc"], ctx.batch["target"], ctx.shared["fake"],
                          self.weights.temporal_r1)


def build_setup(model: nn.Module, discriminators: dict[str, nn.Module], perceptual: nn.Module,
                weights: PokeLossWeights, config: Any, ema: bool = True) -> TrainingSetup:
    """Modules, one Adam(W) per optimizer of the official code (static, dynamics, each discriminator)
    with the run's settings, and the four phases. The generator's parts are the EMA modules."""
    from ffbench.training.loop import adamw

    phases = PokePhases(model, perceptual, weights)
    modules: dict[str, nn.Module] = {part: getattr(model, part) for part in PARTS}
    modules.update(discriminators)
    optimizers = {f"{role}_opt": adamw(parameters_of(model, role), config) for role in OPTIMIZER_PARTS}
    optimizers.update({f"{name}_opt": adamw(d.parameters(), config) for name, d in discriminators.items()})
    phase_list = [Phase("static", OPTIMIZER_PARTS["static"], "static_opt", phases.static),
                  Phase("dynamics", OPTIMIZER_PARTS["dynamics"], "dynamics_opt", phases.dynamics)]
    phase_list += [Phase(name, (name,), f"{name}_opt", getattr(phases, name), start=weights.gan_start)
                   for name in ("patch_disc", "temporal_disc") if name in discriminators]
    return TrainingSetup(modules=modules, optimizers=optimizers, phases=phase_list, ema=PARTS if ema else ())


def poke_batches(clips, flows, poke_size: int, zero_poke_rate: float, seed: int, rank: int,
                 start_batch: int) -> Iterator[dict[str, Any]]:
    """Pixel clips (`video` (B, 3, 1 + T, H, W), `id`, `start`) -> training batches with pokes
    (see `ffbench.datasets.pokes.poke_batch`); `flows` is a FlowCache. Batch i's pokes come from an RNG
    seeded by (seed, rank, i): the stream is a function of its start position."""
    from ffbench.datasets.pokes import poke_batch

    for index, clip in enumerate(clips, start=start_batch):
        rng = torch.Generator().manual_seed((seed * 1_000_003 + rank * 7919 + index) % 2**63)
        batch = poke_batch(clip["video"], flows.normalised(clip["id"], clip["start"]), poke_size,
                           zero_poke_rate, rng)
        batch.update(id=clip["id"], start=clip["start"])
        yield batch


def export_generator(model: nn.Module, out: Path) -> Path:
    """Save the generator (holding its EMA weights) to `out/{EXPORT}`, atomically."""
    return export_pretrained(model, out, EXPORT)


@dataclass(frozen=True)
class PokeOptions:
    """The model-side settings of a Poke run (TrainConfig holds the optimisation side)."""

    preset: str = "cpu"  # data preset of the shards; picks the model preset (paper -> official)
    zero_poke_rate: float = 0.125  # share of clips poked where nothing moves (official: 1 in 8)
    vgg: str = "auto"  # VGG-19 weights: a path, "auto" (look in the caches) or "none" (the substitute)
    gan_start: int | None = None  # step the discriminators join; None: the model preset's
    num_workers: int = 0  # DataLoader workers per process

    def __post_init__(self) -> None:
        if not 0 <= self.zero_poke_rate < 1 or self.num_workers < 0 or (self.gan_start or 0) < 0:
            raise TrainOptionError(f"zero_poke_rate={self.zero_poke_rate} must be in [0, 1), num_workers and "
                             f"gan_start >= 0 (got {self.num_workers}, {self.gan_start})")


def train_poke(shards: str | Path, out: str | Path, config: Any, options: PokeOptions = PokeOptions(), *,
               resume: bool = False, progress: bool = True, info: Any = None, export: bool = True,
               model_overrides: dict[str, Any] | None = None, disc_overrides: dict[str, int] | None = None):
    """Train Poke on prepared shards; the library entry point of `ffbench train poke`.

    Builds (or reuses) the flow cache of the train split first. Run directory `out`: `config.json`,
    `log.jsonl` (loss/static, loss/dynamics/reconstruction, loss/dynamics/latent, loss/patch_disc/r1,
    ...), `checkpoint-<step>/` and after the last step `generator/` (the EMA weights), which
    `ffbench generate --checkpoint` takes. Under torchrun every process calls this. `model_overrides`
    and `disc_overrides` change the preset's PokeModel arguments and discriminator widths (tests,
    experiments); config.json keeps them with everything else.
    """
    from ffbench.datasets.loader import pixel_clip_loader
    from ffbench.datasets.manifest import read_manifest
    from ffbench.datasets.pokes import FlowCache, FlowSettings, build_flow_cache, flow_cache_dir
    from ffbench.models.poke import (
        DISCRIMINATOR_PRESETS,
        PatchDiscriminator,
        PokeModel,
        TemporalDiscriminator,
        find_vgg19,
        perceptual_loss,
        poke_config,
    )
    from ffbench.models.poke.config import DATA_PRESET_TO_POKE, GAN_START
    from ffbench.presets import get_preset
    from ffbench.progress import progress_bar
    from ffbench.training.data import find_data_dir
    from ffbench.training.distributed import barrier, joined
    from ffbench.training.loop import seed_everything, train_phases

    with joined(info) as info:
        preset = get_preset(options.preset)
        data_dir = find_data_dir(shards)
        check_frames(read_manifest(data_dir / "shards" / "train"), preset, data_dir / "shards" / "train")
        model_preset = DATA_PRESET_TO_POKE[preset.name]
        cfg = poke_config(model_preset, fps=preset.fps, **(model_overrides or {}))
        (height, width), span = cfg["sample_size"], cfg["num_frames"]
        settings = FlowSettings(height=height, width=width, span=span)
        if info.is_main:
            bar = (lambda it: progress_bar(it, desc="flow cache", unit="video")) if progress else None
            build_flow_cache(data_dir, "train", settings, progress=bar)
        barrier(info)
        flows = FlowCache(flow_cache_dir(data_dir, "train", settings))
        vgg_path = find_vgg19(options.vgg)
        kind = "vgg19" if vgg_path is not None else "pyramid-l1"
        if vgg_path is None and info.is_main:
            log.warning("no VGG-19 weights (vgg19-dcbb9e9d.pth in ~/.cache/ffbench/weights or torch's hub "
                        "cache): training with the weight-free pyramid-L1 substitute of the perceptual loss")
        cfg.update(flow_norm=flows.max_norm, perceptual_loss=kind)
        disc_cfg = {**DISCRIMINATOR_PRESETS[model_preset], **(disc_overrides or {})}
        weights = PokeLossWeights(gan_start=GAN_START[model_preset] if options.gan_start is None
                                  else options.gan_start)

        seed_everything(config.seed)  # the initial weights depend only on the seed
        model = PokeModel(**cfg)
        discriminators = {
            "patch_disc": PatchDiscriminator(disc_cfg["patch_channels"], disc_cfg["patch_layers"]),
            "temporal_disc": TemporalDiscriminator(span, (height, width), disc_cfg["temporal_channels"],
                                                   disc_cfg["temporal_max_channels"]),
        }
        perceptual = perceptual_loss(kind, vgg_path).to(info.device)
        setup = build_setup(model, discriminators, perceptual, weights, config, ema=config.ema_decay > 0)

        def batches(start_batch: int):
            clips = pixel_clip_loader(data_dir, size=(height, width), split="train", frames=span + 1,
                                      batch_size=config.batch_size, seed=config.seed,
                                      num_workers=options.num_workers, start_batch=start_batch,
                                      rank=info.rank, world_size=info.world_size)
            return poke_batches(clips, flows, cfg["poke_size"], options.zero_poke_rate, config.seed,
                                info.rank, start_batch)

        run_config = {
            "model": "poke",
            "poke": {**asdict(options), "model_preset": model_preset, "loss_weights": asdict(weights),
                     "vgg_file": str(vgg_path) if vgg_path else None},
            "model_config": cfg,
            "discriminators": disc_cfg,
            "flow_cache": flows.folder.name,
            "shards_path": str(data_dir.resolve()),
        }
        out = Path(out)
        on_finish = (lambda modules: export_generator(model, out)) if export else None
        result = train_phases(setup, batches, config, out, resume=resume, run_config=run_config, info=info,
                              on_finish=on_finish, progress=progress)
        if on_finish is not None and result.step >= config.steps:
            result.exported = out / EXPORT
        return result


def check_frames(manifest: dict[str, Any], preset: Any, where: Path) -> None:
    """Refuse shards made for another frame size or frame rate than `preset` (a pixel-space model does not
    care about the cached latents)."""
    from ffbench.training.data import ShardMismatchError

    have = manifest.get("preset", {})
    problems = [f"preset.{k} is {have.get(k)!r}, --preset {preset.name} needs {getattr(preset, k)!r}"
                for k in ("height", "width", "fps") if have.get(k) != getattr(preset, k)]
    if problems:
        raise ShardMismatchError(f"shards in {where} do not fit --preset {preset.name}: "
                                 f"{'; '.join(problems)}. Prepare shards for this preset (`ffbench "
                                 f"prepare --preset {preset.name} --out DIR`) or train with the preset they "
                                 "were made for.")
