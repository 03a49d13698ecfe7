"""Training checkpoints: safetensors for tensors, JSON for everything else, never pickle.

Layout of `<run_dir>/checkpoint-<step>/`:

    <module>.safetensors        weights of each module (e.g. model.safetensors)
    <module>.ema.safetensors    its EMA shadow weights, by parameter name
    <optimizer>.safetensors     optimiser state tensors, keyed "<param index>.<name>" (exp_avg, ...)
    state.json                  step, data position, TrainConfig, optimiser param groups and scalars,
                                EMA scalars, caller extras (e.g. the GradScaler state)
    rng-rank<r>.json            RNG states of rank r: torch (CPU and CUDA), numpy, python, named generators

The directory is assembled under `.checkpoint-<step>.tmp` and renamed when complete, so a crash never
leaves a half-written `checkpoint-<step>`; afterwards only the newest `keep` checkpoints stay.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from ffbench.errors import UserError
from ffbench.fileio import apply_umask, write_json_atomic
from ffbench.training.distributed import DistInfo, barrier
from ffbench.training.ema import ModelEMA

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
FORMAT_VERSION = 1


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, incomplete or does not fit the model being trained."""


@dataclass
class LoadedCheckpoint:
    step: int
    data_position: int  # batches consumed per rank; the loader resumes at start_batch=data_position
    train_config: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    rng_restored: bool = True  # False when this rank had no saved RNG (resume with more processes)


def checkpoint_step(path: str | Path) -> int:
    match = CHECKPOINT_RE.match(Path(path).name)
    if match is None:
        raise CheckpointError(f"{path} is not a checkpoint directory (expected a name like checkpoint-1200)")
    return int(match.group(1))


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [p for p in run_dir.iterdir() if p.is_dir() and CHECKPOINT_RE.match(p.name)
             and (p / "state.json").is_file()]
    return sorted(found, key=checkpoint_step)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete `checkpoint-<step>` directory of `run_dir`, or None."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


# ---- RNG state as JSON ------------------------------------------------------------------------------

def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8).clone()


def rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Every RNG this process draws from, as JSON-ready data."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": _b64(torch.get_rng_state()),
        "cuda": [_b64(s) for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_version, list(py_internal), py_gauss],
        "generators": {name: _b64(g.get_state()) for name, g in (generators or {}).items()},
    }
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator] | None = None) -> None:
    """Restore what `rng_state` captured."""
    torch.set_rng_state(_unb64(state["torch"]))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_unb64(s) for s in state["cuda"]])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    for gname, g in (generators or {}).items():
        if gname not in state["generators"]:
            raise CheckpointError(f"checkpoint has no state for generator {gname!r}")
        g.set_state(_unb64(state["generators"][gname]))


# ---- optimiser state ----------------------------------------------------------------------------------

def _split_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimiser state -> (tensors for safetensors, the rest for JSON)."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, per_param in sd["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for flat, value in [*tensors.items(), *meta["scalars"].items()]:
        index, key = flat.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


# ---- save / load --------------------------------------------------------------------------------------

def _load_tensors(path: Path, file: str) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path / file))
    except FileNotFoundError as err:
        raise CheckpointError(f"{path}: {file} is missing; the checkpoint is incomplete") from err
    except SafetensorError as err:
        raise _unreadable(path, file, err) from None


def _file_names(modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]) -> None:
    names = [*modules, *(f"{m}.ema" for m in modules), *optimizers]
    if len(set(names)) != len(names) or "state" in names or any(n.startswith("rng-") for n in names):
        raise ValueError(f"module / optimizer names must be distinct and not 'state' or 'rng-*', got {names}")


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    *,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    emas: dict[str, ModelEMA] | None = None,
    train_config: dict[str, Any],
    data_position: int,
    generators: dict[str, torch.Generator] | None = None,
    extra: dict[str, Any] | None = None,
    keep: int | None = None,
    info: DistInfo | None = None,
) -> Path:
    """Write `<run_dir>/checkpoint-<step>` atomically; call on every rank (each saves its own RNG).

    `modules` are the bare modules (not DDP wrappers). Returns the checkpoint path.
    """
    info = info or DistInfo(0, 1, 0, torch.device("cpu"))
    _file_names(modules, optimizers)
    run_dir = Path(run_dir)
    final = run_dir / f"checkpoint-{step}"
    tmp = run_dir / f".checkpoint-{step}.tmp"
    if info.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier(info)
    try:
        write_json_atomic(tmp / f"rng-rank{info.rank}.json", rng_state(generators))
        barrier(info)
        if info.is_main:
            _write_and_rename(tmp, final, run_dir, step, modules, optimizers, emas, train_config,
                              data_position, extra, keep, info)
    except BaseException:
        if info.is_main:  # a full disk or an interruption leaves no half-written .checkpoint-N.tmp
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    barrier(info)
    return final


