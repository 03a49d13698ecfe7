"""The saved form of a trained cINN baseline: one folder holding the three parts it samples with.

    <folder>/model_index.json   {"_class_name": "CINNModel", parts, their weights' sha256, training notes}
    <folder>/autoencoder/       CINNAutoencoder.save_pretrained (config.json + safetensors)
    <folder>/condition/         CINNConditionEncoder.save_pretrained
    <folder>/flow/              CINNFlow.save_pretrained

Each part is written to a temporary name and renamed; `model_index.json` is removed before a part
changes and written only when all three parts are present, so a folder with an index is complete and
consistent. `load_cinn` refuses a folder whose parts no longer match the hashes in its index.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ffbench.errors import UserError
from ffbench.fileio import sha256_file, write_json_atomic
from ffbench.models.cinn.autoencoder import CINNAutoencoder
from ffbench.models.cinn.condition import CINNConditionEncoder
from ffbench.models.cinn.flow import CINNFlow
from ffbench.models.cinn.sampling import check_compatible, sample_clips

CLASS_NAME = "CINNModel"
INDEX = "model_index.json"
PARTS = {"autoencoder": CINNAutoencoder, "condition": CINNConditionEncoder, "flow": CINNFlow}
WEIGHTS = "diffusion_pytorch_model.safetensors"  # diffusers' file name for save_pretrained weights


class CINNCheckpointError(UserError, ValueError):
    """A cINN model folder is missing a part, is incomplete, or its parts do not belong together."""


def part_digest(folder: str | Path, part: str) -> str:
    """sha256 of a saved part's weights file (names the exact weights a later stage was trained on)."""
    path = Path(folder) / part / WEIGHTS
    if not path.is_file():
        raise CINNCheckpointError(f"{path.parent}: no saved {part} ({WEIGHTS} missing)")
    return sha256_file(path)


def save_part(module: torch.nn.Module, folder: str | Path, part: str) -> Path:
    """Save one part into `folder/part`, atomically; drops the folder's index (it no longer describes it)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / INDEX).unlink(missing_ok=True)
    final, tmp = folder / part, folder / f".{part}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    module.save_pretrained(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def write_index(folder: str | Path, notes: dict[str, Any]) -> Path:
    """Write `model_index.json` once all parts are saved: class name, parts, their digests, `notes`
    (how it was trained, e.g. whether LPIPS was used)."""
    folder = Path(folder)
    index = {"_class_name": CLASS_NAME, "parts": {p: PARTS[p].__name__ for p in PARTS},
             "sha256": {p: part_digest(folder, p) for p in PARTS}, **notes}
    write_json_atomic(folder / INDEX, index)
    return folder / INDEX


def read_index(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / INDEX
    if not path.is_file():
        raise CINNCheckpointError(f"{folder}: no {INDEX}; this is not a complete cINN model folder (train "
                                  "every stage: `ffbench train cinn --stage all --resume --out RUN`)")
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise CINNCheckpointError(f"{path}: unreadable ({err}); re-export the model") from None
    if index.get("_class_name") != CLASS_NAME:
        raise CINNCheckpointError(f"{path}: _class_name is {index.get('_class_name')!r}, not {CLASS_NAME}")
    return index


def load_cinn(folder: str | Path, device: str | torch.device = "cpu"
              ) -> tuple[CINNAutoencoder, CINNConditionEncoder, CINNFlow]:
    """The three parts of a saved cINN model in eval mode, after checking they are the ones its index
    names and that they fit together."""
    folder = Path(folder)
    index = read_index(folder)
    for part, want in index.get("sha256", {}).items():
        if part_digest(folder, part) != want:
            raise CINNCheckpointError(f"{folder / part}: its weights changed after {folder / INDEX} was "
                                      "written (a stage was retrained); finish training the later stages "
                                      "so the model is exported again")
    parts = []
    for part, cls in PARTS.items():
        try:
            parts.append(cls.from_pretrained(folder / part).to(device).eval())
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            raise CINNCheckpointError(f"{folder / part}: cannot be loaded as a {cls.__name__}: {err}"
                                      ) from None
    autoencoder, condition, flow = parts
    try:
        check_compatible(autoencoder, condition, flow)
    except ValueError as err:
        raise CINNCheckpointError(f"{folder}: {err}") from None
    return autoencoder, condition, flow


class CINNSampler:
    """The generator protocol of `ffbench generate` over a saved cINN model: condition frames (B, 3, H, W)
    in [-1, 1] at `size` -> videos (B, 3, F, H, W) whose frame 0 is the condition and whose other frames
    are decoded from z = cINN^-1(u | c), u ~ N(0, I). It makes the training clip length at most."""

    def __init__(self, folder: str | Path, device: str | torch.device = "cpu"):
        self.autoencoder, self.condition, self.flow = load_cinn(folder, device)
        config = self.autoencoder.config
        self.size = tuple(config.sample_size)
        self.num_frames = self.max_frames = int(config.num_frames)
        self.fps = float(config.fps)
        self.settings = {"noise": f"u ~ N(0, I) of {self.flow.config.z_dim} dims, z = cINN^-1(u | c(x0))",
                         "frame0": "the condition frame"}
        self.flags: list[str] = []

    def __call__(self, cond: torch.Tensor, num_frames: int, generator: torch.Generator,
                 real: torch.Tensor | None = None) -> torch.Tensor:
        if num_frames > self.max_frames:
            raise ValueError(f"this cINN makes at most {self.max_frames} frames (its training clip length); "
                             f"asked for {num_frames}")
        param = next(self.autoencoder.parameters())
        video = sample_clips(self.autoencoder, self.condition, self.flow, cond.to(param), generator)
        return video[:, :, :num_frames]
