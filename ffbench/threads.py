"""`--threads N`: one limit for every thread pool a command uses, not only torch's.

torch.set_num_threads covers torch's ops. NumPy's OpenBLAS (the Frechet distances' SVDs, the bootstrap)
and OpenCV (optical flow) keep their own pools, sized to the machine. On a shared 2-core box, two
commands each told `--threads 1` still ran OpenBLAS with two spinning threads apiece: measured, one
160 x 640 SVD took 61 ms that way and 10 ms with one thread, and the bootstrap intervals of one eval went
from seconds to five minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def _set(threads: int) -> tuple[int, object, int]:
    import cv2
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    limiter = threadpool_limits(limits=threads)
    cv_before = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    return before, limiter, cv_before


def limit_threads(threads: int | None) -> None:
    """Use at most `threads` threads in torch, BLAS/OpenMP pools and OpenCV for the rest of the process
    (None or 0: leave every pool as it is)."""
    if threads:
        _set(threads)


@contextmanager
def threads_limited(threads: int | None) -> Iterator[None]:
    """`limit_threads` for a block, restoring every pool's previous size after it."""
    if not threads:
        yield
        return
    import cv2
    import torch

    before, limiter, cv_before = _set(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        limiter.restore_original_limits()
        cv2.setNumThreads(cv_before)
