"""Scoring your own generator's folder: one report for every mismatch, --allow-missing, --per-video, the
flags of generation.json, and the grouped leaderboard."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ffbench.commands.evaluate import evaluate as eval_command
from ffbench.commands.leaderboard import leaderboard as leaderboard_command
from ffbench.video import write_video


def clip(seed: int, frames: int = 10, h: int = 48, w: int = 64) -> np.ndarray:
    """A bright square moving right over a dark background."""
    out = np.full((frames, h, w, 3), 30, np.uint8)
    x0 = 4 + seed
    for t in range(frames):
        out[t, 16:32, x0 + t:x0 + t + 16] = (200, 120 + 10 * seed, 60)
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real")
    for i, vid in enumerate("abcd"):
        write_video(root / f"{vid}.mp4", clip(i), 30)
    return root


def fake_folder(root: Path, spec: dict[str, np.ndarray]) -> Path:
    root.mkdir()
    for vid, frames in spec.items():
        write_video(root / f"{vid}.mp4", frames, 30)
    return root


def run(args: list[str]):
    return CliRunner().invoke(eval_command, args + ["--threads", "1", "--no-cache", "--bootstrap", "20"])


def test_one_report_names_every_mismatch_and_allow_missing_forgives_only_the_ids(real, tmp_path):
    # The acceptance case: one missing id (d), one extra id (e), one 8-frame video (b), one video at
    # another size (c); a, b, c are real ids.
    fake = fake_folder(tmp_path / "fake", {
        "a": clip(0), "b": clip(1, frames=8), "c": clip(2, h=32, w=48), "e": clip(4)})
    args = ["--metric", "psnr,motion", "--real", str(real), "--fake", str(fake), "--method", "mine",
            "--no-leaderboard"]
    result = run(args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    text = result.output
    assert "Traceback" not in text
    for part in ("missing: 1 real id", "d (expected <id>.mp4",
                 "extra: 1 generated video(s) have no real id: e",
                 "frames: b.mp4 has 8 frames; the other generated videos have 10",
                 "size: c.mp4 is 48x32; the other generated videos are 64x48", "(4 problems)",
                 "--allow-missing"):
        assert part in text, part
    assert text.count("does not match the real set") == 1  # one report, not one error per problem
    forgiven = run(args + ["--allow-missing"])  # frames and size are never forgiven
    assert forgiven.exit_code == 1 and "b.mp4 has 8 frames" in forgiven.output
    assert "c.mp4 is 48x32" in forgiven.output and "Traceback" not in forgiven.output
    # The same folder with b and c regenerated right: only the id problems are left.
    write_video(fake / "b.mp4", clip(1), 30)
    write_video(fake / "c.mp4", clip(2), 30)
    still = run(args)
    assert still.exit_code == 1 and "(2 problems)" in still.output and "missing: 1 real id" in still.output
    scored = run(args + ["--allow-missing"])
    assert scored.exit_code == 0, scored.output
    assert "ids: 3 of 4 real ids scored (1 missing, 1 extra generated)" in scored.output


def test_allow_missing_scores_the_common_ids_and_rows_say_so(real, tmp_path):
    fake = fake_folder(tmp_path / "fake", {"a": clip(0), "b": clip(1), "c": clip(2), "e": clip(4)})
    (fake / "generation.json").write_text(json.dumps({"flags": ["privileged-input: ground-truth flow"]}))
    board, per_video = tmp_path / "board", tmp_path / "pv.csv"
    args = ["--metric", "psnr,ssim,motion,flicker", "--real", str(real), "--fake", str(fake), "--method",
            "poke", "--leaderboard-dir", str(board), "--dataset", "toy", "--per-video", str(per_video)]
    refused = run(args)
    assert refused.exit_code == 1 and "missing: 1 real id" in refused.output
    result = run(args + ["--allow-missing"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((board / "toy.csv").open()))
    by = {r["metric"]: r for r in rows}
    assert set(by) == {"psnr", "ssim", "motion", "flicker"}
    assert "ids: 3 of 4 real ids scored (1 missing, 1 extra generated)" in by["psnr"]["flags"]
    assert all("privileged-input: ground-truth flow" in r["flags"] for r in rows)
    assert by["psnr"]["n_fake"] == "3" and by["motion"]["n_fake"] == "4" and by["motion"]["n_real"] == "4"
    assert all(float(r["ci_low"]) <= float(r["value"]) <= float(r["ci_high"]) for r in rows)
    assert by["motion"]["family"] == "diagnostic" and float(by["motion"]["ratio"]) == pytest.approx(
        float(by["motion"]["value"]) / float(by["motion"]["real_value"]))
    curves = json.loads(by["motion"]["detail"])["curves"]
    assert len(curves["fake"]) == len(curves["real"]) == 9  # 10 frames: 9 consecutive pairs
    table = list(csv.DictReader(per_video.open()))
    assert {(r["metric"], r["video"]) for r in table if r["metric"] == "psnr"} == {
        ("psnr", v) for v in "abc"}
    assert len([r for r in table if r["metric"] == "motion"]) == 4 and table[0]["method"] == "poke"
    shown = CliRunner().invoke(leaderboard_command, ["--dir", str(board)])
    assert shown.exit_code == 0
    out = shown.output
    assert out.index("## Distribution") if "## Distribution" in out else True
    assert out.index("## Paired metrics") < out.index("## Diagnostics")
    assert "privileged-input: ground-truth flow" in out and "paired (correct), frames [1:]" in out
    assert "first 10 frames at 64x48" in out and "95% CI" in out
