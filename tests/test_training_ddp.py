"""DDP on CPU: `torchrun --nproc_per_node=2 --standalone` trains the toy GAN (gloo): three phases, two
optimizers, BatchNorm and spectral-norm buffers. Both ranks end with identical weights and buffers, and a
DDP resume from a mid-run checkpoint reproduces the uninterrupted run. (The one-model `train` is the
same loop with one phase; the toy GAN exercises everything it does and more.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _torchrun(out: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           "-m", "ffbench.training.toy", "--gan", "--out", str(out), *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def _digests(out: Path) -> list[str]:
    return [(out / f"digest-rank{r}.txt").read_text().split()[0] for r in (0, 1)]


def test_two_ranks_end_identical_and_resume_exactly(tmp_path):
    full = tmp_path / "full"
    _torchrun(full, "--steps", "4")  # checkpoints at steps 2 and 4
    d0, d1 = _digests(full)
    assert d0 == d1  # gradients were all-reduced: both replicas took the same steps

    ckpt = full / "checkpoint-4"
    rng = [json.loads((ckpt / f"rng-rank{r}.json").read_text()) for r in (0, 1)]
    assert rng[0]["generators"]["loss"] != rng[1]["generators"]["loss"]  # ranks draw different noise
    state = json.loads((ckpt / "state.json").read_text())
    assert state["world_size"] == 2 and state["data_position"] == 4

    # Resume from step 2 under DDP: each rank restores its own RNG and data position.
    resumed = tmp_path / "resumed"
    shutil.copytree(full, resumed)
    shutil.rmtree(resumed / "checkpoint-4")
    for r in (0, 1):
        (resumed / f"digest-rank{r}.txt").unlink()
    _torchrun(resumed, "--steps", "4", "--resume")
    assert _digests(resumed) == [d0, d0]
    assert (resumed / "log.jsonl").read_text().count("\n") == 4
