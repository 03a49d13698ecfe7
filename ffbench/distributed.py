"""Many processes with torch's own machinery, for every stage: torchrun's environment and one process group.

Run `torchrun --nproc_per_node=N -m ffbench.cli train|generate ...`; torchrun sets RANK / WORLD_SIZE /
LOCAL_RANK / MASTER_ADDR / MASTER_PORT and `init_distributed` joins the group (NCCL on GPUs, gloo on the
CPU), each process on `cuda:LOCAL_RANK` where CUDA is present. Without those variables everything runs as
a single process and these helpers are no-ops. (DDP model wrapping is the training engine's:
`ffbench.training.distributed`.)

Failures: the group has a timeout (`FFBENCH_DIST_TIMEOUT` seconds, default 1800), so a rank that hangs or
died cannot hold the others forever; `together(info)` around a step that can fail raises an error of one
rank on every rank, so all stop with that message instead of waiting for a peer that is gone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from ffbench.errors import UserError

TIMEOUT_ENV = "FFBENCH_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 1800.0  # seconds: longer than any one step (a DDPM-1000 paper video takes minutes)

T = TypeVar("T")


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


def single_process(device: str | torch.device = "cpu") -> DistInfo:
    """The DistInfo of a run without torchrun."""
    return DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device(device))


def group_timeout() -> timedelta:
    """How long a collective waits for the other ranks: $FFBENCH_DIST_TIMEOUT seconds, default 1800."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None or raw == "":
        return timedelta(seconds=DEFAULT_TIMEOUT)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise UserError(f"{TIMEOUT_ENV}={raw!r}: give the process group's timeout in seconds, a number > 0 "
                        f"(default {DEFAULT_TIMEOUT:g})")
    return timedelta(seconds=seconds)


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the torchrun process group if there is one; pick the device.

    `device` None means: the local GPU if CUDA is available, otherwise the CPU. Any `cuda` device becomes
    `cuda:LOCAL_RANK` under torchrun (one GPU per process).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device is None else str(device).startswith("cuda")
    if use_cuda and (world_size > 1 or device is None or str(device) == "cuda"):
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device(device or "cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", timeout=group_timeout())
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def share(items: Sequence[T], info: DistInfo) -> list[T]:
    """This rank's part of `items` by the fixed rule: sorted, then rank r takes the r-th, (r+N)-th, ... ones.
    The rule depends only on the items and N, so a rerun with the same N gives every rank the same work."""
    return sorted(items)[info.rank::info.world_size]


def owns(index: int, info: DistInfo | None, block: int = 1) -> bool:
    """Whether item `index` (its position in a fixed, sorted order) is this rank's: the items in blocks of
    `block` consecutive ones, block b to rank b mod N. `block` 1 is `share`'s rule; `eval` deals its clip
    networks blocks of --batch-size videos, so every batch is the one a single process runs (a network's
    output for a clip depends, in its last bits, on the rest of its batch). No group (`info` None, one
    process): every item."""
    if info is None or not info.distributed:
        return True
    return (index // block) % info.world_size == info.rank


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


def gather_objects(obj: T, info: DistInfo) -> list[T]:
    """Every rank's `obj` (picklable), in rank order, on every rank."""
    if not info.distributed:
        return [obj]
    out: list = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


class PeerFailed(UserError):
    """Another rank failed in a `together` step: this rank stops with its message (`rank` is the first
    one that failed). The CLI prints it on the main process only."""

    def __init__(self, message: str, rank: int) -> None:
        super().__init__(message)
        self.rank = rank


def _describe(err: BaseException) -> tuple[str, bool]:
    """(message, whether it is a user error) of an exception, as the CLI would show it."""
    from ffbench.errors import describe_os_error

    if isinstance(err, (UserError, ValueError)):
        return str(err), True
    if isinstance(err, OSError) and describe_os_error(err) is not None:
        return describe_os_error(err), True
    return f"{type(err).__name__}: {err}", False


@contextmanager
def together(info: DistInfo) -> Iterator[None]:
    """Run a step that can fail on any rank: at its end the ranks exchange whether it failed. A user error
    on one rank is raised on every rank (a `PeerFailed` with that message; the first failed rank's, on the
    failed rank too, so only the main process need print it); a bug stays a traceback on its own rank and
    the others stop with its one-line summary. One process: the block as it is."""
    if not info.distributed:
        yield
        return
    try:
        yield
    except Exception as err:
        message, user = _describe(err)
        outcomes = gather_objects((message, user), info)
        if not user:
            raise
        first = next(r for r, o in enumerate(outcomes) if o is not None)
        raise PeerFailed(outcomes[first][0], first) from err
    # an interrupt (KeyboardInterrupt) is not exchanged: torchrun stops the other ranks
    outcomes = gather_objects(None, info)
    failed = [r for r, o in enumerate(outcomes) if o is not None]
    if failed:
        first = failed[0]
        message, user = outcomes[first]
        raise PeerFailed(message if user else f"process {first} of {info.world_size} failed: {message}",
                         first)


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
