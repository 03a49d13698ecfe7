"""FashionFlow training: the model, its diffusion loss and the shard loader plugged into the generic loop.

`train_fashionflow(shards, out, preset="cpu", ...)` checks that the shards were prepared for the
requested preset and encoders, builds `FashionFlowModel(**fashionflow_config(preset, ...))`, trains
it with `ffbench.training.loop.train`, and finally exports `<out>/pipeline`: a `FashionFlowPipeline`
directory holding the EMA weights, the VAE and CLIP that produced the shards' features and the noise
scheduler, so `ffbench generate --checkpoint <out>/pipeline` works. The interpolation stage exports
`<out>/interpolator` (the model alone), which a pipeline takes as its `interpolator`.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ffbench.fileio import apply_umask
from ffbench.presets import Preset, get_preset
from ffbench.training.config import TrainConfig, TrainOptionError
from ffbench.training.data import ShardMismatchError, find_data_dir
from ffbench.training.distributed import DistInfo, joined, loss_view
from ffbench.training.loop import TrainResult, seed_everything, train

log = logging.getLogger("ffbench.training")

# CLI stage names -> FashionFlowModel(stage=...)
STAGES = {"base": "keyframes", "interpolate": "interpolation"}
SCHEDULES = ("cosine", "legacy")
CONDITIONINGS = ("both", "global", "local")


@dataclass(frozen=True)
class FashionFlowOptions:
    """The model-side settings of a FashionFlow run (TrainConfig holds the optimisation side)."""

    preset: str = "cpu"
    schedule: str = "cosine"  # cosine (the paper) | legacy (the public code's beta ramp)
    conditioning: str = "both"  # both | global | local (paper Table 2)
    stage: str = "base"  # base (image -> clip) | interpolate (frame interpolation, paper 3.3)
    num_workers: int = 0  # DataLoader workers per process

    def __post_init__(self) -> None:
        for name, allowed in (("schedule", SCHEDULES), ("conditioning", CONDITIONINGS), ("stage", STAGES)):
            if getattr(self, name) not in allowed:
                raise TrainOptionError(f"--{name} {getattr(self, name)!r}: choose one of "
                                       f"{', '.join(allowed)}")
        if self.num_workers < 0:
            raise TrainOptionError(f"num_workers must be >= 0, got {self.num_workers}")


# What the model built for a preset needs from the data: the frame geometry and the feature shapes.
# The preset's name and its default encoder specs are not needed: shards made with `--vae DIR`, or with
# `--height/--width` equal to the preset's, fit the same model.
_DATA_KEYS = ("height", "width", "vae_downsample", "latent_channels", "clip_tokens", "clip_dim")


def check_manifest(manifest: dict[str, Any], preset: Preset, where: Path) -> None:
    """Refuse shards whose frame size or features do not fit the model built for `preset` (names what
    differs and the fix). The recorded encoders' geometry is what counts, whatever preset name or
    encoder spec produced them."""
    problems = []
    have = manifest.get("preset", {})
    for key in _DATA_KEYS:
        if have.get(key) != getattr(preset, key):
            problems.append(f"preset.{key} is {have.get(key)!r}, --preset {preset.name} needs "
                            f"{getattr(preset, key)!r}")
    encoders = manifest.get("encoders", {})
    expected = {
        "vae": {"latent_channels": preset.latent_channels, "downsample": preset.vae_downsample},
        "clip": {"tokens": preset.clip_tokens, "dim": preset.clip_dim},
    }
    for role, fields in expected.items():
        ident = encoders.get(role)
        if not isinstance(ident, dict):
            problems.append(f"the manifest records no {role} encoder")
            continue
        for key, want in fields.items():
            if ident.get(key) != want:
                problems.append(f"encoders.{role}.{key} is {ident.get(key)!r}, --preset {preset.name} "
                                f"needs {want!r}")
    if problems:
        size = f"--height {preset.height} --width {preset.width}"
        raise ShardMismatchError(
            f"shards in {where} do not fit --preset {preset.name} (the model it builds): "
            f"{'; '.join(problems)}. Prepare shards that fit (`ffbench prepare --preset {preset.name} --out "
            f"DIR`, or {size} with encoders of the same latent and token shapes), or train with the preset "
            "the shards were made for."
        )


def _read_train_manifest(data_dir: Path) -> dict[str, Any]:
    from ffbench.datasets.manifest import read_manifest

    return read_manifest(data_dir / "shards" / "train")


def build_model(preset: Preset, options: FashionFlowOptions) -> nn.Module:
    from ffbench.models.fashionflow import FashionFlowModel, fashionflow_config

    return FashionFlowModel(**fashionflow_config(preset, conditioning=options.conditioning,
                                                 stage=STAGES[options.stage]))


def make_loss(scheduler: Any, options: FashionFlowOptions, cond_dropout: float):
    """`loss_fn(model, batch, generator)` for the loop: the diffusion (or interpolation) loss."""
    from ffbench.models.fashionflow import diffusion_loss, interpolation_loss

    fn = diffusion_loss if options.stage == "base" else interpolation_loss

    def loss_fn(model: nn.Module, batch: dict[str, Any], generator: torch.Generator) -> torch.Tensor:
        # The losses read model attributes (config, replaces_first_frame): see through a DDP wrapper.
        return fn(loss_view(model), scheduler, batch, generator=generator, cond_dropout=cond_dropout)

    return loss_fn


def export_pipeline(model: nn.Module, data_dir: Path, manifest: dict[str, Any], options: FashionFlowOptions,
                    out: Path) -> Path:
    """Save `model` (holding the EMA weights) with the shards' VAE/CLIP and the scheduler as a
    `FashionFlowPipeline` in `out/pipeline` (or the bare interpolator in `out/interpolator`), atomically.

    The encoders are loaded from the specs in the manifest and their weights checked against the
    sha256 recorded there, so the pipeline decodes latents with exactly the VAE that encoded them.
    """
    from ffbench.encoders import encoder_identity, load_clip, load_vae
    from ffbench.models.fashionflow import FashionFlowPipeline, make_noise_scheduler
    from ffbench.models.fashionflow.schedule import DEFAULT_SAMPLER

    name = "pipeline" if options.stage == "base" else "interpolator"
    final, tmp = out / name, out / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    if options.stage == "interpolate":
        model.save_pretrained(tmp)
    else:
        idents = manifest["encoders"]
        vae = load_vae(idents["vae"]["spec"], data_dir=data_dir)
        clip, processor = load_clip(idents["clip"]["spec"], data_dir=data_dir,
                                    seed=int(idents["clip"].get("seed", 0)))
        for role, enc in (("vae", vae), ("clip", clip)):
            want = idents[role].get("sha256")
            got = encoder_identity(enc)["sha256"]
            if want and got != want:
                raise ShardMismatchError(
                    f"the {role} at {idents[role].get('spec')!r} (sha256 {got[:12]}) is not the one the "
                    f"shards were made with (sha256 {want[:12]}); re-run `ffbench prepare` so features and "
                    "encoders match"
                )
        pipe = FashionFlowPipeline(unet=model, vae=vae, image_encoder=clip, feature_extractor=processor,
                                   scheduler=make_noise_scheduler(options.schedule, kind=DEFAULT_SAMPLER))
        pipe.save_pretrained(tmp)
    apply_umask(tmp)  # safetensors writes 0600 files; the pipeline gets the user's umask like every output
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def train_fashionflow(
    shards: str | Path,
    out: str | Path,
    config: TrainConfig,
    options: FashionFlowOptions = FashionFlowOptions(),
    *,
    resume: bool = False,
    progress: bool = True,
    info: DistInfo | None = None,
    export: bool = True,
) -> TrainResult:
    """Train FashionFlow on prepared shards; the library entry point of `ffbench train fashionflow`.

    Run directory `out`: `config.json`, `log.jsonl`, `checkpoint-<step>/`, and after the last step
    `pipeline/` (base stage) or `interpolator/` (interpolation stage) built from the EMA weights.
    Under torchrun every process calls this; batches are split across ranks by the loader.
    """
    from ffbench.datasets.loader import latent_clip_loader
    from ffbench.models.fashionflow import fashionflow_config, make_noise_scheduler

    with joined(info) as info:
        preset = get_preset(options.preset)
        data_dir = find_data_dir(shards)
        manifest = _read_train_manifest(data_dir)
        check_manifest(manifest, preset, data_dir / "shards" / "train")
        out = Path(out)

        seed_everything(config.seed)  # the model's initial weights depend only on the seed
        model = build_model(preset, options)
        scheduler = make_noise_scheduler(options.schedule, kind="ddpm")
        expect = {role: {"sha256": manifest["encoders"][role]["sha256"]} for role in ("vae", "clip")
                  if "sha256" in manifest["encoders"].get(role, {})}

        def batches(start_batch: int):
            return latent_clip_loader(data_dir, split="train", frames=preset.frames,
                                      batch_size=config.batch_size, seed=config.seed,
                                      num_workers=options.num_workers, start_batch=start_batch,
                                      expect_encoders=expect, rank=info.rank, world_size=info.world_size)

        run_config = {
            "model": "fashionflow",
            "fashionflow": dict(options.__dict__),  # num_workers included: it shapes the batch stream
            "model_config": fashionflow_config(preset, conditioning=options.conditioning,
                                               stage=STAGES[options.stage]),
            "encoders": {role: manifest["encoders"][role].get("fingerprint") for role in ("vae", "clip")},
            "shards_path": str(data_dir.resolve()),
        }
        on_finish = (lambda m: export_pipeline(m, data_dir, manifest, options, out)) if export else None
        return train(model, make_loss(scheduler, options, config.cond_dropout), batches, config, out,
                     resume=resume, run_config=run_config, info=info, on_finish=on_finish, progress=progress)
