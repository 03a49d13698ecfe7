"""`TrainConfig`: the optimisation settings of one run, saved into every checkpoint.

The defaults are the FashionFlow paper's (AdamW, lr 2e-4, betas 0.5 / 0.999). A run directory holds
`config.json` with the train settings plus whatever the model-specific wiring adds; `--resume` compares
it with the new request and refuses a change that would make the resumed run a different experiment.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ffbench.errors import UserError
from ffbench.fileio import write_json_atomic

AUTOCAST_CHOICES = ("none", "bf16", "fp16")

# Settings that may change between a run and its resume without changing the experiment: how long to
# train, how often to save and log, where the (identical, fingerprint-checked) data lives.
RESUMABLE_CHANGES = frozenset({"steps", "checkpoint_every", "keep", "log_every", "shards_path"})


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000  # total optimiser steps of the run (a resume continues up to this number)
    batch_size: int = 2  # per process
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.01  # torch's AdamW default
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    ema_decay: float = 0.9999  # 0 disables the EMA
    checkpoint_every: int = 500
    keep: int = 3  # newest checkpoints kept on disk
    seed: int = 0
    autocast: str = "none"  # none | bf16 | fp16
    cond_dropout: float = 0.0  # probability of dropping the condition (classifier-free guidance)
    log_every: int = 10
    deterministic: bool = True  # torch.use_deterministic_algorithms, for exact resume

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "keep", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        for name in ("beta1", "beta2", "ema_decay", "cond_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        for name in ("weight_decay", "grad_clip", "eps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.autocast not in AUTOCAST_CHOICES:
            raise ValueError(f"autocast must be one of {', '.join(AUTOCAST_CHOICES)}, got {self.autocast!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from `to_dict` output; unknown keys are an error (they mean a newer or foreign file)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; this file was written by another version")
        return cls(**data)


class TrainOptionError(UserError, ValueError):
    """A model's training option is out of range (the message names it and the allowed values)."""


class ConfigMismatchError(UserError, ValueError):
    """A resume was asked with settings that differ from the run directory's `config.json` (or that file is
    damaged), or a fresh run was asked in a directory that already holds one."""


def config_differences(saved: dict[str, Any], requested: dict[str, Any], prefix: str = "") -> list[str]:
    """List `key: saved -> requested` for every leaf that differs, skipping `RESUMABLE_CHANGES` keys."""
    diffs = []
    for key in sorted(set(saved) | set(requested)):
        if key in RESUMABLE_CHANGES:
            continue
        old, new = saved.get(key, "<absent>"), requested.get(key, "<absent>")
        if isinstance(old, dict) and isinstance(new, dict):
            diffs += config_differences(old, new, f"{prefix}{key}.")
        elif old != new:
            diffs.append(f"{prefix}{key}: {old!r} -> {new!r}")
    return diffs


def check_run_config(run_dir: str | Path, run_config: dict[str, Any], resume: bool) -> dict[str, Any]:
    """Check `<run_dir>/config.json` against a request without writing anything; return the config to write.

    A fresh run refuses a directory that already holds a run (so nothing is overwritten by accident);
    a resume refuses a request whose settings differ from the saved ones, except `RESUMABLE_CHANGES`.
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    # Round-trip through JSON so tuples/lists and ints/floats compare the way they were saved.
    run_config = json.loads(json.dumps(run_config))
    if resume and path.exists():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise ConfigMismatchError(f"{path} is unreadable ({err}); it was damaged: restore it, or start "
                                      "a new run in another --out directory") from None
        diffs = config_differences(saved, run_config)
        if diffs:
            raise ConfigMismatchError(
                f"--resume on {run_dir} with different settings: {'; '.join(diffs)}. Resume with the "
                "original settings, or start a new run in another --out directory."
            )
    elif not resume and path.exists():
        raise ConfigMismatchError(
            f"--out {run_dir} already holds a run (config.json exists); pass --resume to continue it or "
            "choose another --out directory"
        )
    return run_config


def write_run_config(run_dir: str | Path, run_config: dict[str, Any]) -> None:
    """Write `<run_dir>/config.json` atomically (creating `run_dir`); call once the first step can run,
    so a run that fails on its inputs leaves the folder as it found it (issue 25)."""
    write_json_atomic(Path(run_dir) / "config.json", run_config)


def prepare_run_config(run_dir: str | Path, run_config: dict[str, Any], resume: bool) -> None:
    """`check_run_config`, then `write_run_config` (for callers with nothing to check in between); a
    resume records the new values of `RESUMABLE_CHANGES`."""
    write_run_config(run_dir, check_run_config(run_dir, run_config, resume))
