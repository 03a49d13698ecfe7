"""Training: one generic loop (AdamW, EMA, clipping, autocast, checkpoints, exact resume, DDP) and the
per-model wiring that feeds it (`ffbench.training.fashionflow`)."""

from ffbench.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from ffbench.training.config import ConfigMismatchError, TrainConfig
from ffbench.training.loop import NonFiniteLossError, TrainResult, seed_everything, train

__all__ = [
    "ConfigMismatchError",
    "NonFiniteLossError",
    "TrainConfig",
    "TrainResult",
    "latest_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "train",
]
