"""cINN training: three stages in order, each a `train_phases` run of its own, on pixel clips from shards.

    <out>/config.json          {"model": "cinn", preset, part configs}: `generate --checkpoint <out>` reads it
    <out>/autoencoder/         stage 1 run: the video VAE (phase AE) and its discriminators (phase D)
    <out>/condition/           stage 2a run: the condition encoder's image VAE (phase condition)
    <out>/flow/                stage 2b run: the cINN by exact likelihood (phase flow)
    <out>/model/               the export (`ffbench.models.cinn.saved`): each stage saves its part here
                               when it finishes; model_index.json appears once all three are there

Each stage directory is an ordinary run (config.json, log.jsonl, checkpoint-<step>/, exact resume). A
later stage needs the earlier stages' exports and refuses to start without them, naming the folder; it
records their sha256 and refuses to resume on different ones. `stage="all"` runs the stages in order,
skips those already trained to `config.steps`, resumes the one that was interrupted, and stops when a
stage is interrupted. Every stage trains `config.steps` steps of `config.batch_size` clips (stage 2a:
single frames); the flow stage uses its own learning rate (`CINNOptions.flow_lr`, official 1e-5).

Optimizers (the official recipes; weight decay, clipping and EMA from `config`): stage 1 Adam with
`config`'s betas (cinn default 0.5, 0.9) for the autoencoder and for the discriminators; stage 2a Adam
(0.9, 0.999); stage 2b Adam (0.9, 0.99) with AMSGrad.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ffbench.errors import UserError
from ffbench.fileio import write_json_atomic
from ffbench.presets import Preset, get_preset
from ffbench.training.checkpoint import latest_checkpoint
from ffbench.training.config import TrainConfig, TrainOptionError, config_differences
from ffbench.training.data import ShardMismatchError, find_data_dir
from ffbench.training.distributed import DistInfo, joined
from ffbench.training.loop import (
    Phase,
    StepContext,
    TrainingSetup,
    TrainResult,
    adamw,
    seed_everything,
    train_phases,
)

log = logging.getLogger("ffbench.training")

STAGES = ("autoencoder", "condition", "flow")
STAGE_CHOICES = (*STAGES, "all")
EXPORT = "model"
# The official recipe (Adam betas 0.5/0.9, no clipping, no EMA) with the cpu preset's budget: batch 4,
# 120 steps per stage at lr 1e-3 (the official 2e-4 leaves the decoder at about 1.3x the reconstruction
# error after 120 steps; give --lr 2e-4 for the paper preset). `--stage all --preset cpu --threads 1` with
# these defaults took 164 s of CPU time (user + sys) on synthetic cpu shards (bench/baselines.py: s/step).
TRAIN_DEFAULTS = {"beta1": 0.5, "beta2": 0.9, "weight_decay": 0.0, "grad_clip": 0.0, "ema_decay": 0.0,
                  "batch_size": 4, "steps": 120, "checkpoint_every": 60, "lr": 1e-3}
DATA_TO_MODEL = {"paper": "official", "cpu": "cpu"}
FLOW_LR = {"official": 1e-5, "cpu": 1e-3}  # official stage-2 config; the cpu run is 120 steps
CONDITION_KL = 1e-5  # official stage-2 AE config, w_kl


class StageOrderError(UserError, ValueError):
    """A cINN stage was asked for before the stage it builds on was trained and exported."""


@dataclass(frozen=True)
class CINNOptions:
    """The model-side settings of a cINN run (TrainConfig holds the optimisation side).

    gan: the hinge GAN terms of stage 1 (off: L1 + LPIPS + KL only, for smoke tests).
    gan_start: fraction of stage 1's steps trained without the GAN terms first (the official code
        starts its discriminators after one epoch).
    flow_lr: learning rate of the flow stage; None: 1e-5 (official) or 1e-3 (cpu preset).
    lpips: the VGG16 backbone file for LPIPS; None searches the usual places; left out when absent.
    sizes: replacement constructor kwargs per part ("autoencoder", "discriminators", "condition", "flow",
        "loss"), merged over the preset's (tests use tiny models).
    """

    preset: str = "cpu"
    stage: str = "all"
    gan: bool = True
    gan_start: float = 0.25
    flow_lr: float | None = None
    lpips: str | None = None
    num_workers: int = 0
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        get_preset(self.preset)
        if self.stage not in STAGE_CHOICES:
            raise TrainOptionError(f"--stage {self.stage!r}: choose one of {', '.join(STAGE_CHOICES)}")
        if not 0.0 <= self.gan_start <= 1.0:
            raise TrainOptionError(f"gan_start={self.gan_start}: a fraction of the autoencoder steps in "
                                   "[0, 1]")
        if self.flow_lr is not None and not self.flow_lr > 0:
            raise TrainOptionError(f"flow_lr={self.flow_lr} must be positive")
        if self.num_workers < 0:
            raise TrainOptionError(f"num_workers={self.num_workers} must be >= 0")

    @property
    def model_preset(self) -> str:
        return DATA_TO_MODEL[self.preset]


def part_configs(options: CINNOptions, preset: Preset) -> dict[str, dict[str, Any]]:
    """Constructor kwargs of every part (and the stage-1 loss weights) for this run."""
    from ffbench.models.cinn import cinn_configs

    configs = cinn_configs(options.model_preset)
    configs["autoencoder"]["fps"] = preset.fps
    for part, values in options.sizes.items():
        if part not in configs:
            raise TrainOptionError(f"sizes: unknown part {part!r}; parts: {', '.join(configs)}")
        configs[part].update(values)
    return configs


def check_pixel_shards(manifest: dict[str, Any], preset: Preset, where: Path) -> None:
    """Refuse shards made for another frame size or rate than `preset` (a pixel model ignores the cached
    latents and their encoders)."""
    have = manifest.get("preset", {})
    problems = [f"preset.{k} is {have.get(k)!r}, --preset {preset.name} needs {getattr(preset, k)!r}"
                for k in ("height", "width", "fps") if have.get(k) != getattr(preset, k)]
    if problems:
        raise ShardMismatchError(f"shards in {where} do not fit --preset {preset.name}: "
                                 f"{'; '.join(problems)}. Prepare shards for this preset or train with the "
                                 "preset they were made for.")


# ---- the three stages ------------------------------------------------------------------------------


def _frozen(module: nn.Module, device: torch.device) -> nn.Module:
    return module.to(device).eval().requires_grad_(False)


def autoencoder_setup(configs: dict, config: TrainConfig, options: CINNOptions, perceptual) -> TrainingSetup:
    """Stage 1: phases AE (L1, LPIPS, KL and, from `gan_start`, the GAN terms) and D (hinge + gradient
    penalty on the clip and frame discriminators, from `gan_start`). Build after `seed_everything`."""
    from ffbench.models.cinn import AutoencoderLossWeights, CINNAutoencoder, CINNDiscriminators
    from ffbench.models.cinn.losses import Views, autoencoder_loss, discriminator_loss

    weights = AutoencoderLossWeights(**configs["loss"])
    autoencoder = CINNAutoencoder(**configs["autoencoder"])
    modules: dict[str, nn.Module] = {"autoencoder": autoencoder}
    optimizers = {"autoencoder_opt": adamw(autoencoder.parameters(), config)}
    gan_start = math.ceil(options.gan_start * config.steps) if options.gan else None
    if gan_start is not None and gan_start >= config.steps:
        gan_start = None  # no step left with the GAN: train without the discriminators
    if gan_start is not None:
        modules["discriminators"] = CINNDiscriminators(**configs["discriminators"])
        optimizers["discriminators_opt"] = adamw(modules["discriminators"].parameters(), config)

    def ae_loss(ctx: StepContext):
        clip = ctx.batch["video"]  # (B, 3, F, H, W): frame 0 is x0
        recon, _, mu, logvar = ctx.modules["autoencoder"](clip, ctx.generator)
        real = clip[:, :, 1:]
        gan = gan_start is not None and ctx.step >= gan_start
        views = Views.draw(real.shape[0], real.shape[2], weights, ctx.generator) if gan else None
        ctx.shared.update(recon=recon.detach(), views=views)
        return autoencoder_loss(recon, real, mu, logvar, weights, perceptual=perceptual, views=views,
                                discriminators=ctx.modules["discriminators"] if gan else None)

    def d_loss(ctx: StepContext):
        return discriminator_loss(ctx.modules["discriminators"], ctx.batch["video"][:, :, 1:],
                                  ctx.shared["recon"], ctx.shared["views"], weights)

    phases = [Phase("AE", ("autoencoder",), "autoencoder_opt", ae_loss)]
    if gan_start is not None:
        phases.append(Phase("D", ("discriminators",), "discriminators_opt", d_loss, start=gan_start))
    return TrainingSetup(modules, optimizers, phases, ema=("autoencoder",))


def condition_setup(configs: dict, config: TrainConfig, perceptual) -> TrainingSetup:
    """Stage 2a: the condition encoder as an image VAE on single frames (L1 + LPIPS + 1e-5 KL)."""
    from ffbench.models.cinn import CINNConditionEncoder
    from ffbench.models.cinn.losses import condition_loss

    model = CINNConditionEncoder(**configs["condition"])
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.999), eps=config.eps,
                            weight_decay=config.weight_decay)

    def loss(ctx: StepContext):
        image = ctx.batch["video"][:, :, 0]
        recon, mean, logvar = ctx.modules["condition"](image, ctx.generator)
        return condition_loss(recon, image, mean, logvar, CONDITION_KL, perceptual)

    return TrainingSetup({"condition": model}, {"condition_opt": opt},
                         [Phase("condition", ("condition",), "condition_opt", loss)], ema=("condition",))


def flow_setup(configs: dict, config: TrainConfig, lr: float, export: Path, device: torch.device
               ) -> TrainingSetup:
    """Stage 2b: the flow maps the frozen encoder's posterior sample z of frames 1.. to N(0, I) given
    c(x0) of the frozen condition encoder (both loaded from `export`), by exact likelihood."""
    from ffbench.models.cinn import (
        CINNAutoencoder,
        CINNConditionEncoder,
        CINNFlow,
        check_compatible,
        flow_nll,
    )

    autoencoder = _frozen(CINNAutoencoder.from_pretrained(export / "autoencoder"), device)
    condition = _frozen(CINNConditionEncoder.from_pretrained(export / "condition"), device)
    flow = CINNFlow(**configs["flow"])
    check_compatible(autoencoder, condition, flow)
    opt = torch.optim.AdamW(flow.parameters(), lr=lr, betas=(0.9, 0.99), eps=config.eps,
                            weight_decay=config.weight_decay, amsgrad=True)

    def loss(ctx: StepContext):
        clip = ctx.batch["video"]
        with torch.no_grad():
            mu, logvar = autoencoder.encode(clip[:, :, 1:])
            eps = torch.randn(mu.shape, generator=ctx.generator, device=mu.device, dtype=mu.dtype)
            z = mu + torch.exp(0.5 * logvar) * eps
            c = condition.condition(clip[:, :, 0])
        u, logdet = ctx.modules["flow"](z, c)
        nll = flow_nll(u, logdet)
        return nll, {"nll": nll, "logdet": logdet.mean() / u.shape[1], "u_sq": u.pow(2).mean()}

    return TrainingSetup({"flow": flow}, {"flow_opt": opt}, [Phase("flow", ("flow",), "flow_opt", loss)],
                         ema=("flow",))


# ---- running the stages ------------------------------------------------------------------------------

REQUIRES = {"autoencoder": (), "condition": ("autoencoder",), "flow": ("autoencoder", "condition")}


def _check_top_config(out: Path, top: dict[str, Any]) -> Callable[[], None]:
    """Check `<out>/config.json` (the model and part configs shared by the stages; a stage run on an `out`
    made with other settings is refused, naming the difference) and return the writer of a new one, which
    the first stage calls once its first step can run (nothing is written before the inputs are checked)."""
    path = out / "config.json"
    top = json.loads(json.dumps(top))
    if path.is_file():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise UserError(f"{path} is unreadable ({err}); it was damaged: restore it, or use another --out "
                            "directory") from None
        diffs = config_differences(saved, top)
        if diffs:
            raise UserError(f"--out {out} holds a cINN run with other settings: {'; '.join(diffs)}. Use "
                            "the same settings, or another --out directory.")

    def write() -> None:
        if not path.is_file():
            write_json_atomic(path, top)

    return write


def stage_done(out: Path, stage: str, steps: int) -> bool:
    """Whether `stage` was trained to `steps` steps and exported."""
    ckpt = latest_checkpoint(out / stage)
    if ckpt is None or not (out / EXPORT / stage).is_dir():
        return False
    return json.loads((ckpt / "state.json").read_text(encoding="utf-8")).get("step", 0) >= steps


def _require(out: Path, stage: str) -> dict[str, str]:
    """The sha256 of the exports `stage` builds on; StageOrderError naming the first one missing."""
    from ffbench.models.cinn.saved import part_digest

    digests = {}
    for earlier in REQUIRES[stage]:
        folder = out / EXPORT / earlier
        if not folder.is_dir():
            raise StageOrderError(
                f"--stage {stage} needs the {earlier} stage's export {folder}, which does not exist; train "
                f"it first: ffbench train cinn --stage {earlier} --out {out} (or --stage all)")
        digests[earlier] = part_digest(out / EXPORT, earlier)
    return digests


def train_stage(stage: str, data_dir: Path, out: Path, config: TrainConfig, options: CINNOptions,
                configs: dict, *, resume: bool, progress: bool, info: DistInfo,
                on_start: Callable[[], None] | None = None) -> TrainResult:
    """Train one stage in `<out>/<stage>` and export its part to `<out>/model/<stage>` when it finishes."""
    from ffbench.datasets.loader import pixel_clip_loader
    from ffbench.models.cinn.perceptual import load_perceptual
    from ffbench.models.cinn.saved import save_part, write_index

    inputs = _require(out, stage)
    export = out / EXPORT
    perceptual, lpips_note = (None, {}) if stage == "flow" else load_perceptual(options.lpips, info.device)
    seed_everything(config.seed)  # the initial weights depend only on the seed
    if stage == "autoencoder":
        setup = autoencoder_setup(configs, config, options, perceptual)
    elif stage == "condition":
        setup = condition_setup(configs, config, perceptual)
    else:
        lr = options.flow_lr or FLOW_LR[options.model_preset]
        setup = flow_setup(configs, config, lr, export, info.device)
    ae = configs["autoencoder"]
    frames = 1 if stage == "condition" else ae["num_frames"]

    def batches(start_batch: int):
        return pixel_clip_loader(data_dir, size=tuple(ae["sample_size"]), split="train", frames=frames,
                                 batch_size=config.batch_size, seed=config.seed,
                                 num_workers=options.num_workers, start_batch=start_batch, rank=info.rank,
                                 world_size=info.world_size)

    run_config = {
        "model": "cinn",
        "cinn": {**asdict(options), "stage": stage, "model_preset": options.model_preset},
        "parts": {k: configs[k] for k in ("autoencoder", "discriminators", "loss")} if stage == "autoencoder"
        else {stage: configs[stage]},
        "inputs": inputs,  # sha256 of the earlier stages' exports this stage is trained on
        "training": lpips_note,
        "shards_path": str(data_dir.resolve()),
    }
    if stage == "flow":
        run_config["flow_lr"] = options.flow_lr or FLOW_LR[options.model_preset]

    def on_finish(modules: dict[str, nn.Module]) -> None:
        save_part(modules[stage], export, stage)
        notes_path = export / "training.json"
        notes = json.loads(notes_path.read_text(encoding="utf-8")) if notes_path.is_file() else {}
        notes[stage] = {"steps": config.steps, "batch_size": config.batch_size, "inputs": inputs,
                        **lpips_note}
        write_json_atomic(notes_path, notes)
        if all((export / part).is_dir() for part in STAGES):
            write_index(export, {"training": notes})

    log.info("cinn: stage %s in %s (%d steps, batch %d)", stage, out / stage, config.steps, config.batch_size)
    result = train_phases(setup, batches, config, out / stage, resume=resume, run_config=run_config,
                          info=info, on_finish=on_finish, progress=progress, on_start=on_start)
    if result.step >= config.steps and not result.interrupted:
        result.exported = export / stage
    return result


def train_cinn(
    shards: str | Path,
    out: str | Path,
    config: TrainConfig,
    options: CINNOptions = CINNOptions(),
    *,
    resume: bool = False,
    progress: bool = True,
    info: DistInfo | None = None,
) -> TrainResult:
    """Train the cINN baseline's `options.stage` (or all stages in order) on prepared shards; the library
    entry point of `ffbench train cinn`. Returns the last stage's TrainResult (`exported` is `<out>/model`
    once the flow stage is done), except `seconds_per_step`: the sum over the stages run in this call of
    their seconds per step (each stage trains `config.steps` steps). See the module docstring for the
    layout of `out`."""
    from ffbench.datasets.manifest import read_manifest

    with joined(info) as info:
        preset = get_preset(options.preset)
        data_dir = find_data_dir(shards)
        train_split = data_dir / "shards" / "train"
        check_pixel_shards(read_manifest(train_split), preset, train_split)
        out = Path(out)
        configs = part_configs(options, preset)
        write_top = _check_top_config(out, {"model": "cinn", "preset": preset.name,
                                            "model_preset": options.model_preset, "parts": configs})
        stages = STAGES if options.stage == "all" else (options.stage,)
        result, step_seconds = None, []
        for stage in stages:
            if options.stage == "all" and stage_done(out, stage, config.steps):
                log.info("cinn: stage %s already trained to step %d; skipping", stage, config.steps)
                continue
            result = train_stage(stage, data_dir, out, config, options, configs, resume=resume,
                                 progress=progress, info=info, on_start=write_top)
            log.info("cinn: stage %s %.3f s/step", stage, result.seconds_per_step)
            step_seconds.append(result.seconds_per_step)
            if result.interrupted:
                break
        if result is None:  # every stage was already done
            result = TrainResult(step=config.steps, last_checkpoint=latest_checkpoint(out / stages[-1]))
        else:  # one step of every stage run here, so steps x seconds_per_step is the training time
            result.seconds_per_step = sum(step_seconds)
        if result.interrupted:
            return result
        if (out / EXPORT / "model_index.json").is_file():
            result.exported = out / EXPORT
        return result
