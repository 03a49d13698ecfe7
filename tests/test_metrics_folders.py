"""Which folders `ffbench eval` takes: the dataset root `ffbench prepare --out` writes as --real, a swapped
--real/--fake pair refused with the fix, and the leaderboard named after the dataset folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ffbench.commands.evaluate import default_dataset_name
from ffbench.commands.evaluate import evaluate as eval_command
from ffbench.metrics.sources import SwappedFoldersError, open_fake, open_source
from ffbench.video import write_video


def clip(seed: int, frames: int = 10) -> np.ndarray:
    """A bright square moving right over a dark background."""
    out = np.full((frames, 48, 64, 3), 30, np.uint8)
    for t in range(frames):
        out[t, 16:32, 4 + seed + t:20 + seed + t] = (200, 120 + 10 * seed, 60)
    return out


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> dict[str, Path]:
    """A prepared dataset root as `ffbench prepare --out DATA` lays it out (DATA/shards/test/*.tar and its
    manifest.json) and a folder of generated videos with the same ids."""
    import webdataset as wds

    root = tmp_path_factory.mktemp("layout")
    data = root / "fashion-small"
    split = data / "shards" / "test"
    split.mkdir(parents=True)
    gen = root / "samples"
    gen.mkdir()
    videos = root / "encoded"
    videos.mkdir()
    with wds.TarWriter(str(split / "test-000000.tar")) as sink:
        for i, vid in enumerate("abc"):
            write_video(videos / f"{vid}.mp4", clip(i), 30)
            sink.write({"__key__": vid, "mp4": (videos / f"{vid}.mp4").read_bytes(), "json": b"{}"})
            write_video(gen / f"{vid}.mp4", clip(i + 1), 30)
    (split / "manifest.json").write_text(json.dumps({"split": "test", "shards": []}))
    return {"data": data, "split": split, "gen": gen}


def run(args: list[str]):
    return CliRunner().invoke(eval_command, args + ["--threads", "1", "--no-cache", "--bootstrap", "20"])


def assert_clean_failure(result, *parts: str) -> None:
    """Exit 1, one message, no traceback, naming each part."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for part in parts:
        assert part in result.output, (part, result.output)


def test_swapped_real_and_fake_are_refused_with_the_fix(layout, tmp_path):
    board = tmp_path / "board"
    for fake in (layout["split"], layout["data"]):  # the shard folder or the dataset root as --fake
        result = run(["--metric", "psnr", "--real", str(layout["gen"]), "--fake", str(fake), "--method", "m",
                      "--leaderboard-dir", str(board)])
        assert_clean_failure(result, f"--fake {fake}", "not generated videos", "swapped",
                             f"--real {fake} --fake {layout['gen']}")
    assert not board.exists()  # nothing was scored or written


def test_shards_as_fake_refused_even_when_real_is_right(layout):
    with pytest.raises(SwappedFoldersError, match="pass .* as --real"):
        open_fake(layout["split"], layout["data"])
    assert open_fake(layout["gen"], layout["data"]).kind == "videos"


def test_generated_folder_as_real_is_refused(layout, tmp_path):
    gen = tmp_path / "gen"
    gen.mkdir()
    for f in layout["gen"].iterdir():
        (gen / f.name).write_bytes(f.read_bytes())
    (gen / "generation.json").write_text(json.dumps({"flags": []}))
    result = run(["--metric", "psnr", "--real", str(gen), "--fake", str(layout["gen"]), "--method", "m",
                  "--no-leaderboard"])
    assert_clean_failure(result, f"--real {gen}", "generation.json", "generated output", "swapped")


def test_dataset_root_accepted_as_real_and_names_the_leaderboard(layout, tmp_path):
    src = open_source(layout["data"], "--real")
    assert src.kind == "shards" and src.root == layout["split"]
    board = tmp_path / "board"
    result = run(["--metric", "psnr,motion", "--real", str(layout["data"]), "--fake", str(layout["gen"]),
                  "--method", "mine", "--leaderboard-dir", str(board)])
    assert result.exit_code == 0, result.output
    assert "mine on fashion-small" in result.output
    assert [p.name for p in board.glob("*.csv")] == ["fashion-small.csv"]
    rows = (board / "fashion-small.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",fashion-small,mine," in r for r in rows[1:])


def test_default_dataset_name_is_the_dataset_folder(layout, tmp_path):
    data = layout["data"]
    for given in (data, data / "shards", layout["split"]):
        assert default_dataset_name(given) == "fashion-small", given
    plain = tmp_path / "my-videos"
    (plain / "test").mkdir(parents=True)
    assert default_dataset_name(plain) == "my-videos"
    assert default_dataset_name(plain / "test") == "my-videos"
    named = tmp_path / "x"
    named.mkdir()
    (named / "manifest.json").write_text(json.dumps({"dataset": "ubc-fashion"}))
    assert default_dataset_name(named) == "ubc-fashion"
    (named / "manifest.json").write_text(json.dumps({"dataset": "../evil"}))
    assert default_dataset_name(named) == "x"
