"""ImaGINator training: generator, video and image discriminators, three phases, pixel clips from shards.

`train_imaginator(shards, out, config, ImaginatorOptions(preset="cpu"))` checks that the shards were
prepared for the data preset, builds the networks of the matching model preset (`paper` data ->
`official`, `cpu` -> `cpu`), trains them with `ffbench.training.loop.train_phases` (phases G, D_video,
D_image every step, Adam from `config` for each) and finally exports `<out>/generator`: the generator
with its EMA weights, `ImaginatorGenerator.save_pretrained`, which `ffbench generate --checkpoint` loads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from torch import nn

from ffbench.errors import UserError
from ffbench.presets import Preset, get_preset
from ffbench.training.checkpoint import export_pretrained
from ffbench.training.config import TrainConfig, TrainOptionError
from ffbench.training.data import ShardMismatchError, find_data_dir
from ffbench.training.distributed import DistInfo, joined
from ffbench.training.loop import Phase, TrainingSetup, TrainResult, adamw, seed_everything, train_phases

EXPORT = "generator"
# The official recipe: Adam (no weight decay), lr 2e-4, betas (0.5, 0.999), no gradient clipping.
# Batch 8 (the official 64 does not fit a CPU step budget); see bench/baselines.py for its speed.
TRAIN_DEFAULTS = {"weight_decay": 0.0, "grad_clip": 0.0, "batch_size": 8}


@dataclass(frozen=True)
class ImaginatorOptions:
    """The model-side settings of an ImaGINator run (TrainConfig holds the optimisation side)."""

    preset: str = "cpu"  # data preset of the shards; picks the model preset
    l1_weight: float = 100.0  # weight of the L1 reconstruction term (official 100)
    num_workers: int = 0  # DataLoader workers per process

    def __post_init__(self) -> None:
        get_preset(self.preset)
        if self.l1_weight < 0 or self.num_workers < 0:
            raise TrainOptionError(f"l1_weight={self.l1_weight} and num_workers={self.num_workers} must be "
                                   ">= 0")


def check_pixel_manifest(manifest: dict[str, Any], preset: Preset, where: Path) -> None:
    """Refuse shards made for another frame size or frame rate than `preset` (pixels only: the cached
    latents and their encoders do not matter to a pixel-space model)."""
    have = manifest.get("preset", {})
    problems = [f"preset.{k} is {have.get(k)!r}, --preset {preset.name} needs {getattr(preset, k)!r}"
                for k in ("height", "width", "fps") if have.get(k) != getattr(preset, k)]
    if problems:
        raise ShardMismatchError(
            f"shards in {where} do not fit --preset {preset.name}: {'; '.join(problems)}. Prepare shards for "
            f"this preset (`ffbench prepare --preset {preset.name} --out DIR`) or train with the preset they "
            "were made for."
        )


def build_setup(generator_config: dict, config: TrainConfig, l1_weight: float = 100.0) -> TrainingSetup:
    """The networks, one Adam per network (as the official code) and the phases G, D_video, D_image.
    Call `seed_everything` first: the initial weights come from the global RNG."""
    from ffbench.models.imaginator import (
        ImageDiscriminator,
        ImaginatorGenerator,
        VideoDiscriminator,
        discriminator_configs,
    )
    from ffbench.models.imaginator.losses import generator_loss, image_disc_loss, video_disc_loss

    discs = discriminator_configs(generator_config)
    modules: dict[str, nn.Module] = {
        "generator": ImaginatorGenerator(**generator_config),
        "video_disc": VideoDiscriminator(**discs["video"]),
        "image_disc": ImageDiscriminator(**discs["image"]),
    }
    return TrainingSetup(
        modules=modules,
        optimizers={f"{name}_opt": adamw(module.parameters(), config) for name, module in modules.items()},
        phases=[
            Phase("G", ("generator",), "generator_opt", partial(generator_loss, l1_weight=l1_weight)),
            Phase("D_video", ("video_disc",), "video_disc_opt", video_disc_loss),
            Phase("D_image", ("image_disc",), "image_disc_opt", image_disc_loss),
        ],
        ema=("generator",),
    )


def export_generator(generator: nn.Module, out: Path) -> Path:
    """Save the generator (holding its EMA weights) to `out/{EXPORT}`, atomically."""
    return export_pretrained(generator, out, EXPORT)


def train_imaginator(
    shards: str | Path,
    out: str | Path,
    config: TrainConfig,
    options: ImaginatorOptions = ImaginatorOptions(),
    *,
    resume: bool = False,
    progress: bool = True,
    info: DistInfo | None = None,
    export: bool = True,
) -> TrainResult:
    """Train ImaGINator on prepared shards; the library entry point of `ffbench train imaginator`.

    Run directory `out`: `config.json`, `log.jsonl` (loss/G/l1, loss/G/adv_video, loss/D_video/real, ...),
    `checkpoint-<step>/` (generator, video_disc, image_disc, their optimizers, the generator's EMA) and
    after the last step `generator/`. Under torchrun every process calls this.
    """
    from ffbench.datasets.loader import pixel_clip_loader
    from ffbench.datasets.manifest import read_manifest
    from ffbench.models.imaginator import discriminator_configs, imaginator_config, model_preset_name

    if config.batch_size < 2:  # its BatchNorm layers see a 1x1x1 volume per sample: one value per channel
        raise UserError(f"--batch-size {config.batch_size}: ImaGINator's BatchNorm needs at least 2 clips "
                        "per step; use --batch-size 2 or more")
    with joined(info) as info:
        preset = get_preset(options.preset)
        data_dir = find_data_dir(shards)
        manifest = read_manifest(data_dir / "shards" / "train")
        check_pixel_manifest(manifest, preset, data_dir / "shards" / "train")
        out = Path(out)
        gen_config = imaginator_config(preset)

        seed_everything(config.seed)  # the initial weights depend only on the seed
        setup = build_setup(gen_config, config, options.l1_weight)

        def batches(start_batch: int):
            return pixel_clip_loader(data_dir, size=tuple(gen_config["sample_size"]), split="train",
                                     frames=gen_config["num_frames"], batch_size=config.batch_size,
                                     seed=config.seed, num_workers=options.num_workers,
                                     start_batch=start_batch, rank=info.rank, world_size=info.world_size)

        run_config = {
            "model": "imaginator",
            "imaginator": {**asdict(options), "model_preset": model_preset_name(preset)},
            "model_config": gen_config,
            "discriminators": discriminator_configs(gen_config),
            "shards_path": str(data_dir.resolve()),
        }
        on_finish = (lambda modules: export_generator(modules["generator"], out)) if export else None
        result = train_phases(setup, batches, config, out, resume=resume, run_config=run_config, info=info,
                              on_finish=on_finish, progress=progress)
        if on_finish is not None and result.step >= config.steps:
            result.exported = out / EXPORT
        return result
