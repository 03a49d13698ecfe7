"""`--threads`: one limit for torch, the BLAS pools and OpenCV, undone after a limited block."""

from __future__ import annotations

import cv2
import torch
from threadpoolctl import threadpool_info

from ffbench.threads import threads_limited


def _pools() -> tuple[int, int, list[int]]:
    return torch.get_num_threads(), cv2.getNumThreads(), [p["num_threads"] for p in threadpool_info()]


def test_a_limited_block_sets_every_pool_and_restores_them():
    before = _pools()
    with threads_limited(1):
        inside = _pools()
        assert inside[0] == 1 and inside[1] == 1 and all(n == 1 for n in inside[2])
    assert _pools() == before
    with threads_limited(0):  # 0: every pool as it is
        assert _pools() == before
