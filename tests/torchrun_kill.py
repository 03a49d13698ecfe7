"""Kill one torchrun worker at a known point: the kill-and-resume tests of prepare, generate and eval."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def rank_pid(parent: int, rank: int) -> int | None:
    """The pid of torchrun worker `rank` under `parent`, read from /proc (the worker's RANK variable)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        if ppid == parent and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


def kill_rank_at(argv: list, env: dict, pause_at: str, ranks: int = 2, victim: int = 1,
                 ready_seconds: float = 120, exit_seconds: float = 90) -> tuple[int, str, str]:
    """Run `argv` (a torchrun command) with FFBENCH_PAUSE_AT=`pause_at`, wait until all `ranks` workers
    say they paused there, SIGKILL worker `victim` (torchrun then stops the others) and return
    (exit status, stdout, stderr after the pauses)."""
    proc = subprocess.Popen([str(a) for a in argv], env={**env, "FFBENCH_PAUSE_AT": pause_at},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        paused, deadline = 0, time.monotonic() + ready_seconds
        while paused < ranks and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, "torchrun ended before every rank paused"
            paused += f"ffbench: paused at {pause_at}" in line
        pid = rank_pid(proc.pid, victim)
        assert paused == ranks and pid is not None
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=exit_seconds)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err
