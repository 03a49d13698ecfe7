"""Paired comparison: coverage of the paired interval where the truth is known, pairing beats separate
intervals on shared test ids, Holm's correction, direction, refusal to pair unlike results, distribution
differences with one shared resample, and reading the --per-video file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ffbench.metrics import bootstrap
from ffbench.metrics.comparison import (
    Scored,
    compare_methods,
    distribution_difference,
    holm,
    load_per_video,
    paired_difference,
)
from ffbench.metrics.frechet import frechet_distance_weighted

REPS = 300


@pytest.mark.parametrize("n", [16, 32])
def test_paired_interval_covers_the_known_difference(n):
    # Per-video values share a skewed per-id difficulty; method noise is skewed too (exponential), and the
    # true mean difference is E[e_a] - E[0.5 e_b + 0.7] = 1 - 0.5 - 0.7 = -0.2.
    rng = np.random.default_rng(n)
    truth, hits, agree = -0.2, 0, 0
    for rep in range(REPS):
        base = rng.gamma(2.0, 3.0, n)
        a = base + rng.exponential(1.0, n)
        b = base + 0.7 + 0.5 * rng.exponential(1.0, n)
        _, iv, p = paired_difference(a, b, resamples=1000, seed=rep)
        inside = iv.low <= truth <= iv.high
        hits += inside
        agree += (p >= 0.05) == (iv.low <= 0 <= iv.high)  # the p-value inverts the same interval
    rate = hits / REPS
    print(f"paired 95% interval, n={n}: covers the true difference in {hits}/{REPS} = {rate:.3f}")
    assert rate >= 0.90
    assert agree >= REPS - 3  # 0 within round-off of an endpoint (quantile interpolation) may disagree


def _scored(method, values, real="real", protocol='{"name": "psnr"}', extractor="weight-free:paired",
            real_values=None):
    ids = [f"{i:03d}" for i in range(len(values))]
    rv = dict(zip(ids, real_values, strict=True)) if real_values is not None else {}
    per_video = dict(zip(ids, map(float, values), strict=True))
    return Scored(method, "psnr", per_video, real, protocol, extractor, rv)


def test_pairing_separates_what_separate_intervals_cannot():
    rng = np.random.default_rng(3)
    base = rng.normal(22, 3, 16)  # id difficulty dominates the spread of each method's mean
    a, b = base + 1.0 + rng.normal(0, 0.3, 16), base + rng.normal(0, 0.3, 16)
    lo_a, hi_a = bootstrap.mean_interval(a, 2000, 0)
    lo_b, hi_b = bootstrap.mean_interval(b, 2000, 1)
    assert lo_a < hi_b and lo_b < hi_a  # the separate intervals overlap: "no difference" today
    (d,) = compare_methods([_scored("a", a), _scored("b", b)], higher_is_better=True)
    assert d.low > 0 and d.better == "a" and d.p_holm < 0.05
    assert d.estimate == pytest.approx(a.mean() - b.mean())
    (d,) = compare_methods([_scored("a", a), _scored("b", b)], higher_is_better=False)  # L1-like: lower wins
    assert d.better == "b"


def test_holm_matches_the_step_down_rule_and_tables_apply_it():
    assert holm([0.01, 0.04, 0.03, float("nan")])[:3] == pytest.approx([0.03, 0.06, 0.06])
    rng = np.random.default_rng(4)
    base = rng.normal(0, 2, 20)
    table = [_scored(m, base + shift + rng.normal(0, 0.5, 20)) for m, shift in (("x", 0), ("y", 0.05),
                                                                               ("z", 1.5))]
    diffs = compare_methods(table, higher_is_better=True, resamples=1000)
    assert [(d.a, d.b) for d in diffs] == [("x", "y"), ("x", "z"), ("y", "z")]
    assert [d.p_holm for d in diffs] == pytest.approx(holm([d.p_value for d in diffs]))
    assert {(d.a, d.b): d.better for d in diffs} == {("x", "y"): "", ("x", "z"): "z", ("y", "z"): "z"}


@pytest.mark.parametrize("field,value", [("real", "other-real"), ("protocol", '{"name": "psnr", "v": 2}'),
                                         ("extractor", "sha256:abc")])
def test_unlike_results_are_never_paired(field, value):
    a = _scored("a", np.arange(5.0))
    b = _scored("b", np.arange(5.0) + 1, **{field: value})
    with pytest.raises(ValueError, match=f"their {field} differs"):
        compare_methods([a, b], higher_is_better=True)


def test_closer_to_real_compares_distance_from_the_real_videos():
    rng = np.random.default_rng(5)
    real = rng.gamma(4, 1, 24)
    near, far = real * rng.normal(1.05, 0.05, 24), real * rng.normal(0.5, 0.05, 24)
    a, b = _scored("near", near, real_values=real), _scored("far", far, real_values=real)
    (d,) = compare_methods([a, b], higher_is_better=True, statistic="closer-to-real")
    assert d.estimate < 0 and d.high < 0 and d.better == "near"


def test_distribution_difference_uses_one_resample_for_both_methods():
    rng = np.random.default_rng(6)
    dim, n = 3, 40
    real = rng.normal(size=(n, dim))
    near, far = rng.normal(0.1, 1, size=(n, dim)), rng.normal(1.0, 1, size=(n, dim))
    ids = np.arange(n)
    est, iv, p = distribution_difference(real, ids, near, ids, far, ids, resamples=300, seed=0)
    ones = np.ones(n)
    expected = (frechet_distance_weighted(near, ones, real, ones)
                - frechet_distance_weighted(far, ones, real, ones))
    assert est == pytest.approx(expected) and iv.high < 0 and p < 0.05
    same, iv_same, _ = distribution_difference(real, ids, near, ids, near.copy(), ids, resamples=100, seed=0)
    assert same == 0 and iv_same.low <= 0 <= iv_same.high  # shared resample: exactly 0 every time
    est_k, iv_k, _ = distribution_difference(real, ids, near, ids, far, ids, distance="kernel", resamples=200)
    assert est_k < 0 and iv_k.high < 0
    with pytest.raises(ValueError, match="share their test ids"):
        distribution_difference(real, ids, near, ids, far[:30], ids[:30])


def test_load_per_video_takes_identity_from_the_leaderboard(tmp_path):
    path = tmp_path / "per_video.csv"
    lines = ["method,metric,family,variant,video,value,real_value"]
    for m, shift in (("a", 0.0), ("b", 1.0)):
        lines += [f"{m},psnr,paired,correct,{i:03d},{20 + i + shift},"for i in range(8)]
        lines += [f"{m},l1,paired,correct,{i:03d},0.1,"for i in range(8)]
    path.write_text("\n".join(lines) + "\n")
    rows = pd.DataFrame([{"method": m, "metric": "psnr", "real": "/data/test", "protocol": '{"name": "psnr"}',
                          "extractor_sha256": "weight-free:paired"} for m in ("a", "b")])
    scores = load_per_video(path, rows, "psnr")
    assert [s.method for s in scores] == ["a", "b"] and scores[1].per_video["004"] == 25.0
    assert len(scores[0].per_video) == 8 and scores[0].real == "/data/test"
    (d,) = compare_methods(scores, higher_is_better=True, resamples=2000)
    assert d.estimate == pytest.approx(-1.0) and d.better == "b"
    with pytest.raises(ValueError, match="no leaderboard row"):
        load_per_video(path, rows, "l1")
