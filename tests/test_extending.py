"""docs/extending.md's worked examples, run as written.

Add a metric: the section's code blocks are applied to a copy of the `ffbench` package (a new file, and a
line appended to a named tuple), the files that differ from the project's are counted, and the copy then
runs `ffbench eval --metric mse`, `ffbench leaderboard`, `eval --help`, `eval --list-metrics` and
`ffbench.metrics.mse` in a fresh interpreter (the registry is process-wide state: this process never
registers the example). The same module is also loaded as a plugin through FFBENCH_METRICS, with no
project file changed.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extending.md"

# Run in a fresh interpreter whose current folder is the project (or its copy): every command of the
# example in one process (torch is imported once), the outputs back as JSON.
SCRIPT = r"""
import json, sys
from click.testing import CliRunner
import ffbench, ffbench.metrics
from ffbench.cli import main
from ffbench.video import read_video

args = json.loads(sys.argv[1])
runner = CliRunner()
out = {"ffbench": ffbench.__file__}
for key, argv in args["commands"].items():
    result = runner.invoke(main, argv, catch_exceptions=False)
    out[key] = {"code": result.exit_code, "output": result.output}
real = [read_video(p) for p in args["real"]]
fake = [read_video(p) for p in args["fake"]]
out["api"] = float(ffbench.metrics.mse(real, fake, bootstrap=0))
print("RESULT" + json.dumps(out))
"""


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def metric_changes() -> list[tuple[str, str, str]]:
    """(path, how, text) of every python block of "Add a metric": its first line says
    '# PATH (new file)' or '# PATH: add to NAME' (lines appended to the tuple `NAME = (...)`, before the
    line that closes it)."""
    out = []
    for block in re.findall(r"```python\n(.*?)```", _section("Add a metric"), re.S):
        first, _, body = block.partition("\n")
        if m := re.fullmatch(r"# (\S+) \(new file\)", first):
            out.append((m[1], "new", body))
        elif m := re.fullmatch(r"# (\S+): add to (\w+)", first):
            out.append((m[1], m[2], body))
        else:
            raise AssertionError(f"docs/extending.md: a python block of 'Add a metric' starts {first!r}; "
                                 "say '# PATH (new file)' or '# PATH: add to NAME'")
    return out


def apply(changes: list[tuple[str, str, str]], root: Path) -> None:
    for path, how, text in changes:
        target = root / path
        if how == "new":
            assert not target.exists(), f"{path} already exists in the project"
            target.write_text(text, encoding="utf-8")
            continue
        lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if line.startswith(f"{how} = ("))
        end = next(i for i in range(start, len(lines)) if lines[i].startswith(")"))
        target.write_text("".join(lines[:end]) + text + "".join(lines[end:]), encoding="utf-8")


def changed_files(original: Path, copy: Path) -> list[str]:
    """Files added, removed or different between two trees (caches ignored)."""
    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}

    a, b = files(original), files(copy)
    return sorted((a ^ b) | {f for f in a & b if not filecmp.cmp(original / f, copy / f, shallow=False)})


def _videos(root: Path) -> dict[str, list[Path]]:
    """8 real videos and two generated sets: a close (noise +-3) and b far (noise +-60); 8 pairs are enough
    for the leaderboard's paired test to call a better than b."""
    from ffbench.video import write_video

    rng = np.random.default_rng(7)
    out: dict[str, list[Path]] = {"real": [], "a": [], "b": []}
    for i in range(8):
        base = rng.integers(0, 256, (32, 32, 3))
        real = np.stack([np.roll(base, 2 * t, axis=1) for t in range(6)]).astype(np.uint8)
        for side, noise in (("real", 0), ("a", 3), ("b", 60)):
            noisy = real.astype(int) + rng.integers(-noise, noise + 1, real.shape)
            frames = real if side == "real" else np.clip(noisy, 0, 255).astype(np.uint8)
            (root / side).mkdir(exist_ok=True)
            out[side].append(write_video(root / side / f"v{i}.mp4", frames, fps=10))
    return out


