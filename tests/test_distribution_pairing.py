"""Distribution metrics judged by their paired difference: eval keeps the per-unit features, the leaderboard
resamples the real videos and the shared test ids once for both methods of a pair (Holm over the table),
never pairs different real sets, and falls back to the interval rule where no features were kept.

The truth is known in the synthetic cases: Gaussian features whose Frechet distance to the real
distribution is |mu|^2 + tr(S + I - 2 S^(1/2)) in closed form."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from ffbench.commands.leaderboard import leaderboard as leaderboard_command
from ffbench.feature_store import FeatureStore, row_file, write_features
from ffbench.leaderboard import COLUMNS, append_rows, leaderboard_path, leaderboard_tables, read_leaderboard
from ffbench.metrics.comparison import Features, compare_distributions, distribution_difference
from ffbench.metrics.protocols import PROTOCOLS

N, DIM = 16, 16  # the demo's test-set size, at the feature dimension (N <= dim)


def _features(x: np.ndarray, real: np.ndarray, distance: str = "frechet") -> Features:
    ids = np.array([f"v{i:02d}" for i in range(len(x))])
    real_kw = {} if distance == "inception_score" else dict(real_features=real.astype(np.float32),
                                                            real_video=np.arange(len(real)))
    return Features("", "fvd", x.astype(np.float32), ids, "", PROTOCOLS["fvd"].to_json(), "", distance,
                    **real_kw)


def _row(method: str, lo: float = float("nan"), hi: float = float("nan")) -> dict:
    r = dict.fromkeys(COLUMNS, "")
    r.update(time="2026-12-08T00:00:00+00:00", dataset="fashion", method=method, metric="fvd",
             family="distribution", value=1.0, std=0.0, ci_low=lo, ci_high=hi, n_boot=200, n_seeds=1,
             seeds="0", n_real=N, n_fake=N, frames="16", extractor="i3d random-init",
             extractor_sha256="random-init:abc", protocol=PROTOCOLS["fvd"].to_json(), flags="")
    return r


def _board(tmp_path, sets: dict[str, tuple[np.ndarray, np.ndarray]], fingerprint=lambda m: "real-1",
           intervals=None, keep=lambda m: True):
    """A leaderboard of fvd rows whose features (generated, real) eval kept; returns the fvd table."""
    intervals = intervals or {}
    rows = [_row(m, *intervals.get(m, (float("nan"), float("nan")))) for m in sets]
    for m, r in zip(sets, rows, strict=True):
        x, real = sets[m]
        if keep(m):
            write_features(tmp_path, [SimpleNamespace(unit_features=_features(x, real))], [r], fingerprint(m))
    append_rows(leaderboard_path(tmp_path, "fashion"), rows)
    [(title, table)] = leaderboard_tables(read_leaderboard(tmp_path), features=tmp_path)
    return title, dict(zip(table["method"], table["better than"], strict=True))


def _gaussians(seed: int, shifts: dict[str, float], n: int = N, dim: int = DIM):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n, dim))
    return real, {m: np.r_[np.full(4, s), np.zeros(dim - 4)] + rng.normal(size=(n, dim))
                  for m, s in shifts.items()}


def test_closer_features_win_and_identical_features_tie(tmp_path):
    # near is 4 x 0.5^2 = 1 from the real distribution, far 4 x 3^2 = 36: a known margin of 35.
    real, fake = _gaussians(0, {"near": 0.5, "far": 3.0})
    sets = {"near": (fake["near"], real), "far": (fake["far"], real), "twin": (fake["near"].copy(), real)}
    title, got = _board(tmp_path, sets)
    assert got == {"near": "far", "twin": "far", "far": ""}  # near and twin: the same features, no verdict
    assert "paired difference of the two distances" in title and "Holm over the 3 paired" in title
    # without the kept features the same rows have no verdict at all (no valid interval at N <= dim)
    [(old_title, old)] = leaderboard_tables(read_leaderboard(tmp_path))
    assert list(old["better than"]) == ["", "", ""] and "no per-unit features stored" in old_title


def test_a_pairing_over_the_budget_says_so_not_that_features_are_missing(tmp_path, monkeypatch):
    monkeypatch.setattr("ffbench.metrics.comparison.PAIR_FLOP_BUDGET", 1.0)  # nothing fits
    real, fake = _gaussians(0, {"near": 0.5, "far": 3.0})
    title, got = _board(tmp_path, {"near": (fake["near"], real), "far": (fake["far"], real)})
    assert got == {"near": "", "far": ""}
    assert "non-overlapping 95% intervals (paired difference skipped:" in title, title
    assert "no per-unit features" not in title


def test_different_real_sets_are_never_paired(tmp_path):
    real, fake = _gaussians(1, {"near": 0.5, "far": 3.0})
    other_real = np.random.default_rng(9).normal(size=(N, DIM))
    # Interval rule for the unpaired entries: far's own interval is clear of other's, so it "beats" it.
    intervals = {"near": (0.0, 5.0), "far": (10.0, 20.0), "other": (30.0, 40.0)}
    sets = {"near": (fake["near"], real), "far": (fake["far"], real), "other": (fake["near"], other_real)}
    title, got = _board(tmp_path / "a", sets, intervals=intervals)
    assert got == {"near": "far, other*", "far": "other*", "other": ""}
    assert "Holm over the 1 paired" in title and "entries marked *" in title
    # the same real features under another real fingerprint (another real folder) are not paired either
    sets = {"near": (fake["near"], real), "far": (fake["far"], real)}
    title, got = _board(tmp_path / "b", sets, fingerprint=lambda m: f"real-{m}", intervals=intervals)
    assert "non-overlapping 95% intervals (no per-unit features" in title and got["near"] == "far"


def test_rows_without_kept_features_fall_back_to_the_interval_rule(tmp_path):
    real, fake = _gaussians(2, {"a": 0.5, "b": 3.0})
    intervals = {"a": (0.0, 5.0), "b": (4.0, 9.0)}  # overlapping: no verdict by the interval rule
    sets = {"a": (fake["a"], real), "b": (fake["b"], real)}
    title, got = _board(tmp_path / "old", sets, intervals=intervals, keep=lambda m: False)
    assert got == {"a": "", "b": ""}
    assert "better than: non-overlapping 95% intervals (no per-unit features stored for a pair)" in title
    assert not (tmp_path / "old" / "per_video" / "features").exists()
    title, got = _board(tmp_path / "new", sets, intervals=intervals)  # the same rows with their features
    assert got == {"a": "b", "b": ""} and "paired difference" in title
    torn = row_file(tmp_path / "new", _row("a"))
    torn.write_bytes(b"not an npz")  # a torn file is ignored, not an error
    assert FeatureStore(tmp_path / "new").load(_row("a")) is None


@pytest.mark.parametrize("n,dim,spread", [(16, 24, 1.0), (32, 4, 1.3)])
def test_paired_distance_interval_covers_the_known_difference(n, dim, spread):
    # Equal spread at N <= dim: the covariance bias is the same for both methods and cancels in the
    # difference. N > dim with a wider B: the bias is small. (At N <= dim with unequal spreads the
    # interval is of the difference at this N, not of the population one: see docs/measurements.md.)
    reps, hits = 40, 0
    rng = np.random.default_rng(n)
    mu_a, mu_b = np.r_[0.5, np.zeros(dim - 1)], np.r_[1.0, np.zeros(dim - 1)]
    truth = mu_a @ mu_a - (mu_b @ mu_b + dim * (spread - 1) ** 2)
    ids = np.arange(n)
    for rep in range(reps):
        real = rng.normal(size=(n, dim))
        a, b = mu_a + rng.normal(size=(n, dim)), mu_b + spread * rng.normal(size=(n, dim))
        _, iv, _ = distribution_difference(real, ids, a, ids, b, ids, resamples=250, seed=rep)
        hits += iv.low <= truth <= iv.high
    print(f"paired Frechet difference, n={n} dim={dim} spread={spread}: covers {truth:.3f} in {hits}/{reps}")
    assert hits / reps >= 0.90


def test_inception_score_and_kernel_differences_point_the_right_way():
    rng = np.random.default_rng(3)
    sharp = np.eye(10)[rng.integers(0, 10, 4 * N)] * 0.9 + 0.01  # confident, diverse: high IS
    flat = np.full((4 * N, 10), 0.1) + rng.uniform(0, 0.01, (4 * N, 10))
    flat /= flat.sum(1, keepdims=True)
    video = np.repeat(np.arange(N), 4)  # four frames per video

    def probs(method, x):
        return Features(method, "is", x, np.array([f"v{i:02d}" for i in video]), "fp:", "{}", "x",
                        "inception_score", splits=4)

    (d,) = compare_distributions([probs("sharp", sharp), probs("flat", flat)], higher_is_better=True,
                                 resamples=300)
    assert d.estimate > 0 and d.better == "sharp"
    real, fake = _gaussians(4, {"near": 0.5, "far": 3.0}, dim=8)
    kern = [Features(m, "kvd", fake[m], np.arange(N).astype(str), "fp:r", "{}", "x", "kernel", real,
                     np.arange(N)) for m in ("near", "far")]
    (d,) = compare_distributions(kern, higher_is_better=False, resamples=300)
    assert d.estimate < 0 and d.better == "near"


def test_eval_twice_then_leaderboard_shows_the_paired_verdict(tmp_path, monkeypatch):
    from ffbench.commands.evaluate import evaluate as eval_command
    from ffbench.video import write_video

    small = {k: p.replace(size=(32, 32)) if p.network == "i3d" and p.size else p
             for k, p in PROTOCOLS.items()}
    monkeypatch.setattr("ffbench.metrics.evaluate.PROTOCOLS", small)
    rng = np.random.default_rng(0)
    folders = {k: tmp_path / k for k in ("real", "copy", "noise")}
    for d in folders.values():
        d.mkdir()
    for i in range(8):
        clip = np.repeat(rng.integers(0, 255, (1, 32, 32, 3), dtype=np.uint8), 16, 0)
        for t in range(16):  # a white bar moving across a random still background
            clip[t, :, (2 * t + np.arange(8)) % 32] = 255
        write_video(folders["real"] / f"v{i}.mp4", clip, 25)
        write_video(folders["copy"] / f"v{i}.mp4", clip, 25)
        write_video(folders["noise"] / f"v{i}.mp4", rng.integers(0, 255, clip.shape, dtype=np.uint8), 25)
    board = tmp_path / "board"
    for method in ("copy", "noise"):
        args = ["--metric", "fvd,fvmd-flow", "--real", str(folders["real"]), "--fake", str(folders[method]),
                "--method", method, "--i3d", "random", "--leaderboard-dir", str(board), "--dataset", "toy",
                "--cache-dir", str(tmp_path / "cache"), "--recal-items", "8", "--bootstrap", "20",
                "--threads", "1"]
        result = CliRunner().invoke(eval_command, args)
        assert result.exit_code == 0, result.output
    kept = sorted(p.name.split("-")[0] for p in (board / "per_video" / "features").glob("*.npz"))
    assert kept == ["real", "real", "row", "row", "row", "row"]  # fvd's and fvmd-flow's real sets, once
    shown = CliRunner().invoke(leaderboard_command, ["--dir", str(board)])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("paired difference of the two distances") == 2
    print(shown.output)
    copy_rows = [line for line in shown.output.splitlines() if line.startswith("| copy ")]
    assert len(copy_rows) == 2  # fvd and fvmd-flow
    for line in copy_rows:  # the copy of the real videos beats noise on both, by the paired difference
        assert line.split("|")[4].strip() == "noise", line

    # The report's summary and full tables give the same paired verdicts as the leaderboard.
    from ffbench.report.build import build_report

    build_report(board, tmp_path / "report", base=tmp_path, progress=False)
    html = (tmp_path / "report" / "index.html").read_text()
    summary = html.split('<section id="summary">')[1].split("</section>")[0]
    assert "paired difference of the two distances" in summary
    assert summary.count("&gt;all") + summary.count(">all") >= 2  # copy beats noise on FVD and fvmd-flow
