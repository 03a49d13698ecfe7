"""Progress that suits where it goes: a tqdm bar on a terminal, a line every few percent in a log file.

A tqdm bar redraws itself with carriage returns; written to a file (the demo's logs, a Slurm job's
output) each redraw is another fragment, thousands per run. `progress_bar` keeps the tqdm interface
(`update`, iteration, context manager, `set_postfix`) and chooses by the stream: a tty gets the bar, any
other stream one plain line each time another `step_percent` of the total is done (or, with no total,
every `every_seconds`).

    for item in progress_bar(items, desc="videos", unit="video"):
        ...
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class LogProgress:
    """tqdm's surface, printing `desc: 40% (8/20 video, 12 s)` lines instead of redrawing a bar."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: float | None = None, desc: str = "",
                 unit: str = "it", initial: float = 0, disable: bool = False, file: IO[str] | None = None,
                 step_percent: float = 5.0, every_seconds: float = 30.0, unit_scale: bool = False,
                 **_ignored: Any) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n, self.disable, self.unit_scale = initial, disable, unit_scale
        self.file = file if file is not None else sys.stderr
        self.step_percent, self.every_seconds = step_percent, every_seconds
        self.start = self._last_time = time.monotonic()
        self._last_mark = self._mark(initial)
        self._postfix = ""
        self._emitted_n: float | None = None
        self._closed = False

    def _mark(self, n: float) -> int:
        if not self.total:
            return 0
        return int(100.0 * n / self.total // self.step_percent)

    def _count(self, n: float) -> str:
        if self.unit_scale:  # 1.01M rather than 1.01353e+06, as tqdm shows it
            from tqdm import tqdm

            return tqdm.format_sizeof(n)
        return f"{n:g}"

    def _line(self) -> str:
        elapsed = time.monotonic() - self.start
        sep = "" if self.unit_scale else " "
        count = f"{self._count(self.n)}/{self._count(self.total)}{sep}{self.unit}" if self.total else \
            f"{self._count(self.n)}{sep}{self.unit}"
        percent = f"{100.0 * self.n / self.total:.0f}% " if self.total else ""
        postfix = f" {self._postfix}" if self._postfix else ""
        return f"{self.desc + ': ' if self.desc else ''}{percent}({count}, {elapsed:.0f} s){postfix}"

    def _emit(self) -> None:
        print(self._line(), file=self.file, flush=True)
        self._last_time, self._emitted_n = time.monotonic(), self.n

    def update(self, n: float = 1) -> None:
        if self.disable:
            return
        self.n += n
        if self.total:
            mark = self._mark(self.n)
            if mark > self._last_mark:
                self._last_mark = mark
                self._emit()
        elif time.monotonic() - self._last_time >= self.every_seconds:
            self._emit()

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True,
                    **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self._postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        """tqdm redraws here; a log gets lines only at its marks."""

    def close(self) -> None:
        # a last line unless the latest one already says where it stopped
        if not self.disable and not self._closed and self._emitted_n != self.n:
            self._emit()
        self._closed = True

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("LogProgress without an iterable is not iterable; call update() instead")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(iterable: Iterable[Any] | None = None, *, file: IO[str] | None = None, **kwargs: Any) -> Any:
    """A tqdm bar when `file` (default stderr) is a terminal, else a `LogProgress`; same keywords as tqdm."""
    stream = file if file is not None else sys.stderr
    if _is_tty(stream):
        from tqdm.auto import tqdm

        return tqdm(iterable, file=stream, **kwargs)
    return LogProgress(iterable, file=stream, **kwargs)


def _library_logging():
    import diffusers.utils.logging as diffusers_logging
    import huggingface_hub.utils as hub_utils
    import transformers.utils.logging as transformers_logging

    return transformers_logging, diffusers_logging, hub_utils


def silence_libraries() -> None:
    """Turn off the progress bars of transformers, diffusers and huggingface_hub ("Loading weights",
    "Loading pipeline components")."""
    transformers_logging, diffusers_logging, hub_utils = _library_logging()
    transformers_logging.disable_progress_bar()
    diffusers_logging.disable_progress_bar()
    hub_utils.disable_progress_bars()


@contextlib.contextmanager
def quiet_libraries(enabled: bool = True) -> Iterator[None]:
    """`silence_libraries` inside the block, their earlier state restored afterwards."""
    if not enabled:
        yield
        return
    transformers_logging, diffusers_logging, hub_utils = _library_logging()
    before = (transformers_logging.is_progress_bar_enabled(), diffusers_logging.is_progress_bar_enabled(),
              hub_utils.are_progress_bars_disabled())
    silence_libraries()
    try:
        yield
    finally:
        if before[0]:
            transformers_logging.enable_progress_bar()
        if before[1]:
            diffusers_logging.enable_progress_bar()
        if not before[2]:
            hub_utils.enable_progress_bars()


def quiet_libraries_in_logs() -> None:
    """For a command-line process: when stderr is not a terminal (a log file, a pipe), the libraries'
    bars stay silent for the whole process (it ends with the command)."""
    if not _is_tty(sys.stderr):
        silence_libraries()
