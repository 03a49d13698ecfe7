"""The training loop shared by every model: named modules and optimizers updated in phases, EMA, clipping,
autocast, checkpoints, exact resume, DDP, progress, NaN stop.

Two entry points, one loop:

- `train(model, loss_fn, batches, config, run_dir)`: one module, one AdamW, one loss (FashionFlow).
  `loss_fn(model, batch, generator) -> scalar tensor`.
- `train_phases(setup, batches, config, run_dir)`: several named modules and optimizers, and a list of
  phases in the manner of stylegan2-ada's training loop (GANs, multi-network baselines).

How a model declares its training (`TrainingSetup`):

    setup = TrainingSetup(
        modules={"generator": G, "video_disc": DV, "image_disc": DI},        # names = checkpoint file names
        optimizers={"g_opt": adamw(G.parameters(), config),                    # built over those modules'
                    "d_opt": adamw([*DV.parameters(), *DI.parameters()], config)},  # parameters
        phases=[Phase("G", modules=("generator",), optimizer="g_opt", loss=g_loss),
                Phase("D", modules=("video_disc", "image_disc"), optimizer="d_opt", loss=d_loss)],
        ema=("generator",),          # EMA kept (and exported) for these modules when config.ema_decay > 0
    )
    train_phases(setup, batches, config, run_dir, on_finish=lambda modules: export(modules["generator"]))

Each step takes one batch from `batches` and runs, in list order, every phase that is active at that
step. A phase is a name, the modules it updates, the optimizer that updates them, its loss and when it
runs: every `interval` steps within steps [`start`, `stop`). Running a phase means: only its modules'
parameters require grad (the others are frozen for its backward, as in stylegan2-ada), its optimizer's
gradients are zeroed, `loss(ctx)` is evaluated under autocast, gradients are averaged over ranks,
clipped (`grad_clip`, default `config.grad_clip`) and applied. After the step, the EMA of every updated
EMA module is advanced. A module is in train mode at a step when some phase whose [start, stop) range
holds that step updates it, and in eval mode otherwise (intervals do not matter: a discriminator updated
every other step stays in train mode; a finished stage's network uses its BatchNorm statistics and no
dropout while a later stage calls it).

A phase loss gets a `StepContext` and returns the scalar to minimise, or `(scalar, {term: value})`:

    def g_loss(ctx: StepContext):
        G = ctx.modules["generator"]
        fake = G(ctx.batch["video"][:, :, 0], generator=ctx.generator)   # draw all noise from ctx.generator
        ctx.shared["fake"] = fake.detach()                                # later phases of this step see it
        l1 = (fake - ctx.batch["video"]).abs().mean()
        adv = ...
        return 100 * l1 + adv, {"l1": l1, "adv": adv}

`log.jsonl` gets per line `loss` (the first phase's loss: the model's loss for one-phase runs, the
generator's for GANs, so list it first), `loss/<phase>` and `loss/<phase>/<term>` (means over the
steps of the window in which the phase ran), `grad_norm` and `grad_norm/<phase>`, `lr` and
`lr/<optimizer>`. `TrainResult.history` has the same values per step of the session.

Multi-stage training (e.g. cINN: autoencoder, then condition encoder, then flow) has two shapes:
(a) one run whose phases cover consecutive step ranges, `Phase("autoencoder", ..., stop=N1)`,
`Phase("condition", ..., start=N1, stop=N2)`, `Phase("flow", ..., start=N2)`; a later phase's loss calls
the earlier modules (which it does not update, so they stay frozen) and exact resume holds across the
boundaries for free; or (b) one run directory per stage (`<out>/<stage>`), each a `train_phases` call,
a later stage loading the earlier stage's export and refusing to start without it. (a) shares one batch
stream and one batch size; choose (b) when the stages need different data or settings.

DDP: under torchrun every process runs this loop on its own batches; after each phase's backward the
gradients of that phase's parameters are averaged over ranks with one flattened all-reduce (missing
gradients count as zeros), and module buffers (BatchNorm statistics, spectral-norm vectors) are copied
from rank 0 after every step. No DistributedDataParallel wrapper is used: a GAN calls its discriminator
several times per step and through frozen parameters, which DDP's reducer does not allow.

Exact resume: a checkpoint holds every module's weights, each EMA, each optimiser state, every RNG of
every rank and the number of batches consumed; a resume restores all of them and asks the batch source
to start where the interrupted run stopped, so N steps + resume N steps equals 2N steps, bit for bit.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ffbench.errors import UserError
from ffbench.progress import progress_bar
from ffbench.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from ffbench.training.config import TrainConfig, check_run_config, write_run_config
from ffbench.training.distributed import DistInfo, any_rank, barrier, init_distributed
from ffbench.training.ema import ModelEMA

log = logging.getLogger("ffbench.training")

LossFn = Callable[[nn.Module, dict[str, Any], torch.Generator], torch.Tensor]
BatchSource = Callable[[int], Iterable[dict[str, Any]]]
LossOutput = torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor | float]]


class NonFiniteLossError(UserError, RuntimeError):
    """The loss or the gradient became NaN/inf; the update of that phase was not applied."""


@dataclass
class StepContext:
    """What a phase loss sees: the modules by name, this step's batch (tensors on the device), the
    loop's random generator (draw every random number from it, for exact resume), the 0-based index of
    the step being taken, and `shared`, a dict the phases of one step pass values through (emptied
    before every step)."""

    modules: dict[str, nn.Module]
    batch: dict[str, Any]
    generator: torch.Generator
    step: int
    shared: dict[str, Any] = field(default_factory=dict)


PhaseLoss = Callable[[StepContext], LossOutput]


@dataclass(frozen=True)
class Phase:
    """One kind of update: `loss` minimised over the parameters of `modules` by `optimizer`.

    Runs at 0-based step s when start <= s < stop and (s - start) % interval == 0. `grad_clip`
    overrides `config.grad_clip` for this phase (0 disables clipping).
    """

    name: str
    modules: tuple[str, ...]
    optimizer: str
    loss: PhaseLoss
    interval: int = 1
    start: int = 0
    stop: int | None = None
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.modules, str):
            object.__setattr__(self, "modules", (self.modules,))
        if not self.name or "/" in self.name:
            raise ValueError(f"phase name {self.name!r} must be non-empty and without '/'")
        if self.interval < 1 or self.start < 0 or (self.stop is not None and self.stop <= self.start):
            raise ValueError(f"phase {self.name!r}: interval={self.interval} must be >= 1 and "
                             f"0 <= start={self.start} < stop={self.stop}")

    def in_range(self, step: int) -> bool:
        """Whether 0-based step `step` lies in [start, stop) (this phase's stage)."""
        return self.start <= step and (self.stop is None or step < self.stop)

    def active(self, step: int) -> bool:
        """Whether this phase runs at 0-based step `step`."""
        return self.in_range(step) and (step - self.start) % self.interval == 0


@dataclass
class TrainingSetup:
    """The named modules, the optimizers over their parameters, the phases, and the EMA modules."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    phases: list[Phase]
    ema: tuple[str, ...] = ()

    def check(self) -> None:
        """Refuse a setup whose names do not line up (a bug in the model's wiring, found before step 1)."""
        names = [p.name for p in self.phases]
        if not self.phases or len(set(names)) != len(names):
            raise ValueError(f"phases need distinct names and at least one phase, got {names}")
        for phase in self.phases:
            unknown = [m for m in phase.modules if m not in self.modules]
            if unknown or phase.optimizer not in self.optimizers:
                raise ValueError(f"phase {phase.name!r} names unknown modules {unknown} or optimizer "
                                 f"{phase.optimizer!r}; modules: {list(self.modules)}, "
                                 f"optimizers: {list(self.optimizers)}")
            owned = {id(p) for g in self.optimizers[phase.optimizer].param_groups for p in g["params"]}
            stray = [f"{m}.{n}" for m in phase.modules for n, p in self.modules[m].named_parameters()
                     if p.requires_grad and id(p) not in owned]
            if stray:
                raise ValueError(f"phase {phase.name!r} updates {list(phase.modules)} but optimizer "
                                 f"{phase.optimizer!r} does not hold {stray[:3]}")
        if unknown := [m for m in self.ema if m not in self.modules]:
            raise ValueError(f"ema names unknown modules {unknown}; modules: {list(self.modules)}")


@dataclass
class TrainResult:
    step: int  # optimiser steps done in total (including those before a resume)
    last_checkpoint: Path | None
    interrupted: bool = False  # stopped by SIGINT/SIGTERM after saving a checkpoint
    losses: list[float] = field(default_factory=list)  # this process's first-phase loss at each step run
    seconds_per_step: float = float("nan")  # mean wall time per step of this session, first step excluded
    history: list[dict[str, float]] = field(default_factory=list)  # this process's logged values per step
    exported: Path | None = None  # what the model's wiring exported after the last step, if anything


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch; call before building the model so its init is reproducible."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def adamw(params: Iterable[nn.Parameter], config: TrainConfig, lr: float | None = None) -> torch.optim.AdamW:
    """AdamW with the run's settings (`lr` overrides config.lr, e.g. a discriminator's own rate).
    With weight_decay 0 this is Adam, the optimizer of the GAN baselines' papers."""
    return torch.optim.AdamW(params, lr=config.lr if lr is None else lr, betas=(config.beta1, config.beta2),
                             eps=config.eps, weight_decay=config.weight_decay)


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


def _split_loss(output: LossOutput, phase: str) -> tuple[torch.Tensor, dict[str, float]]:
    total, terms = (output if isinstance(output, tuple) else (output, {}))
    if not isinstance(total, torch.Tensor) or total.numel() != 1:
        raise TypeError(f"phase {phase!r}: the loss must return a scalar tensor or (scalar, terms), "
                        f"got {type(total).__name__}")
    return total, {k: float(v.detach() if isinstance(v, torch.Tensor) else v) for k, v in terms.items()}


def _average_gradients(params: Sequence[nn.Parameter], info: DistInfo) -> None:
    """Average the gradients of `params` over ranks in one flattened all-reduce (missing ones as zeros)."""
    if not info.distributed or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= info.world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def _sync_buffers(modules: dict[str, nn.Module], info: DistInfo) -> None:
    """Copy every buffer from rank 0 (what DDP's broadcast_buffers does)."""
    if not info.distributed:
        return
    for module in modules.values():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def _mean_over_ranks(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    if not info.distributed or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return {k: float(v) / info.world_size for k, v in zip(keys, tensor.tolist(), strict=True)}


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
) -> TrainResult:
    """Train one `model` with one AdamW on `loss_fn`: `train_phases` with the phase "main".

    Args:
        model: the bare module, already initialised (call `seed_everything(config.seed)` first).
        loss_fn: `loss_fn(model, batch, generator)` -> scalar loss; draw all randomness from `generator`.
        batches, config, run_dir, resume, run_config, info, progress: as in `train_phases`.
        on_finish: called on the main process with the model holding the EMA weights (or the trained
            weights without EMA) after the last step, e.g. to export a pipeline.

    Checkpoint files: `model.safetensors`, `model.ema.safetensors`, `optimizer.safetensors`.
    """
    setup = TrainingSetup(
        modules={"model": model},
        optimizers={"optimizer": adamw(model.parameters(), config)},
        phases=[Phase("main", ("model",), "optimizer",
                      lambda ctx: loss_fn(ctx.modules["model"], ctx.batch, ctx.generator))],
        ema=("model",),
    )
    finish = (lambda modules: on_finish(modules["model"])) if on_finish is not None else None
    return train_phases(setup, batches, config, run_dir, resume=resume, run_config=run_config, info=info,
                        on_finish=finish, progress=progress)


def train_phases(
    setup: TrainingSetup,
    batches: BatchSource,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    run_config: dict[str, Any] | None = None,
    info: DistInfo | None = None,
    on_finish: Callable[[dict[str, nn.Module]], None] | None = None,
    progress: bool = True,
    on_start: Callable[[], None] | None = None,
) -> TrainResult:
    """Train `setup` for `config.steps` steps, checkpointing into `run_dir` (see the module docstring).

    Args:
        setup: modules (bare, initialised: call `seed_everything(config.seed)` before building them),
            optimizers over their parameters, phases, EMA module names.
        batches: `batches(start_batch)` -> iterable of dict batches, starting at batch `start_batch`
            of a deterministic stream; tensors are moved to the device by the loop. One batch per step.
        config: optimisation settings; saved in `config.json` and in every checkpoint. `ema_decay` 0
            disables the EMAs; `grad_clip` is the default of every phase.
        run_dir: holds `config.json`, `log.jsonl` (one JSON object per `log_every` steps) and
            `checkpoint-<step>/` directories.
        resume: continue from the newest checkpoint in `run_dir` (fresh start if there is none).
        run_config: model-specific settings stored beside `config` in `config.json`; a resume with
            different values is refused.
        info: process-group info; default `init_distributed()` (torchrun aware).
        on_finish: called on the main process with the modules, EMA modules holding their EMA weights,
            after the last step (e.g. to export the generator); the trained weights are put back after.
        on_start: called on the main process once the checkpoint is loaded and the first batch read,
            before anything is written into `run_dir` (e.g. a parent folder's own config file).

    Nothing is written before the settings, the checkpoint to resume from and the first batch are
    checked: a run that fails on its inputs leaves `run_dir` as it found it.
    """
    setup.check()
    info = info or init_distributed()
    run_dir = Path(run_dir)
    # Nothing is written into run_dir until the inputs are checked: the settings here, the checkpoint and
    # the data below (a resume that fails leaves the run byte-identical, a new run leaves no folder).
    full_config = check_run_config(run_dir, {"train": config.to_dict(), **(run_config or {})}, resume)

    modules, optimizers, phases = setup.modules, setup.optimizers, setup.phases
    for module in modules.values():
        module.to(info.device)  # in place: the optimizers keep pointing at the same parameters
    if info.distributed:  # every rank starts from rank 0's weights
        for module in modules.values():
            for tensor in (*module.parameters(), *module.buffers()):
                dist.broadcast(tensor.data, src=0)
    emas = {name: ModelEMA(modules[name], config.ema_decay) for name in setup.ema if config.ema_decay > 0}
    scaler = torch.amp.GradScaler(info.device.type, enabled=config.autocast == "fp16")
    generator = torch.Generator(device=info.device)
    seed_everything(_rank_seed(config.seed, info.rank))
    generator.manual_seed(_rank_seed(config.seed, info.rank))
    generators = {"loss": generator}

    step, data_position, last_ckpt = 0, 0, None
    if resume and (found := latest_checkpoint(run_dir)) is not None:
        loaded = load_checkpoint(found, modules=modules, optimizers=optimizers, emas=emas,
                                 generators=generators, info=info)
        step, data_position, last_ckpt = loaded.step, loaded.data_position, found
        if "scaler" in loaded.extra:
            scaler.load_state_dict(loaded.extra["scaler"])
        if not loaded.rng_restored:
            log.warning("rank %d has no saved RNG state in %s (more processes than before); the resumed "
                        "run is valid but not bit-identical to an uninterrupted one", info.rank, found)
        if info.is_main:
            log.info("resumed from %s (step %d, batch %d)", found, step, data_position)
    elif resume and info.is_main:
        log.info("no checkpoint in %s: starting from step 0", run_dir)

    # The first batch proves the data can be read (the loader checks every shard when it is built);
    # only then does the run directory get its config and the log its truncation.
    stream: Iterator[dict[str, Any]] = iter(batches(data_position))
    if step < config.steps:
        try:
            stream = itertools.chain([next(stream)], stream)
        except StopIteration:
            raise UserError(f"the batch source gave no batch at batch {data_position}; check the shards "
                            "(`ffbench prepare --verify --out DATA`)") from None
    if info.is_main:
        if on_start is not None:
            on_start()
        write_run_config(run_dir, full_config)
        if resume:
            _truncate_log(run_dir / "log.jsonl", step)
    barrier(info)

    def save(at_step: int) -> Path:
        return save_checkpoint(
            run_dir, at_step, modules=modules, optimizers=optimizers, emas=emas,
            train_config=config.to_dict(), data_position=data_position, generators=generators,
            extra={"scaler": scaler.state_dict()} if scaler.is_enabled() else {}, keep=config.keep, info=info,
        )

    # Which parameters each phase trains: its modules' parameters that are trainable at all.
    trainable = {m: [p for p in module.parameters() if p.requires_grad] for m, module in modules.items()}
    phase_params = {ph.name: [p for m in ph.modules for p in trainable[m]] for ph in phases}
    all_trainable = [p for params in trainable.values() for p in params]

    result = TrainResult(step=step, last_checkpoint=last_ckpt)
    bar = progress_bar(total=config.steps, initial=step, disable=not (progress and info.is_main), unit="step",
               dynamic_ncols=True)
    log_file = run_dir / "log.jsonl"
    window: dict[str, list[float]] = {}
    window_steps = 0
    first_key = f"loss/{phases[0].name}"
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
            in_stage = {m for ph in phases if ph.in_range(step) for m in ph.modules}
            for name, module in modules.items():
                if module.training != (name in in_stage):
                    module.train(name in in_stage)
            ctx = StepContext(modules=modules, batch=_to_device(batch, info.device), generator=generator,
                              step=step)
            values: dict[str, float] = {}
            updated: set[str] = set()
            for phase in phases:
                if not phase.active(step):
                    continue
                values.update(_run_phase(phase, ctx, optimizers[phase.optimizer], phase_params[phase.name],
                                         all_trainable, config, scaler, info, step, data_position,
                                         result.last_checkpoint))
                updated.update(phase.modules)
            if scaler.is_enabled() and updated:
                scaler.update()
            _sync_buffers(modules, info)
            for name, ema in emas.items():
                if name in updated:
                    ema.update(modules[name])
            step += 1
            result.history.append(values)
            if first_key in values:
                result.losses.append(values[first_key])
            for key, value in values.items():
                window.setdefault(key, []).append(value)
            window_steps += 1
            if first_step_end is None:
                first_step_end = time.perf_counter()
            if first_key in values:
                bar.set_postfix(loss=f"{values[first_key]:.4f}", refresh=False)
            bar.update(1)

            if step % config.log_every == 0 or step == config.steps:
                means = _mean_over_ranks({k: sum(v) / len(v) for k, v in window.items()
                                          if not k.startswith(("grad_norm", "lr"))}, info)
                now = time.perf_counter()
                if info.is_main:
                    record: dict[str, Any] = {"step": step}
                    if first_key in means:
                        record["loss"] = means[first_key]
                    first_norm = f"grad_norm/{phases[0].name}"
                    if first_norm in values:
                        record["grad_norm"] = values[first_norm]
                    record["lr"] = next(iter(optimizers.values())).param_groups[0]["lr"]
                    record.update(sorted(means.items()))
                    record.update(sorted((k, v[-1]) for k, v in window.items() if k.startswith("grad_norm/")))
                    if len(optimizers) > 1:
                        record.update((f"lr/{n}", o.param_groups[0]["lr"]) for n, o in optimizers.items())
                    record.update({"it_per_s": window_steps / (now - window_start),
                                   "data_position": data_position, "time": time.time()})
                    with log_file.open("a") as fh:
                        fh.write(json.dumps(record) + "\n")
                window, window_steps, window_start = {}, 0, now

            stopping = any_rank(stop.requested, info)
            if step % config.checkpoint_every == 0 or step == config.steps or stopping:
                result.last_checkpoint = save(step)
            if stopping:
                result.interrupted = True
                break
    result.step = step
    steps_run = len(result.history)
    if first_step_end is not None and steps_run > 1:
        result.seconds_per_step = (time.perf_counter() - first_step_end) / (steps_run - 1)
    elif steps_run:
        result.seconds_per_step = time.perf_counter() - session_start

    if step >= config.steps and on_finish is not None and info.is_main:
        _finish_with_ema(modules, emas, on_finish)
    barrier(info)
    return result


def _run_phase(phase: Phase, ctx: StepContext, optimizer: torch.optim.Optimizer, params: list[nn.Parameter],
               all_trainable: list[nn.Parameter], config: TrainConfig, scaler: torch.amp.GradScaler,
               info: DistInfo, step: int, data_position: int,
               last_checkpoint: Path | None) -> dict[str, float]:
    """One phase of one step: loss, backward, gradient average over ranks, clip, update. Returns the
    values to log (`loss/<phase>`, `loss/<phase>/<term>`, `grad_norm/<phase>`)."""
    last_good = f"Last good checkpoint: {last_checkpoint or 'none'}."
    own = {id(p) for p in params}
    for p in all_trainable:  # only this phase's parameters collect gradients
        p.requires_grad_(id(p) in own)
    try:
        optimizer.zero_grad(set_to_none=True)
        with _autocast(config, info.device):
            total, terms = _split_loss(phase.loss(ctx), phase.name)
        if any_rank(not torch.isfinite(total.detach()).all().item(), info):
            bad = {k: v for k, v in terms.items() if not math.isfinite(v)}
            raise NonFiniteLossError(
                f"phase {phase.name!r}: loss is {total.item()}{f' (terms {bad})' if bad else ''} at step "
                f"{step + 1} (batch {data_position - 1}); that update was not applied. {last_good} Lower "
                "--lr, enable gradient clipping, or resume from that checkpoint with --autocast none."
            )
        scaler.scale(total).backward()
    finally:
        for p in all_trainable:
            p.requires_grad_(True)
    _average_gradients(params, info)
    scaler.unscale_(optimizer)
    clip = config.grad_clip if phase.grad_clip is None else phase.grad_clip
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else math.inf))
    if not math.isfinite(grad_norm) and not scaler.is_enabled():
        raise NonFiniteLossError(
            f"phase {phase.name!r}: gradient norm is {grad_norm} at step {step + 1}; that update was not "
            f"applied. {last_good} Lower --lr or check the data."
        )
    scaler.step(optimizer)  # skips the update when fp16 gradients overflowed
    values = {f"loss/{phase.name}": float(total.detach()), f"grad_norm/{phase.name}": grad_norm}
    values.update((f"loss/{phase.name}/{k}", v) for k, v in terms.items())
    return values


def _finish_with_ema(modules: dict[str, nn.Module], emas: dict[str, ModelEMA],
                     on_finish: Callable[[dict[str, nn.Module]], None]) -> None:
    """Run `on_finish` with the EMA weights in the EMA modules, then put the trained weights back."""
    for name, ema in emas.items():
        ema.ema.store(modules[name].parameters())
        ema.copy_to(modules[name])
    try:
        on_finish(modules)
    finally:
        for name, ema in emas.items():
            ema.ema.restore(modules[name].parameters())
