"""Distributed training with torch's own machinery: torchrun's environment, process groups, DDP.

Run `torchrun --nproc_per_node=N -m ffbench.cli train ...`; torchrun sets RANK / WORLD_SIZE /
LOCAL_RANK / MASTER_ADDR / MASTER_PORT and `init_distributed` joins the group (NCCL on GPUs, gloo on
CPU). Without those variables everything runs as a single process and these helpers are no-ops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Only the main process logs, draws the progress bar and writes shared files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the torchrun process group if there is one; pick the device.

    `device` None means: the local GPU if CUDA is available, otherwise the CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device(device or "cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


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


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank if `flag` is true on at least one (so all ranks stop at the same step)."""
    if not info.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def mean_over_ranks(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a scalar tensor across ranks (for logging the global loss)."""
    if not info.distributed:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / info.world_size


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
