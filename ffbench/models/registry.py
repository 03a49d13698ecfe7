"""The model registry: every method ffbench trains, samples and scores, by name or from a saved folder.

How a model joins: its package `ffbench/models/<name>/` holds a module `entry.py` that calls
`register(ModelEntry(...))` at import. The registry finds the packages that have an `entry.py` without
importing them (so `--help` stays fast) and imports one when it is asked for, so a new baseline needs no
edit here. An entry says:

- `load(checkpoint, device, **options) -> VideoGenerator`: the sampler of a saved model (`checkpoint` is
  None for models that need none, such as `static`); `options` are the generate command's sampler
  settings (`steps`, `sampler`, `guidance_scale`, `interpolate`, `interpolator`), each passed only when
  the user set it, so a model that has no use for one raises `UnusedOptionError` naming it.
- `train(shards, out, config, *, preset, resume, progress, num_workers, **options) -> TrainResult`: the
  library function behind `ffbench train <name>` (None: not trainable); `options` are the model-specific
  CLI options the user set (`stage`, `schedule`, `conditioning`), refused with `reject_unused` when the
  model has no use for them; the result's `exported` names the folder it wrote. `train_defaults` are
  TrainConfig values that replace the generic defaults for this model (e.g. no weight decay for GANs).
  `config_options`: the TrainConfig settings of `MODEL_CONFIG_OPTIONS` (read by some models only, such as
  `cond_dropout`) that this model reads; `ffbench train` refuses the others when given.
- `networks(size) -> {name: module}`: the model's networks at `size` "official" (the paper's code) or
  "cpu" (the cpu preset), for `bench/baselines.py` to count parameters (built on the meta device).
- `class_names`: the `_class_name` of the `config.json` / `model_index.json` of its saved folders, so
  `generate --checkpoint DIR` knows the model type; `export`: the folder its training writes in the
  run directory, so a run directory works as `--checkpoint` too.
- `privileged_input`: what a model takes from the real test video beyond the first frame (Poke: its
  poke from the ground-truth flow). `generate` then needs the real split and passes the real clip, and
  every video set it writes carries the flag `privileged-input: <that>`.

The generator protocol every model's sampler follows (`VideoGenerator`): condition images
(B, 3, H, W) in [-1, 1] at `size`, a frame count, a `torch.Generator` for all randomness, and for a
privileged model the real clip (B, 3, F, H, W) in [-1, 1]; returns the video (B, 3, F, H, W) in [-1, 1].
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ffbench.errors import UserError

ENTRY_MODULE = "entry"
# TrainConfig settings that only some models read: a model lists those it uses in `config_options`, and
# `ffbench train` refuses the rest (a condition dropout a GAN never applies must not pass for a setting).
MODEL_CONFIG_OPTIONS = ("cond_dropout",)


class ModelTypeError(UserError, ValueError):
    """A folder that is not a saved model of the expected type, or a model name ffbench does not have."""


class UnusedOptionError(UserError, ValueError):
    """A generate option was given for a model that has no use for it."""


class VideoGenerator(Protocol):
    """A loaded sampler: condition frames in, videos out (see the module docstring)."""

    size: tuple[int, int] | None  # (H, W) it takes and makes; None: any size (static)
    num_frames: int  # frames by default (the training clip length)
    max_frames: int | None  # the most frames it can make; None: any number
    fps: float | None  # frame rate of its training videos; None: take the data's
    settings: dict[str, Any]  # sampler settings, recorded in generation.json
    flags: list[str]  # notes every score of its videos must carry, e.g. "privileged-input: ..."

    def __call__(self, cond: Any, num_frames: int, generator: Any, real: Any | None = None) -> Any:
        """cond (B, 3, H, W) in [-1, 1] -> video (B, 3, num_frames, H, W) in [-1, 1]."""
        ...


@dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    load: Callable[..., VideoGenerator]
    train: Callable[..., Any] | None = None
    class_names: tuple[str, ...] = ()
    export: str | None = None
    needs_checkpoint: bool = True
    privileged_input: str | None = None
    train_defaults: dict[str, Any] = field(default_factory=dict)
    config_options: tuple[str, ...] = ()
    networks: Callable[[str], dict[str, Any]] | None = None

    @property
    def flags(self) -> list[str]:
        return [f"privileged-input: {self.privileged_input}"] if self.privileged_input else []


_REGISTRY: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Add `entry` (called by `ffbench/models/<name>/entry.py` at import)."""
    _REGISTRY[entry.name] = entry
    return entry


