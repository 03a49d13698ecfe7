"""The training loop shared by every model: AdamW, EMA, clipping, autocast, checkpoints, exact resume.

A model plugs in with three things: the module, a loss function `loss_fn(model, batch, generator) ->
scalar tensor` and a batch source `batches(start_batch) -> iterable of dict batches` that is
deterministic given its start position. The loop owns everything else, so resume, DDP and logging
behave the same for FashionFlow and the baselines.

Exact resume: a checkpoint holds the weights, the EMA, the optimiser state, every RNG of every rank and
the number of batches consumed; `train(..., resume=True)` restores all of them and asks the batch source
to start where the interrupted run stopped, so N steps + resume N steps equals 2N steps.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ffbench.errors import UserError
from ffbench.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from ffbench.training.config import TrainConfig, prepare_run_config
from ffbench.training.distributed import (
    DistInfo,
    any_rank,
    barrier,
    init_distributed,
    mean_over_ranks,
    unwrap_model,
    wrap_model,
)
from ffbench.training.ema import ModelEMA

log = logging.getLogger("ffbench.training")

LossFn = Callable[[nn.Module, dict[str, Any], torch.Generator], torch.Tensor]
BatchSource = Callable[[int], Iterable[dict[str, Any]]]


class NonFiniteLossError(UserError, RuntimeError):
    """The loss or the gradient became NaN/inf; the weights of that step were not applied."""


@dataclass
class TrainResult:
    step: int  # optimiser steps done in total (including those before a resume)
    last_checkpoint: Path | None
    interrupted: bool = False  # stopped by SIGINT/SIGTERM after saving a checkpoint
    losses: list[float] = field(default_factory=list)  # this process's loss at each step of this session
    seconds_per_step: float = float("nan")  # mean wall time per step of this session, first step excluded


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch; call before building the model so its init is reproducible."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rank_seed(seed: int, rank: int) -> int:
    # A different, fixed stream per rank: ranks must not draw identical noise.
    return (seed * 1_000_003 + rank * 7919 + 1) % 2**63


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag the loop checks once per step (main thread only)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # second signal: stop now, without a checkpoint
            raise KeyboardInterrupt
        self.requested = True
        log.warning("received %s: saving a checkpoint after this step, then stopping",
                    signal.Signals(signum).name)

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _autocast(config: TrainConfig, device: torch.device):
    if config.autocast == "none":
        return nullcontext()
    dtype = torch.bfloat16 if config.autocast == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after `step` (by a run that died before its next checkpoint)."""
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["step"] <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    tmp.replace(path)


@contextmanager
def _deterministic(enabled: bool):
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


