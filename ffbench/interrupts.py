"""SIGINT and SIGTERM in commands that write many files: stop soon, never report success, say what is done.

    with catch_signals():
        for item in items:
            work(item)            # a signal here raises Interrupted at once
            with deferred():      # a signal here waits until the block (a rename, a record) is done
                commit(item)
            check()               # a signal some library swallowed is raised again here

The handler records the signal before it raises `Interrupted` (a KeyboardInterrupt), so a library that
catches and drops the exception (a broad `except BaseException`, a C callback) cannot turn an interrupt
into success: `check()` at each safe point raises it again. Commands exit with 128 + the signal number,
what a shell reports for a process the signal ended (130 for SIGINT, as `ffbench train` does; 143 for
SIGTERM), after one line saying what was finished and how to resume.

Test hook: `FFBENCH_PAUSE_AT=name[,name...]` makes `pause_point(name)` print `ffbench: paused at NAME` on
stderr and wait (up to 60 s) for a signal, so a test can interrupt a subprocess at a known point instead of
guessing a sleep.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
PAUSE_ENV = "FFBENCH_PAUSE_AT"
PAUSE_TIMEOUT = 60.0

_received: int | None = None  # the first signal caught since catch_signals() was entered
_deferring = 0  # depth of deferred() blocks: the handler only records inside them
_held = False  # a signal arrived inside a deferred() block: raised when the block ends
_paused: set[str] = set()


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; `exit_code` is what the command exits with (128 + signal number)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _handle(signum: int, frame: Any) -> None:
    global _received, _held
    if _received is None:
        _received = signum
    if _deferring:
        _held = True
    else:
        raise Interrupted(_received)


def received() -> int | None:
    """The signal caught since `catch_signals()` was entered, or None."""
    return _received


def as_interrupted(err: BaseException) -> Interrupted:
    """`err` (any KeyboardInterrupt) as an Interrupted naming the signal that was recorded, else SIGINT."""
    if isinstance(err, Interrupted):
        return err
    return Interrupted(_received or signal.SIGINT)


def check() -> None:
    """Raise Interrupted when a signal arrived, even if the exception it raised was swallowed."""
    if _received is not None:
        raise Interrupted(_received)


@contextmanager
def catch_signals() -> Iterator[None]:
    """Handle SIGINT and SIGTERM for the block (main thread only; elsewhere a no-op), then restore the
    previous handlers. Without this, SIGTERM ends the process with no message and no cleanup."""
    global _received, _held
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handle) for sig in SIGNALS}
    _received, _held = None, False
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _received, _held = None, False


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal that arrives during the block until it ends (a rename and its bookkeeping happen
    together), then raise it. Also for clean-up after an interrupt: an earlier signal is not raised again."""
    global _deferring, _held
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if not _deferring and _held:
        _held = False
        raise Interrupted(_received or signal.SIGINT)


def pause_point(name: str) -> None:
    """Test hook: when `name` is listed in $FFBENCH_PAUSE_AT, say so on stderr and wait for a signal (the
    first time only; at most PAUSE_TIMEOUT seconds, so a broken test cannot hang)."""
    wanted = os.environ.get(PAUSE_ENV, "")
    if not wanted or name not in wanted.split(",") or name in _paused:
        return
    _paused.add(name)
    print(f"ffbench: paused at {name}", file=sys.stderr, flush=True)
    deadline = time.monotonic() + PAUSE_TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(0.01)  # the handler raises Interrupted out of this sleep
        check()