def available_models() -> list[str]:
    """Names of the model packages that have an `entry.py`, found without importing them."""
    import ffbench.models as models

    roots = [Path(p) for p in models.__path__]
    return sorted(info.name for info in pkgutil.iter_modules(models.__path__)
                  if info.ispkg and any((r / info.name / f"{ENTRY_MODULE}.py").is_file() for r in roots))


def get_model(name: str) -> ModelEntry:
    """The registered entry of model `name` (imports its `entry.py`)."""
    if name not in _REGISTRY:
        if name not in available_models():
            raise ModelTypeError(f"no model named {name!r}; ffbench has: {', '.join(available_models())}")
        importlib.import_module(f"ffbench.models.{name}.{ENTRY_MODULE}")
    if name not in _REGISTRY:
        raise ModelTypeError(f"ffbench/models/{name}/{ENTRY_MODULE}.py registered no model named {name!r}")
    return _REGISTRY[name]


def all_models() -> list[ModelEntry]:
    """Every model's entry (imports every `entry.py`)."""
    return [get_model(name) for name in available_models()]


def _class_name(folder: Path) -> str | None:
    for index in ("model_index.json", "config.json"):
        path = folder / index
        if path.is_file():
            try:
                value = json.loads(path.read_text(encoding="utf-8")).get("_class_name")
            except (OSError, json.JSONDecodeError, AttributeError):
                return None
            if value:
                return str(value)
    return None


def find_checkpoint(checkpoint: str | Path, expected: str | None = None) -> tuple[ModelEntry, Path]:
    """The model type and the saved folder of `checkpoint`: a saved model folder, or a training run
    directory (its `config.json` names the model; its export folder is used).

    `expected`: the model the caller asked for; a folder of another type raises ModelTypeError naming
    the folder and what it holds.
    """
    folder = Path(checkpoint)
    if not folder.is_dir():
        raise ModelTypeError(f"--checkpoint {folder}: no such folder; give the folder a training run "
                             "exported (e.g. runs/imaginator/generator) or the run directory itself")
    run_config = folder / "config.json"
    entry: ModelEntry | None = None
    kind = _class_name(folder)
    if kind is None and run_config.is_file():  # a run directory: config.json names the model
        try:
            model = json.loads(run_config.read_text(encoding="utf-8")).get("model")
        except (OSError, json.JSONDecodeError, AttributeError):
            model = None
        if isinstance(model, str) and model in available_models():
            entry = get_model(model)
            if entry.export is None or not (folder / entry.export).is_dir():
                raise ModelTypeError(f"--checkpoint {folder} is a {model} training run without its exported "
                                     f"{entry.export or 'model'}/ folder: finish the run (same command "
                                     "plus --resume), then generate from it")
            folder = folder / entry.export
            kind = _class_name(folder)
            if kind not in entry.class_names:
                what = f"a {kind}" if kind else "no saved model"
                raise ModelTypeError(f"--checkpoint {folder} holds {what}, not the {model} model its run "
                                     "directory trained; export it again by finishing the run, or give the "
                                     "right folder")
    if entry is None:
        entry = next((e for e in all_models() if kind is not None and kind in e.class_names), None)
    if entry is None:
        what = f"a {kind}" if kind else "no saved model (no config.json or model_index.json with _class_name)"
        raise ModelTypeError(f"--checkpoint {folder} holds {what}; give a folder exported by `ffbench "
                             "train` (e.g. runs/fashionflow/pipeline, runs/imaginator/generator) or its run "
                             "directory")
    if expected is not None and entry.name != expected:
        raise ModelTypeError(f"--checkpoint {folder} holds a model of type {entry.name} ({kind}), not "
                             f"{expected}; give a {expected} checkpoint or drop --model {expected}")
    return entry, folder


def reject_unused(model: str, options: dict[str, Any], used: tuple[str, ...] = ()) -> None:
    """Raise UnusedOptionError for options a model does not take (the generate CLI passes only those the
    user set, so a silent no-op never passes for a setting)."""
    unused = sorted(set(options) - set(used))
    if unused:
        names = ", ".join("--" + u.replace("_", "-") for u in unused)
        raise UnusedOptionError(f"{names}: not used by {model}; drop {'it' if len(unused) == 1 else 'them'}")
