"""Shared test settings: offline hub, deterministic small thread pools."""

from __future__ import annotations

import os

import pytest

# Set before any test imports huggingface_hub: a hub id then fails at once instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run every test on one intra-op thread, restored afterwards (a command under test may change it).

    On a busy 2-core machine a second OpenMP thread that gets descheduled makes small models ~50x slower
    (measured: 2.7 s vs 0.03 s for one tiny forward pass).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_configure(config) -> None:
    # The same for module- and session-scoped fixtures, which set up outside any one test.
    import torch

    torch.set_num_threads(1)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    # The order seed again at the end, beside any failure, so the order can be replayed.
    seed = getattr(config.option, "randomly_seed", None)
    if seed is not None:
        terminalreporter.write_line(f"test order seed {seed}: replay with `make test SEED={seed}` "
                                    f"(or pytest -p randomly --randomly-seed={seed})")


@pytest.fixture(scope="session")
def cpu_world(tmp_path_factory):
    """Prepared data at the cpu preset's frame size and a 1-step trained pipeline, made by the CLI (see
    tests/world.py). Shared by the session: copy before changing anything."""
    import torch
    from world import build_world

    torch.set_num_threads(1)
    return build_world(tmp_path_factory.mktemp("world"))
