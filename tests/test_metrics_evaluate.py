"""End to end: streaming extraction, random extractors with re-estimated BatchNorm, cache, `ffbench eval`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ffbench.commands.evaluate import evaluate as eval_command
from ffbench.commands.leaderboard import leaderboard as leaderboard_command
from ffbench.metrics.evaluate import evaluate
from ffbench.metrics.features import extract
from ffbench.metrics.protocols import PROTOCOLS
from ffbench.metrics.sources import open_source
from ffbench.metrics.weights import load_i3d
from ffbench.video import write_video

SIZE = 64  # reduced I3D/Inception inputs keep the suite fast; the 224x224 pass is in test_metrics_i3d.py
SMALL = {
    "fvd": PROTOCOLS["fvd"].replace(size=(SIZE, SIZE)),
    "kvd": PROTOCOLS["kvd"].replace(size=(SIZE, SIZE)),
    "fid": PROTOCOLS["fid"].replace(size=(75, 75)),
    "is": PROTOCOLS["is"].replace(size=(75, 75)),
}



def moving_disks(seed: int, frames: int = 20, size: int = 64, frozen: bool = False) -> np.ndarray:
    """A disk crossing a flat background, colours and path from `seed`; `frozen` repeats frame 0."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    bg, fg = rng.uniform(40, 200, 3), rng.uniform(0, 255, 3)
    radius = rng.uniform(6, 12)
    x0, y0 = rng.uniform(12, size - 12, 2)
    vx, vy = rng.uniform(-2, 2, 2)
    out = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        tt = 0 if frozen else t
        inside = ((xx - (x0 + vx * tt) % size) ** 2 + (yy - (y0 + vy * tt) % size) ** 2) < radius ** 2
        out[t] = np.where(inside[..., None], fg, bg)
    return out


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    dirs = {k: root / k for k in ("real", "half_a", "half_b", "frozen", "tiny_a", "tiny_b")}
    for d in dirs.values():
        d.mkdir()
    n = 16
    for i in range(n):
        clip = moving_disks(i)
        write_video(dirs["real"] / f"v{i:02d}.mp4", clip, 30)
        write_video(dirs["half_a" if i < n // 2 else "half_b"] / f"v{i:02d}.mp4", clip, 30)
        write_video(dirs["frozen"] / f"v{i:02d}.mp4", moving_disks(i, frozen=True), 30)
    for i in range(6):  # small sets for the slow all-metrics and CLI tests
        write_video(dirs["tiny_a" if i < 3 else "tiny_b"] / f"v{i}.mp4", moving_disks(i, frames=16), 30)
    return dirs


def test_random_i3d_features_vary_only_after_batchnorm_re_estimation(videos):
    # Not asserted: FVD(half, half) < FVD(real, frozen). With random weights it does not hold here, at any
    # N a test can afford (8-512 clips per side) nor at the protocol's 224x224:
    # `bench/sensitivity.py --synthetic 32 --metrics fvd` measures it, and run with real I3D weights it is
    # the check to make. Checked here: the labels, and
    # that re-estimation turns nearly constant features into ones that vary across videos.
    halves = evaluate("fvd", videos["half_a"], videos["half_b"], seeds=[0], i3d="random", protocols=SMALL,
                      recal_items=16)[0]
    assert halves.flags[0] == "random-init" and halves.extractor_sha256.startswith("random-init:")
    assert "random-init" in halves.extractor and np.isfinite(halves.value) and halves.value > 0
    ex = load_i3d("random")
    raw = extract(open_source(videos["real"]), SMALL["fvd"], ex, ("logits",)).stats["logits"].features
    assert raw.std(0).mean() < 1e-3 * np.abs(raw).mean()  # nearly constant before re-estimation
    from ffbench.metrics.distribution import _recalibrate

    _recalibrate(ex, SMALL["fvd"], open_source(videos["real"]), 8, 16, "cpu")
    feats = extract(open_source(videos["real"]), SMALL["fvd"], ex, ("logits",)).stats["logits"].features
    assert feats.std(0).mean() > 0.05 * np.abs(feats).mean()


def test_all_metrics_with_cache_and_flags(videos, tmp_path, monkeypatch):
    kw = dict(seeds=[0, 1], i3d="random", i3d_vfid="random", inception="random", protocols=SMALL,
              recal_items=8, max_items=None, cache_dir=tmp_path / "cache")
    results = evaluate("fvd,kvd,vfid,fid,is", videos["tiny_a"], videos["tiny_b"], **kw)
    by = {r.metric: r for r in results}
    assert list(by) == ["fvd", "kvd", "vfid", "fid", "is"]
    assert all(np.isfinite(r.value) and r.random_init for r in results)
    assert by["fvd"].n_real == by["fvd"].n_fake == 3 and by["fvd"].frames == "16"
    # 16-frame videos leave one possible clip start: both seeds must give the same FVD.
    assert by["fvd"].seeds == [0, 1] and by["fvd"].per_seed[0] == by["fvd"].per_seed[1]
    assert by["is"].seeds == [0, 1] and by["is"].per_seed[0] != by["is"].per_seed[1]  # shuffle differs
    assert by["vfid"].seeds == [0] and by["vfid"].std == 0.0 and by["vfid"].frames == "16"
    assert any("short videos: 16 frames" in f for f in by["vfid"].flags)
    assert any(f.startswith("N<=dim (3<=400)") for f in by["fvd"].flags)
    assert by["fid"].n_fake == 3 * 16 and by["is"].n_real == 0 and by["is"].value >= 1.0
    # N<=dim distances have no valid interval (NaN bounds); everything else has one.
    assert all((r.n_boot > 0 and r.ci_low <= r.ci_high) or (np.isnan(r.ci_low) and r.family == "distribution")
               for r in results)
    assert np.isnan(by["fvd"].ci_low) and by["fvd"].n_boot == 0
    # Second run: every feature and every re-estimated BatchNorm comes from the cache (no network runs).
    assert len(list((tmp_path / "cache").glob("batchnorm-*.npz"))) == 3  # fvd/kvd I3D, vfid I3D, inception
    monkeypatch.setattr("ffbench.metrics.features._outputs_of", lambda *a, **k: pytest.fail("not cached"))
    monkeypatch.setattr("ffbench.metrics.distribution.recalibrate_batchnorm",
                        lambda *a, **k: pytest.fail("BatchNorm statistics not cached"))
    again = evaluate("fvd,kvd,vfid,fid,is", videos["tiny_a"], videos["tiny_b"], **kw)
    assert [r.value for r in again] == [r.value for r in results]
    assert [r.extractor for r in again] == [r.extractor for r in results]  # "re-estimated on N" kept
    np.testing.assert_equal([r.ci_low for r in again], [r.ci_low for r in results])  # all cached


def test_eval_cli_reads_shards_appends_rows_and_leaderboard_prints(videos, tmp_path):
    import webdataset as wds

    shards = tmp_path / "shards"
    shards.mkdir()
    with wds.TarWriter(str(shards / "test-000000.tar")) as sink:
        for f in sorted(videos["tiny_a"].iterdir()):
            sink.write({"__key__": f.stem, "mp4": f.read_bytes(), "json": b"{}"})
    board = tmp_path / "board"
    args = ["--metric", "vfid", "--real", str(shards), "--fake", str(videos["tiny_b"]), "--method", "toy",
            "--i3d-vfid", "random", "--leaderboard-dir", str(board), "--dataset", "toyset", "--no-cache",
            "--recal-items", "4", "--threads", "1"]
    result = CliRunner().invoke(eval_command, args)
    assert result.exit_code == 0, result.output
    assert "random-init" in result.output and "appended 1 rows" in result.output
    lines = (board / "toyset.csv").read_text().splitlines()
    assert len(lines) == 2 and "random-init" in lines[1]
    shown = CliRunner().invoke(leaderboard_command, ["--dir", str(board)])
    assert shown.exit_code == 0 and "VFID on toyset" in shown.output and "random-init" in shown.output


def test_clear_errors_for_missing_weights_short_videos_and_empty_folders(videos, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FFBENCH_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(eval_command, ["--metric", "fvd", "--real", str(videos["tiny_a"]), "--fake",
                                               str(videos["tiny_b"]), "--method", "m", "--no-cache"])
    assert result.exit_code != 0 and "--i3d" in result.output and "https://" in result.output
    short = tmp_path / "short"
    short.mkdir()
    write_video(short / "a.mp4", moving_disks(0, frames=8), 30)
    with pytest.raises(ValueError, match="at least 9"):
        evaluate("fvd", videos["tiny_a"], short, i3d="random", protocols=SMALL, recal_items=2)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="--fake"):
        evaluate("fvd", videos["half_a"], empty, i3d="random")
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate("fvdd", videos["half_a"], videos["half_b"])


def test_clips_two_fvd_protocols_share_run_the_network_once(videos, monkeypatch):
    # 16-frame videos: fvd and fvd-stylegan-v both take frames 0-15 of every video, on both sides here.
    protocols = {"fvd": SMALL["fvd"],
                 "fvd-stylegan-v": PROTOCOLS["fvd-stylegan-v"].replace(size=(SIZE, SIZE))}
    kw = dict(seeds=[0], i3d="random", protocols=protocols, recal_items=8, max_items=None, cache_dir=None)
    alone = evaluate("fvd-stylegan-v", videos["tiny_a"], videos["tiny_b"], **kw)[0]
    import ffbench.metrics.features as features

    rows = []
    run = features._run_network
    monkeypatch.setattr(features, "_run_network", lambda ex, x, out: rows.append(len(x)) or run(ex, x, out))
    both = {r.metric: r for r in evaluate("fvd,fvd-stylegan-v", videos["tiny_a"], videos["tiny_b"], **kw)}
    assert sum(rows) == 6  # 3 real + 3 generated clips, once; the second protocol reuses them
    assert both["fvd-stylegan-v"].value == alone.value  # the same number as computed on its own


def test_eval_keeps_per_video_values_beside_the_leaderboard_keyed_by_its_row(videos, tmp_path):
    from ffbench.leaderboard import COLUMNS, read_leaderboard
    from ffbench.per_video_store import read_store, store_path

    board = tmp_path / "board"
    for method, fake in (("frozen", videos["frozen"]), ("half", videos["half_a"])):
        args = ["--metric", "psnr,motion", "--real", str(videos["real"]), "--fake", str(fake), "--method",
                method, "--leaderboard-dir", str(board), "--dataset", "toyset", "--bootstrap", "10",
                "--threads", "1", "--allow-missing"]
        result = CliRunner().invoke(eval_command, args)
        assert result.exit_code == 0, result.output
    rows = read_leaderboard(board / "toyset.csv")
    assert list(rows.columns) == COLUMNS  # the leaderboard's own columns are unchanged
    store = read_store(board)
    assert store_path(board, "toyset").is_file() and store is not None
    for _, r in rows.iterrows():
        mine = store[(store["time"] == r["time"]) & (store["method"] == r["method"])
                     & (store["metric"] == r["metric"]) & (store["protocol"] == r["protocol"])]
        assert len(mine) == (16 if r["method"] == "frozen" else 8), r["metric"]
        assert mine["real_fingerprint"].nunique() == 1 and len(mine["real_fingerprint"].iloc[0]) == 64
        assert abs(float(r["value"]) - mine["value"].astype(float).mean()) < 1e-6 * max(1, abs(r["value"]))
        if r["metric"] == "motion":
            assert (mine["real_value"] != "").all()
    shown = CliRunner().invoke(leaderboard_command, ["--dir", str(board)])
    assert shown.exit_code == 0 and shown.output.count("paired difference on the shared test ids") == 2