def train(
    model: nn.Module,
    loss_fn: LossFn,
    batches: BatchSource,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    run_config: dict[str, Any] | None = None,
    info: DistInfo | None = None,
    on_finish: Callable[[nn.Module], None] | None = None,
    progress: bool = True,
    find_unused_parameters: bool = False,
) -> TrainResult:
    """Train `model` for `config.steps` optimiser steps, checkpointing into `run_dir`.

    Args:
        model: the bare module, already initialised (call `seed_everything(config.seed)` first).
        loss_fn: `loss_fn(model, batch, generator)` -> scalar loss; `model` may be a DDP wrapper, so
            call it, do not reach into its attributes; draw all randomness from `generator`.
        batches: `batches(start_batch)` -> iterable of dict batches, starting at batch `start_batch`
            of a deterministic stream; tensors are moved to the device by the loop.
        config: optimisation settings; saved in `config.json` and in every checkpoint.
        run_dir: holds `config.json`, `log.jsonl` (one JSON object per `log_every` steps) and
            `checkpoint-<step>/` directories.
        resume: continue from the newest checkpoint in `run_dir` (fresh start if there is none).
        run_config: model-specific settings stored beside `config` in `config.json`; a resume with
            different values is refused.
        info: process-group info; default `init_distributed()` (torchrun aware).
        on_finish: called on the main process with the bare model holding the EMA weights (or the
            trained weights without EMA) after the last step, e.g. to export a pipeline.
    """
    info = info or init_distributed()
    run_dir = Path(run_dir)
    if info.is_main:
        prepare_run_config(run_dir, {"train": config.to_dict(), **(run_config or {})}, resume)
    barrier(info)

    model.to(info.device)
    model.train()
    ddp_model = wrap_model(model, info, find_unused_parameters=find_unused_parameters)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
                                  eps=config.eps, weight_decay=config.weight_decay)
    emas = {"model": ModelEMA(model, config.ema_decay)} if config.ema_decay > 0 else {}
    scaler = torch.amp.GradScaler(info.device.type, enabled=config.autocast == "fp16")
    generator = torch.Generator(device=info.device)
    seed_everything(_rank_seed(config.seed, info.rank))
    generator.manual_seed(_rank_seed(config.seed, info.rank))
    generators = {"loss": generator}

    step, data_position, last_ckpt = 0, 0, None
    if resume and (found := latest_checkpoint(run_dir)) is not None:
        loaded = load_checkpoint(found, modules={"model": model}, optimizers={"optimizer": optimizer},
                                 emas=emas, generators=generators, info=info)
        step, data_position, last_ckpt = loaded.step, loaded.data_position, found
        if "scaler" in loaded.extra:
            scaler.load_state_dict(loaded.extra["scaler"])
        if not loaded.rng_restored:
            log.warning("rank %d has no saved RNG state in %s (more processes than before); the resumed "
                        "run is valid but not bit-identical to an uninterrupted one", info.rank, found)
        if info.is_main:
            log.info("resumed from %s (step %d, batch %d)", found, step, data_position)
            _truncate_log(run_dir / "log.jsonl", step)
    elif resume and info.is_main:
        log.info("no checkpoint in %s: starting from step 0", run_dir)
        _truncate_log(run_dir / "log.jsonl", 0)
    barrier(info)

    def save(at_step: int) -> Path:
        return save_checkpoint(
            run_dir, at_step, modules={"model": model}, optimizers={"optimizer": optimizer}, emas=emas,
            train_config=config.to_dict(), data_position=data_position, generators=generators,
            extra={"scaler": scaler.state_dict()} if scaler.is_enabled() else {}, keep=config.keep, info=info,
        )

    result = TrainResult(step=step, last_checkpoint=last_ckpt)
    params = [p for p in model.parameters() if p.requires_grad]
    stream: Iterator[dict[str, Any]] = iter(batches(data_position))
    bar = tqdm(total=config.steps, initial=step, disable=not (progress and info.is_main), unit="step",
               dynamic_ncols=True)
    log_file = run_dir / "log.jsonl"
    window: list[float] = []
    session_start = window_start = time.perf_counter()
    first_step_end = None
    with _StopRequest() as stop, _deterministic(config.deterministic), bar:
        while step < config.steps:
            try:
                batch = next(stream)
            except StopIteration:
                raise RuntimeError(f"the batch stream ended after {data_position} batches, before step "
                                   f"{config.steps}; use an endless (resampled) loader") from None
            data_position += 1
            batch = _to_device(batch, info.device)
            with _autocast(config, info.device):
                loss = loss_fn(ddp_model, batch, generator)
            if any_rank(not torch.isfinite(loss.detach()).all().item(), info):
                raise NonFiniteLossError(
                    f"loss is {loss.item()} at step {step + 1} (batch {data_position - 1}); the weights were "
                    f"not updated. Last good checkpoint: {result.last_checkpoint or 'none'}. Lower --lr, "
                    "enable gradient clipping, or resume from that checkpoint with --autocast none."
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            max_norm = config.grad_clip if config.grad_clip > 0 else math.inf
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
            if not math.isfinite(grad_norm) and not scaler.is_enabled():
                raise NonFiniteLossError(
                    f"gradient norm is {grad_norm} at step {step + 1}; the weights were not updated. Last "
                    f"good checkpoint: {result.last_checkpoint or 'none'}. Lower --lr or check the data."
                )
            scaler.step(optimizer)  # skips the update when fp16 gradients overflowed
            scaler.update()
            for ema in emas.values():
                ema.update(model)
            step += 1
            loss_value = float(loss.detach())
            result.losses.append(loss_value)
            window.append(loss_value)
            if first_step_end is None:
                first_step_end = time.perf_counter()
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
            bar.update(1)

            if step % config.log_every == 0 or step == config.steps:
                mean_loss = float(mean_over_ranks(torch.tensor(sum(window) / len(window),
                                                               device=info.device), info))
                now = time.perf_counter()
                if info.is_main:
                    record = {"step": step, "loss": mean_loss, "grad_norm": grad_norm,
                              "lr": optimizer.param_groups[0]["lr"],
                              "it_per_s": len(window) / (now - window_start),
                              "data_position": data_position, "time": time.time()}
                    with log_file.open("a") as fh:
                        fh.write(json.dumps(record) + "\n")
                window, window_start = [], now

            stopping = any_rank(stop.requested, info)
            if step % config.checkpoint_every == 0 or step == config.steps or stopping:
                result.last_checkpoint = save(step)
            if stopping:
                result.interrupted = True
                break
    result.step = step
    if first_step_end is not None and len(result.losses) > 1:
        result.seconds_per_step = (time.perf_counter() - first_step_end) / (len(result.losses) - 1)
    elif result.losses:
        result.seconds_per_step = time.perf_counter() - session_start

    if step >= config.steps and on_finish is not None and info.is_main:
        _finish_with_ema(model, emas.get("model"), on_finish)
    barrier(info)
    return result


def _finish_with_ema(model: nn.Module, ema: ModelEMA | None, on_finish: Callable[[nn.Module], None]) -> None:
    """Run `on_finish` on the model holding the EMA weights, then put the trained weights back."""
    model = unwrap_model(model)
    if ema is None:
        on_finish(model)
        return
    ema.ema.store(model.parameters())
    ema.copy_to(model)
    try:
        on_finish(model)
    finally:
        ema.ema.restore(model.parameters())

