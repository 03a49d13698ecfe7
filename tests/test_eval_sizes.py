"""eval and generated videos of another size or aspect than the real set (issue 25, point 7): refused
before anything is computed or written, naming both sizes and the files; `--resize-fake` resizes them to
the real size and flags every row."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from pixel_shards import write_data

from ffbench.cli import main
from ffbench.datasets.shards import iter_split_entries
from ffbench.leaderboard import read_leaderboard
from ffbench.video import read_video, write_video


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("pixels"), {"test": 3}, frames=10) / "shards" / "test"


@pytest.fixture(scope="module")
def landscape(split, tmp_path_factory):
    """The real 96x128 (W x H) portrait videos, stretched to 128x96 landscape: what a model trained on
    another aspect writes."""
    out = tmp_path_factory.mktemp("landscape")
    for key, mp4 in iter_split_entries(split, "mp4"):
        frames = read_video(mp4)
        write_video(out / f"{key}.mp4", np.stack([cv2.resize(f, (128, 96), interpolation=cv2.INTER_LINEAR)
                                                  for f in frames]), fps=30.0)
    return out


def _eval(split, fake, tmp_path, *extra):
    return CliRunner().invoke(main, ["eval", "--metric", "psnr,motion", "--real", str(split), "--fake",
                                     str(fake), "--method", "m", "--leaderboard-dir", str(tmp_path / "board"),
                                     "--cache-dir", str(tmp_path / "cache"), "--bootstrap", "10",
                                     "--per-video", str(tmp_path / "pv.csv"), *extra])


def test_eval_refuses_another_aspect_before_writing(split, landscape, tmp_path):
    result = _eval(split, landscape, tmp_path)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    assert ("size: 3 generated video(s) are 128x96 (width x height) but their real videos are 96x128: "
            "test0.mp4, test1.mp4, test2.mp4") in result.output, result.output
    assert "--resize-fake" in result.output
    assert not any(tmp_path.iterdir())  # no leaderboard, no cache, no per-video CSV


def test_eval_refuses_another_size_of_the_same_aspect(split, tmp_path):
    fake = tmp_path / "half"
    for key, mp4 in iter_split_entries(split, "mp4"):  # 48x64: the same aspect, half the size
        write_video(fake / f"{key}.mp4", np.stack([cv2.resize(f, (48, 64), interpolation=cv2.INTER_AREA)
                                                   for f in read_video(mp4)]), fps=30.0)
    result = _eval(split, fake, tmp_path / "out")
    assert result.exit_code == 1 and "are 48x64 (width x height) but their real videos are 96x128" \
        in result.output, result.output


def test_resize_fake_scores_at_the_real_size_and_flags_the_rows(split, landscape, tmp_path):
    result = _eval(split, landscape, tmp_path, "--resize-fake")
    assert result.exit_code == 0, result.output
    rows = read_leaderboard(tmp_path / "board")
    assert set(rows["metric"]) == {"psnr", "motion"}
    for flags in rows["flags"]:
        assert "resized: 3 generated video(s) resized to the real size (128x96 -> 96x128" in flags, flags
    psnr = float(rows.loc[rows["metric"] == "psnr", "value"].iloc[0])
    assert psnr > 25.0, psnr  # stretched back: close to the real videos (stretched the other way: ~8 dB)
    assert sorted(p.name for p in landscape.iterdir()) == ["test0.mp4", "test1.mp4", "test2.mp4"]  # untouched