def _write_and_rename(tmp: Path, final: Path, run_dir: Path, step: int, modules: dict[str, nn.Module],
                      optimizers: dict[str, torch.optim.Optimizer], emas: dict[str, ModelEMA] | None,
                      train_config: dict[str, Any], data_position: int, extra: dict[str, Any] | None,
                      keep: int | None, info: DistInfo) -> None:
    """The main rank's part of `save_checkpoint`: weights, optimiser state, state.json, then the rename."""
    state: dict[str, Any] = {
        "format": FORMAT_VERSION, "step": step, "data_position": data_position,
        "world_size": info.world_size, "train_config": train_config, "extra": extra or {},
        "optimizers": {}, "ema": {},
    }
    for name, module in modules.items():
        _saving(save_model, module, tmp / f"{name}.safetensors")
    for name, ema in (emas or {}).items():
        _saving(save_file, ema.tensors(), tmp / f"{name}.ema.safetensors")
        state["ema"][name] = ema.scalars()
    for name, optimizer in optimizers.items():
        tensors, meta = _split_optimizer(optimizer)
        _saving(save_file, tensors, tmp / f"{name}.safetensors")
        state["optimizers"][name] = meta
    write_json_atomic(tmp / "state.json", state)
    apply_umask(tmp)  # safetensors writes 0600 files
    if final.exists():  # re-saving a step (e.g. interrupted right after a periodic save)
        old = run_dir / f".checkpoint-{step}.old"
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old)
    else:
        tmp.rename(final)
    if keep is not None:
        prune_checkpoints(run_dir, keep)


def _saving(save: Any, obj: Any, path: Path) -> None:
    """Call a safetensors `save(obj, path)`; its I/O failures (reported as SafetensorError "Os { code: 28
    ... }") become the OSError they are, naming the file, so a full disk reads as one."""
    try:
        save(obj, str(path))
    except SafetensorError as err:
        code = re.search(r"code: (\d+)", str(err))
        if code is None:
            raise
        raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(path)) from err


def _unreadable(path: Path, file: str, err: BaseException) -> CheckpointError:
    older = [c.name for c in list_checkpoints(path.parent) if c != path]
    fix = (f"delete {path} to resume from {older[-1]}" if older else
           f"delete {path} (it is the only checkpoint) and train again without --resume")
    return CheckpointError(f"{path / file} is truncated or not a checkpoint file ({type(err).__name__}: "
                           f"{str(err).splitlines()[0][:160]}); {fix}")


def prune_checkpoints(run_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` checkpoints; return the deleted paths."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    doomed = list_checkpoints(run_dir)[:-keep]
    for path in doomed:
        shutil.rmtree(path)
    return doomed


def load_checkpoint(
    path: str | Path,
    *,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    emas: dict[str, ModelEMA] | None = None,
    generators: dict[str, torch.Generator] | None = None,
    info: DistInfo | None = None,
    restore_rng: bool = True,
) -> LoadedCheckpoint:
    """Load a `save_checkpoint` directory into live objects (on every rank) and restore this rank's RNG."""
    info = info or DistInfo(0, 1, 0, torch.device("cpu"))
    path = Path(path)
    state_file = path / "state.json"
    if not state_file.is_file():
        raise CheckpointError(f"{path} is not a complete checkpoint (no state.json)")
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            raise ValueError(f"a JSON {type(state).__name__}, not an object")
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _unreadable(path, "state.json", err) from None
    if state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {state.get('format')!r}, expected {FORMAT_VERSION}")
    for name, module in modules.items():
        try:
            missing, unexpected = load_model(module, str(path / f"{name}.safetensors"), strict=False,
                                             device=str(next(module.parameters()).device))
        except FileNotFoundError as err:
            raise CheckpointError(f"{path}: {name}.safetensors is missing") from err
        except SafetensorError as err:
            raise _unreadable(path, f"{name}.safetensors", err) from None
        except RuntimeError as err:  # torch's size-mismatch report
            raise CheckpointError(f"{path}/{name}.safetensors does not fit the model (it was trained with a "
                                  f"different model configuration): {err}") from err
        if missing or unexpected:
            raise CheckpointError(
                f"{path}/{name}.safetensors does not fit the model: missing {sorted(missing)[:5]}, "
                f"unexpected {sorted(unexpected)[:5]}; it was trained with a different model configuration"
            )
    for name, ema in (emas or {}).items():
        if name not in state["ema"]:
            raise CheckpointError(f"{path} has no EMA for {name!r}; resume with the same --ema-decay setting")
        ema.load(_load_tensors(path, f"{name}.ema.safetensors"), state["ema"][name])
    for name, optimizer in optimizers.items():
        if name not in state["optimizers"]:
            raise CheckpointError(f"{path} has no optimizer state named {name!r}")
        tensors = _load_tensors(path, f"{name}.safetensors")
        try:
            optimizer.load_state_dict(_join_optimizer(tensors, state["optimizers"][name]))
        except (ValueError, KeyError) as err:  # torch: "loaded state dict contains a parameter group ..."
            raise CheckpointError(f"{path}/{name}.safetensors does not fit the optimizer of this model (it "
                                  f"was saved for another model configuration): {err}") from err
    rng_file = path / f"rng-rank{info.rank}.json"
    restored = rng_file.is_file() and restore_rng
    if restored:
        try:
            rng = json.loads(rng_file.read_text(encoding="utf-8"))
        except ValueError as err:
            raise _unreadable(path, rng_file.name, err) from None
        set_rng_state(rng, generators)
    return LoadedCheckpoint(step=state["step"], data_position=state["data_position"],
                            train_config=state["train_config"], extra=state["extra"], rng_restored=restored)


def export_pretrained(model: nn.Module, out: Path, name: str) -> Path:
    """Save `model` (diffusers-style `save_pretrained`) to `out/name` atomically, with the user's umask."""
    final, tmp = out / name, out / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    apply_umask(tmp)  # safetensors writes 0600 files
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final