def expected_mse(real: list[Path], fake: list[Path]) -> float:
    """By hand: the mean over videos of the mean over frames 1: of the squared difference."""
    from ffbench.video import read_video

    per_video = [np.mean((read_video(f)[1:].astype(np.float64) - read_video(r)[1:].astype(np.float64)) ** 2)
                 for r, f in zip(real, fake, strict=True)]
    return float(np.mean(per_video))


def run_example(cwd: Path, videos: dict[str, list[Path]], board: Path, env: dict[str, str]) -> dict:
    common = ["--real", str(videos["real"][0].parent), "--leaderboard-dir", str(board), "--no-cache",
              "--bootstrap", "50", "--dataset", "toy"]
    commands = {
        "eval_a": ["eval", "--metric", "mse", "--fake", str(videos["a"][0].parent), "--method", "a", *common],
        "eval_b": ["eval", "--metric", "mse", "--fake", str(videos["b"][0].parent), "--method", "b", *common],
        "board": ["leaderboard", "--dir", str(board)],
        "help": ["eval", "--help"],
        "list": ["eval", "--list-metrics"],
    }
    args = {"commands": commands, "real": [str(p) for p in videos["real"]],
            "fake": [str(p) for p in videos["a"]]}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.split("RESULT", 1)[1])


def check_example(out: dict, videos: dict[str, list[Path]], board: Path) -> None:
    from ffbench.leaderboard import read_leaderboard

    for key in ("eval_a", "eval_b", "board", "help", "list"):
        assert out[key]["code"] == 0, out[key]["output"]
    rows = read_leaderboard(board / "toy.csv")
    assert list(rows["metric"]) == ["mse", "mse"] and set(rows["family"]) == {"paired"}
    value = dict(zip(rows["method"], rows["value"].astype(float), strict=True))
    assert value["a"] == pytest.approx(expected_mse(videos["real"], videos["a"]), rel=1e-9)
    assert value["b"] == pytest.approx(expected_mse(videos["real"], videos["b"]), rel=1e-9)
    assert value["a"] < value["b"] / 10
    assert out["api"] == pytest.approx(value["a"], rel=1e-12)  # the Python function, same videos
    board_text = out["board"]["output"]
    assert "L1/LPIPS/MSE lower is better" in board_text  # its group's heading knows its direction
    table = board_text[board_text.index("### MSE on toy"):]
    lines = [line for line in table.splitlines() if line.startswith("| a ") or line.startswith("| b ")]
    assert lines[0].startswith("| a ") and "| b " in lines[0]  # a first, and a better than b (lower wins)
    paired_help = " ".join(out["help"]["output"].split())
    assert re.search(r"paired: psnr, ssim, l1, lpips\*, mse;", paired_help), paired_help
    listed = r"^mse\s+paired\s+lower is better\s+weight-free\s+mean squared difference"
    assert re.search(listed, out["list"]["output"], re.M), out["list"]["output"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return _videos(tmp_path_factory.mktemp("extending-videos"))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FFBENCH_METRICS")}
    return env | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"} | extra


def test_add_a_metric_as_documented_changes_two_files_and_scores(tmp_path, videos):
    changes = metric_changes()
    assert [how for _, how, _ in changes] == ["new", "BUILTIN_MODULES"]
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "ffbench", copy / "ffbench", ignore=shutil.ignore_patterns("__pycache__"))
    apply(changes, copy)
    changed = changed_files(ROOT / "ffbench", copy / "ffbench")
    assert changed == ["metrics/pixel_mse.py", "metrics/registry.py"] and len(changed) <= 2
    out = run_example(copy, videos, tmp_path / "board", _env())
    assert Path(out["ffbench"]).is_relative_to(copy)  # the copy ran, not the project
    check_example(out, videos, tmp_path / "board")


def test_the_same_metric_as_a_plugin_changes_no_project_file(tmp_path, videos):
    (_, _, module), _ = metric_changes()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "mylab_pixel_mse.py").write_text(module, encoding="utf-8")
    out = run_example(ROOT, videos, tmp_path / "board",
                      _env(PYTHONPATH=str(plugins), FFBENCH_METRICS="mylab_pixel_mse"))
    assert Path(out["ffbench"]).is_relative_to(ROOT)
    check_example(out, videos, tmp_path / "board")
