"""docs/extending.md "## Add a model": its `mirror` entry, taken from the markdown, registers through the
model registry with no project file edited, and `ffbench generate --model mirror` and a weight-free
`ffbench eval` run on it.

The entry goes into a temporary `mirror/` package whose parent folder is appended to `ffbench.models`'s
search path (`__path__`) in the child process, as the folder `ffbench/models/mirror/` would be found."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
from pixel_shards import write_data

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extending.md"
RUN = ("import sys, ffbench.models; ffbench.models.__path__.append(sys.argv[1]); "
       "from ffbench.cli import main; sys.argv = ['ffbench', *sys.argv[2:]]; main()")


def section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## Add a model")
    return text[start:text.index("\n## ", start + 1)]


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", section(), flags=re.S)


def _ffbench(packages: Path, cwd: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", RUN, str(packages), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_documented_model_generates_and_is_scored(tmp_path):
    (code,) = blocks("python")
    commands = [shlex.split(line) for line in blocks("sh")[0].splitlines() if line.startswith("ffbench ")]
    assert [c[:2] for c in commands] == [["ffbench", "generate"], ["ffbench", "eval"]]
    packages = tmp_path / "packages"
    (packages / "mirror").mkdir(parents=True)
    (packages / "mirror" / "__init__.py").write_text("")
    (packages / "mirror" / "entry.py").write_text(code)
    data = write_data(tmp_path / "work" / "data" / "synthetic", {"test": 2}, frames=6)
    assert data == tmp_path / "work" / "data" / "synthetic"

    generate = _ffbench(packages, tmp_path / "work", [*commands[0][1:], "--no-progress"])
    assert generate.returncode == 0, generate.stderr
    videos = tmp_path / "work" / "runs" / "mirror" / "videos"
    meta = json.loads((videos / "generation.json").read_text())
    assert meta["model"] == "mirror" and meta["settings"] == {"flip": "left-right"}

    from ffbench.datasets.shards import iter_split_entries
    from ffbench.video import read_video

    for key, mp4 in iter_split_entries(data / "shards" / "test", "mp4"):
        fake, real = read_video(videos / f"{key}.mp4"), read_video(mp4)
        assert fake.shape[1:] == real.shape[1:] and len(fake) > 1
        # the video codec is lossy: compare the mean image, where a flip is far larger than the coding error
        first, later = fake[0].astype(float), fake[1:].mean(axis=0)
        assert np.abs(later - first[:, ::-1]).mean() < np.abs(later - first).mean() / 2

    evaluate = _ffbench(packages, tmp_path / "work", commands[1][1:])
    assert evaluate.returncode == 0, evaluate.stderr
    rows = _leaderboard_rows(tmp_path / "work" / "leaderboard")
    assert {r["metric"] for r in rows if r.get("method") == "mirror"} >= {"psnr", "motion"}


def test_the_documented_model_refuses_sampler_options(tmp_path):
    (code,) = blocks("python")
    packages = tmp_path / "packages"
    (packages / "mirror").mkdir(parents=True)
    (packages / "mirror" / "__init__.py").write_text("")
    (packages / "mirror" / "entry.py").write_text(code)
    data = write_data(tmp_path / "data", {"test": 1}, frames=4)
    result = _ffbench(packages, tmp_path, ["generate", str(data / "shards" / "test"), "--model", "mirror",
                                           "-o", str(tmp_path / "out"), "--steps", "3", "--no-progress"])
    assert result.returncode == 1
    assert "--steps: not used by mirror" in result.stderr + result.stdout


def _leaderboard_rows(folder: Path) -> list[dict]:
    rows = []
    for path in folder.rglob("*"):
        if path.suffix == ".jsonl":
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        elif path.suffix == ".csv":
            with path.open() as fh:
                rows += list(csv.DictReader(fh))
    assert rows, f"no leaderboard rows under {folder}: {sorted(p.name for p in folder.rglob('*'))}"
    return rows
