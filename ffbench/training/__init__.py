"""Training: the engine every model's training runs on: one loop of named modules, optimizers and phases
(EMA, clipping, autocast, checkpoints, exact resume, DDP; see `ffbench.training.loop`). It imports no model:
each model's recipe lives beside the model (`ffbench/models/<name>/training.py`) and hands this loop its
networks, phases and losses (`TrainingSetup`, `Phase`)."""

from ffbench.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from ffbench.training.config import ConfigMismatchError, TrainConfig
from ffbench.training.loop import (
    NonFiniteLossError,
    Phase,
    StepContext,
    TrainingSetup,
    TrainResult,
    adamw,
    seed_everything,
    train,
    train_phases,
)

__all__ = [
    "ConfigMismatchError",
    "NonFiniteLossError",
    "Phase",
    "StepContext",
    "TrainConfig",
    "TrainResult",
    "TrainingSetup",
    "adamw",
    "latest_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "train",
    "train_phases",
]
