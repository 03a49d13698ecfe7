"""bench/targets.py on a tiny fake demo folder: each figure against a direct computation."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from ffbench.metrics.comparison import distribution_difference, paired_difference
from ffbench.metrics.diagnostics import PER_VIDEO
from ffbench.metrics.frechet import frechet_distance_weighted
from ffbench.metrics.video_analysis import analyse_video
from ffbench.per_video_store import COLUMNS
from ffbench.synthetic import render_clip, sample_video
from ffbench.synthetic.dataset import video_seed
from ffbench.video import read_video, write_video

ROOT = Path(__file__).resolve().parents[1]
FRAMES, H, W, N, SEED = 16, 64, 48, 4, 0
RESAMPLES = 200
IDS = [f"synth_test_{k:04d}" for k in range(N)]


def _targets():
    spec = importlib.util.spec_from_file_location("bench_targets", ROOT / "bench" / "targets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_targets"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


class Backwards:
    """The synthetic motion played backwards in time (pose at -t): the reversed reference, written here
    again so the test does not lean on bench/quality.py's."""

    def __init__(self, motion) -> None:
        self.motion = motion

    def pose(self, t):
        return self.motion.pose(-np.asarray(t, dtype=np.float64))


def _store_row(time: str, method: str, vid: str, value: float, real: float) -> dict:
    row = dict.fromkeys(COLUMNS, "")
    row.update(time=time, method=method, metric="colour-drift", family="diagnostic",
               protocol='{"name": "colour-drift"}', extractor_sha256="weight-free:x", real_fingerprint="f",
               video=vid, value=value, real_value=real)
    return row


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> SimpleNamespace:
    """DEMO/data (real videos), runs/{fashionflow,seed1,static}/samples and leaderboard/per_video."""
    root = tmp_path_factory.mktemp("demo")
    rng = np.random.default_rng(3)
    folders = {n: root / p for n, p in (("real", "data"), ("fashionflow", "runs/fashionflow/samples"),
                                        ("seed1", "runs/seed1/samples"), ("static", "runs/static/samples"))}
    for f in folders.values():
        f.mkdir(parents=True)
    looks = {}
    for vid, k in zip(IDS, range(N), strict=True):
        look, motion = sample_video(video_seed(SEED, "test", k))
        looks[vid] = (look, motion)
        real = render_clip(look, motion, FRAMES, H, W)
        write_video(folders["real"] / f"{vid}.mp4", real)
        # Two "models": the real video with noise growing over time and a colour cast (different per run).
        ramp = np.linspace(0, 1, FRAMES)[:, None, None, None]
        for name, cast in (("fashionflow", (12, -6, 0)), ("seed1", (0, 8, -10))):
            noise = rng.normal(0, 20, real.shape) * ramp
            fake = np.clip(real + noise + ramp * np.array(cast), 0, 255).astype(np.uint8)
            write_video(folders[name] / f"{vid}.mp4", fake)
        write_video(folders["static"] / f"{vid}.mp4", np.repeat(real[:1], FRAMES, axis=0))
    # The store: fashionflow has an old and a newer colour-drift eval; seed1 is not in it.
    store = root / "leaderboard" / "per_video" / "synthetic-cpu.csv"
    store.parent.mkdir(parents=True)
    rows = [_store_row("2026-01-01T00:00:00+00:00", "fashionflow", v, 9.0, 1.0) for v in IDS]
    latest = {v: (1.0 + 0.3 * k, 0.5 + 0.1 * k * k) for k, v in enumerate(IDS)}
    rows += [_store_row("2026-02-01T00:00:00+00:00", "fashionflow", v, *latest[v]) for v in IDS]
    with open(store, "w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return SimpleNamespace(root=root, folders=folders, looks=looks, latest=latest)


def _frames(folder: Path, vid: str) -> np.ndarray:
    return read_video(folder / f"{vid}.mp4")


def _psnr_min(fake: np.ndarray, real: np.ndarray) -> float:
    return min(peak_signal_noise_ratio(real[t], fake[t], data_range=255) for t in range(1, FRAMES))


def _run(demo, tmp_path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "t.json"
    code = _targets().main([str(demo.root), "--run", f"fashionflow={demo.folders['fashionflow']}",
                            "--run", f"seed1={demo.folders['seed1']}", "--resamples", str(RESAMPLES),
                            "--cache-dir", str(tmp_path / "cache"), "--json", str(out), *extra])
    return code, json.loads(out.read_text())


def test_figures_match_a_direct_computation(demo, tmp_path, capsys):
    code, result = _run(demo, tmp_path, "--synthetic-seed", str(SEED))
    assert code == 0 and result["gate_failed"] == []
    table = capsys.readouterr().out
    assert "| fashionflow | lowest frame" in table and "| seed1 | colour drift" in table
    key = lambda target: "lowest-mean" if target.startswith("mean") else target.split(" ")[0]  # noqa: E731
    figs = {run: {key(f["target"]): f for f in figures} for run, figures in result["runs"].items()}
    real = {v: _frames(demo.folders["real"], v) for v in IDS}
    backwards = {v: render_clip(look, Backwards(motion), FRAMES, H, W)
                 for v, (look, motion) in demo.looks.items()}
    rev_min = np.array([_psnr_min(backwards[v], real[v]) for v in IDS])
    analysed = {n: {v: analyse_video(_frames(demo.folders[n], v)) for v in IDS}
                for n in ("real", "fashionflow", "seed1", "static")}
    for run in ("fashionflow", "seed1"):
        run_min = np.array([_psnr_min(_frames(demo.folders[run], v), real[v]) for v in IDS])
        low = figs[run]["lowest"]
        assert low["value"] == pytest.approx(run_min.min(), abs=1e-9)
        assert low["reference"] == pytest.approx(rev_min.min() - 1.0, abs=1e-9)
        assert low["extra"]["video"] == IDS[int(np.argmin(run_min))]
        mean = figs[run]["lowest-mean"]
        est, iv, _ = paired_difference(run_min, rev_min - 1.0, RESAMPLES, 0)
        assert mean["estimate"] == pytest.approx(run_min.mean() - rev_min.mean() + 1.0, abs=1e-9)
        assert (mean["low"], mean["high"]) == pytest.approx((iv.low, iv.high), abs=1e-9)

        fv = {n: np.stack([analysed[n][v].fvmd for v in IDS]) for n in ("real", run, "static")}
        own = [frechet_distance_weighted(fv[n], np.ones(N), fv["real"], np.ones(N)) for n in (run, "static")]
        fvmd = figs[run]["fvmd-flow"]
        assert (fvmd["value"], fvmd["reference"]) == pytest.approx(own, rel=1e-6)
        idx = np.arange(N)
        est, iv, _ = distribution_difference(fv["real"], idx, fv[run], idx, fv["static"], idx,
                                             resamples=RESAMPLES, seed=0)
        assert fvmd["estimate"] == pytest.approx(own[0] - own[1], rel=1e-6)
        assert (fvmd["low"], fvmd["high"]) == pytest.approx((iv.low, iv.high), rel=1e-6)

    # Colour drift: fashionflow from the store's latest eval, seed1 computed from its videos.
    colour = figs["fashionflow"]["colour"]
    gen, own_real = (np.array([demo.latest[v][i] for v in IDS]) for i in (0, 1))
    assert colour["estimate"] == pytest.approx(np.mean(gen - own_real), abs=1e-12)
    assert "store" in colour["source"]
    colour1 = figs["seed1"]["colour"]
    drift = PER_VIDEO["colour-drift"]
    direct = np.mean([drift(analysed["seed1"][v]) - drift(analysed["real"][v]) for v in IDS])
    assert colour1["estimate"] == pytest.approx(direct, rel=1e-6) and "computed" in colour1["source"]


def test_without_a_reversed_reference_it_says_so(demo, tmp_path, capsys):
    code, result = _run(demo, tmp_path)  # a plain video folder has no manifest seed: reversed cannot be made
    assert code == 0
    lows = [f for f in result["runs"]["fashionflow"] if "lowest" in f["target"]]
    assert len(lows) == 2 and not any(f["available"] for f in lows)
    assert all("reversed reference unavailable" in f["note"] for f in lows)
    assert "not available: reversed reference unavailable" in capsys.readouterr().out
    assert all(f["available"] for f in result["runs"]["fashionflow"] if "lowest" not in f["target"])


def test_fvmd_worse_than_static_is_the_one_gate():
    targets = _targets()
    rng = np.random.default_rng(0)
    real = rng.normal(0, 1, (12, 6))
    near = real + rng.normal(0, 0.1, real.shape)  # static: close to the real motion
    far = rng.normal(3, 2, real.shape)  # the run: far from it
    wrap = lambda x: {f"v{i}": SimpleNamespace(fvmd=row) for i, row in enumerate(x)}  # noqa: E731
    worse = targets.fvmd_against_static(wrap(far), wrap(near), wrap(real), 300, 0)
    assert worse.low > 0 and worse.extra["gate_failed"] and "gate" in worse.verdict
    better = targets.fvmd_against_static(wrap(near), wrap(far), wrap(real), 300, 0)
    assert better.high < 0 and not better.extra["gate_failed"]


@pytest.mark.parametrize("text", ["fashionflow", "=dir", "name="])
def test_run_needs_name_and_folder(text):
    with pytest.raises(ValueError, match="NAME=DIR"):
        _targets().parse_run(text)
