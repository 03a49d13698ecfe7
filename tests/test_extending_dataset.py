"""docs/extending.md, "Add a dataset": the worked example, taken from the markdown and run as written on
tiny synthetic videos (a spec with train/val/test and its own list files; Python, then `--source`)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from ffbench.cli import main
from ffbench.datasets.manifest import read_manifest
from ffbench.datasets.spec import DATASET_NAME, DatasetSpec, dataset_of
from ffbench.synthetic.dataset import SyntheticSplit, make_dataset

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
# the command of step 3 runs at the frame size of step 2, with one thread and no bars
SMALL = ["--height", "48", "--width", "40", "--threads", "1", "--quiet"]


def section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split("## Add a dataset", 1)[1].split("\n## ", 1)[0]


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", section(), flags=re.S)


def test_the_worked_dataset_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    [spec_json], [python], [command] = blocks("json"), blocks("python"), blocks("bash")
    Path("mydresses.json").write_text(spec_json)
    spec = DatasetSpec.from_json("mydresses.json")
    assert spec.split_names == ("train", "val", "test")

    # step 2: the Python block, as written
    exec(compile(python, "extending.md", "exec"), {})  # noqa: S102 (the document's own example)
    synthetic = Path("data/mydresses-synthetic")
    for split in spec.split_names:
        assert (synthetic / "generated" / spec.list_file(split)).is_file()
    assert read_manifest(synthetic / "shards" / "val")["samples"] == 2

    # step 3: a folder of "own" videos laid out as the section shows, then its command
    own = [SyntheticSplit("train", "train.txt", 2, 10), SyntheticSplit("val", "val.txt", 1, 11),
           SyntheticSplit("test", "test.txt", 1, 12)]
    make_dataset("mydresses", frames=18, height=48, width=40, workers=1, progress=False, splits=tuple(own))
    assert sorted(p.name for p in Path("mydresses").glob("*.txt")) == ["test.txt", "train.txt", "val.txt"]
    words = shlex.split(command.strip())
    assert words[:2] == ["ffbench", "prepare"] and "--source" in words and "--dataset" in words
    result = CliRunner().invoke(main, words[1:] + SMALL)
    assert result.exit_code == 0, result.output
    data = Path("data/mydresses")
    counts = {s: read_manifest(data / "shards" / s)["samples"] for s in spec.split_names}
    assert counts == {"train": 2, "val": 1, "test": 1}
    assert json.loads((data / DATASET_NAME).read_text())["splits"][1]["list_file"] == "val.txt"
    assert dataset_of(data) == spec

    # a rerun into the same --out as another dataset is refused before anything is written
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*")}
    other = CliRunner().invoke(main, ["prepare", "--source", "mydresses", "--out", str(data), *SMALL])
    assert other.exit_code == 1 and "prepared as the dataset 'mydresses'" in other.output, other.output
    assert {p: p.stat().st_mtime_ns for p in data.rglob("*")} == before
