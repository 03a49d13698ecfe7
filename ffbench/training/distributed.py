"""Distributed training: DDP wrapping on top of the process-group helpers every stage shares.

Run `torchrun --nproc_per_node=N -m ffbench.cli train ...`; `init_distributed` (from `ffbench.distributed`,
re-exported here) joins the group (NCCL on GPUs, gloo on CPU). Without torchrun's variables everything runs
as a single process and these helpers are no-ops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ffbench.distributed import (  # noqa: F401  (the engine's and the models' training recipes import them here)
    DistInfo,
    any_rank,
    barrier,
    cleanup_distributed,
    init_distributed,
    mean_over_ranks,
)


@contextmanager
def joined(info: DistInfo | None) -> Iterator[DistInfo]:
    """The process group a training entry point runs in: the caller's `info`, or one joined here (and left
    on the way out), so a library call and a CLI call under torchrun behave alike."""
    if info is not None:
        yield info
        return
    info = init_distributed()
    try:
        yield info
    finally:
        cleanup_distributed()


def wrap_model(model: nn.Module, info: DistInfo, find_unused_parameters: bool = False) -> nn.Module:
    """Wrap `model` (already on `info.device`) in DDP when there is more than one process.

    `find_unused_parameters` is needed only when some parameters get no gradient in a step (e.g. a
    conditioning branch that a config switches off).
    """
    if not info.distributed:
        return model
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids,
                                   find_unused_parameters=find_unused_parameters)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (checkpoints and EMA use the bare module's parameter names)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


class DDPView:
    """Calls go through the DDP wrapper (so gradients are synchronised); attribute reads such as
    `.config` go to the wrapped module. Lets a loss written for a bare model run under DDP."""

    def __init__(self, ddp: DistributedDataParallel) -> None:
        self._ddp = ddp

    def __call__(self, *args, **kwargs):
        return self._ddp(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._ddp.module, name)


def loss_view(model: nn.Module) -> nn.Module | DDPView:
    """`model` itself, or a `DDPView` of it when it is a DDP wrapper."""
    return DDPView(model) if isinstance(model, DistributedDataParallel) else model
