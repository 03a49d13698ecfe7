"""The Python API on arrays (`ffbench.metrics.fvd`, ..., `VideoMetrics`) gives `ffbench eval`'s values.

The videos are written with `write_video` and read back with `read_video`, so the arrays are exactly what
`eval` decodes from the files; each value, interval, N and flag must then be eval's.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import ffbench.metrics as api
from ffbench.metrics.evaluate import evaluate
from ffbench.metrics.protocols import PROTOCOLS
from ffbench.metrics.weights import WeightsError
from ffbench.video import read_video, write_video

SMALL = {  # reduced network inputs keep the test fast (as in test_metrics_evaluate.py)
    "fvd": PROTOCOLS["fvd"].replace(size=(64, 64)),
    "kvd": PROTOCOLS["kvd"].replace(size=(64, 64)),
    "fvd-stylegan-v": PROTOCOLS["fvd-stylegan-v"].replace(size=(64, 64)),
    "is": PROTOCOLS["is"].replace(size=(75, 75)),
}
NETWORK = ("fvd", "kvd", "fvd-stylegan-v", "is")
WEIGHT_FREE = ("fvmd-flow", "psnr", "ssim", "l1", "motion", "colour-drift", "flicker")
BOOT = 50


def disk_video(seed: int, frames: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A disk moving over a flat background; colours, size and path from `seed`."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    bg, fg = rng.uniform(40, 200, 3), rng.uniform(0, 255, 3)
    radius = rng.uniform(5, 10)
    x0, y0, (vx, vy) = rng.uniform(10, width - 10), rng.uniform(10, height - 10), rng.uniform(-2, 2, 2)
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        inside = ((xx - (x0 + vx * t) % width) ** 2 + (yy - (y0 + vy * t) % height) ** 2) < radius ** 2
        out[t] = np.where(inside[..., None], fg, bg)
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """6 real videos of 20 frames and 6 generated of 18 frames (64x48), eval's rows and the decoded arrays."""
    root = tmp_path_factory.mktemp("api")
    (root / "real").mkdir()
    (root / "fake").mkdir()
    for i in range(6):
        write_video(root / "real" / f"v{i}.mp4", disk_video(i, 20), 25)
        write_video(root / "fake" / f"v{i}.mp4", disk_video(100 + i, 18), 25)
    rows = evaluate(",".join(NETWORK + WEIGHT_FREE), root / "real", root / "fake", i3d="random",
                    inception="random", protocols=SMALL, recal_items=16, bootstrap=BOOT)
    real = [read_video(p) for p in sorted((root / "real").iterdir())]  # a list: any lengths
    fake = np.stack([read_video(p) for p in sorted((root / "fake").iterdir())])  # (N, T, H, W, 3)
    i3d = api.build_extractor("fvd", "random", real, protocol=SMALL["fvd"], recal_items=16)
    inception = api.build_extractor("is", "random", real, protocol=SMALL["is"], recal_items=16)
    return {"rows": {r.metric: r for r in rows}, "real": real, "fake": fake, "i3d": i3d,
            "inception": inception}


def assert_same(score, row, label: bool = True) -> None:
    assert score.metric == row.metric
    assert score.value == row.value, row.metric
    np.testing.assert_equal([score.ci_low, score.ci_high], [row.ci_low, row.ci_high], row.metric)  # NaN: none
    assert (score.n_real, score.n_fake) == (row.n_real, row.n_fake), row.metric
    assert list(score.flags) == row.flags, row.metric
    np.testing.assert_equal([score.real_value, score.ratio], [row.real_value, row.ratio])
    assert score.per_video == tuple(row.per_video.values()), row.metric
    if label:
        assert score.extractor == row.extractor, row.metric


def test_network_metrics_on_arrays_equal_eval(world):
    rows, real, fake = world["rows"], world["real"], world["fake"]
    # The shared extractors remember outputs of earlier tests' calls, which may have run other batch splits
    # (the streaming tests): exact equality holds for outputs computed on eval's batches, so start clean.
    world["i3d"].memo.clear()
    world["inception"].memo.clear()
    # A built (random-init, BatchNorm re-estimated on the real arrays) extractor, as in a training loop.
    for name, fn in (("fvd", api.fvd), ("kvd", api.kvd), ("fvd-stylegan-v", api.fvd_stylegan_v)):
        score = fn(real, fake, world["i3d"], protocol=SMALL[name], bootstrap=BOOT, return_result=True)
        assert_same(score, rows[name])
        assert score.random_init and "random-init" in score.flags
    assert_same(api.is_(fake, world["inception"], protocol=SMALL["is"], bootstrap=BOOT, return_result=True),
                rows["is"])
    # extractor="random": built and re-estimated inside the call, as eval does; the plain call is a float.
    value = api.fvd(real, fake, "random", protocol=SMALL["fvd"], recal_items=16, bootstrap=0)
    assert isinstance(value, float) and value == rows["fvd"].value
    assert rows["fvd"].flags[0] == "random-init" and any(f.startswith("N<=dim") for f in rows["fvd"].flags)


def test_weight_free_metrics_on_arrays_equal_eval(world):
    rows, real, fake = world["rows"], world["real"], world["fake"]
    for name in WEIGHT_FREE:
        fn = getattr(api, name.replace("-", "_"))
        assert_same(fn(real, fake, bootstrap=BOOT, return_result=True), rows[name])
    assert np.isfinite(rows["motion"].ratio) and rows["motion"].real_value > 0


def test_float_tensors_are_rounded_like_the_writer(world):
    real, fake = world["real"], world["fake"]
    as_float = torch.from_numpy(fake).double() / 255.0  # exact values k / 255 round back to k
    assert api.psnr(real, as_float, bootstrap=0) == api.psnr(real, fake, bootstrap=0)
    nudged = ((torch.from_numpy(fake).float() + 0.4) / 255.0).clamp(max=1.0)  # rounds to the same frames
    assert api.l1(real, nudged, bootstrap=0) == api.l1(real, fake, bootstrap=0)
    assert api.l1(real, torch.from_numpy(fake), bootstrap=0) == api.l1(real, fake, bootstrap=0)


def streamed(world, names, splits_real, splits_fake, **kwargs):
    metrics = api.VideoMetrics(names, i3d=world["i3d"],
                               inception=world["inception"], protocols=SMALL, bootstrap=BOOT, **kwargs)
    for r, f in zip(splits_real, splits_fake, strict=True):
        metrics.update(real=None if r is None else world["real"][r], fake=None if f is None else
                       world["fake"][f])
    return metrics


def test_streaming_equals_eval_and_does_not_depend_on_the_batch_split(world):
    rows = world["rows"]
    whole = streamed(world, ["fvd", "kvd", "is", "fvmd-flow", "motion", "flicker"], [slice(None)],
                     [slice(None)])
    scores = whole.compute()
    assert list(scores) == ["fvd", "kvd", "is", "fvmd-flow", "motion", "flicker"]
    for name, score in scores.items():  # one update: the network sees eval's batches, so exactly eval's
        assert_same(score, rows[name], label=False)
    assert repr(whole.compute()) == repr(scores)  # compute only reads the state (repr: NaN bounds compare)
    world["i3d"].memo.clear()  # nothing remembered from the first pass: the split run recomputes every clip
    # Uneven batches, the sides apart and in another order; the diagnostics' size is given up front.
    split = streamed(world, ["fvd", "kvd", "fvmd-flow", "motion", "flicker"],
                     [slice(0, 4), None, slice(4, 6), None], [None, slice(0, 1), slice(1, 3), slice(3, 6)],
                     analysis=(18, 48, 64))
    for name, score in split.compute().items():
        row = rows[name]
        if name in ("fvd", "kvd"):
            # I3D's float32 output can change in the last bit with the batch it runs in (about 1e-7); the
            # Frechet distance of 6 clips in 400 dimensions is ill-conditioned and carries that to ~1e-6.
            np.testing.assert_allclose([score.value, score.ci_low, score.ci_high],
                                       [row.value, row.ci_low, row.ci_high], rtol=1e-5, atol=1e-9)
            assert (score.n_real, score.n_fake, list(score.flags)) == (row.n_real, row.n_fake, row.flags)
        else:
            assert_same(score, row, label=False)
    split.reset()
    with pytest.raises(ValueError, match="no fake videos seen"):
        split.compute()


def test_streaming_paired_metrics(world):
    rows, real, fake = world["rows"], world["real"], world["fake"]
    metrics = api.VideoMetrics("psnr,ssim,l1", bootstrap=BOOT)
    for part in (slice(0, 2), slice(2, 3), slice(3, 6)):
        metrics.update(real=real[part], fake=torch.from_numpy(fake[part]))
    for name, score in metrics.compute().items():
        assert_same(score, rows[name])
    with pytest.raises(ValueError, match="pass real= and fake= together"):
        metrics.update(fake=fake)
    with pytest.raises(ValueError, match="fake: 5 videos but real has 6"):
        metrics.update(real=real, fake=fake[:5])


def test_bad_inputs_name_the_argument(world):
    real, fake = world["real"], world["fake"]
    cases = [
        (lambda: api.psnr(real, fake.astype(np.int16)), r"fake\[0\]: dtype int16"),
        (lambda: api.psnr(real, fake[0]), r"fake: expected a batch .*add a batch axis"),
        (lambda: api.psnr(real, np.zeros((6, 18, 48, 64, 4), np.uint8)), r"fake\[0\]: .*4 channels"),
        (lambda: api.psnr(real, torch.zeros(6, 18, 3, 48, 64)), r"fake\[0\]: .*channels first"),
        (lambda: api.psnr(real, fake[:5]), "fake: 5 videos but real has 6"),
        (lambda: api.psnr(real, fake / 100.0), r"fake\[0\]: float values must lie in \[0, 1\]"),
        (lambda: api.psnr(real, fake, frames="x"), "frames="),
        (lambda: api.fvd(real, fake[:, :8], world["i3d"]), r"fake\[0\]: 8 frames; .* at least 9"),
        (lambda: api.fvd(None, fake, world["i3d"]), "real: missing"),
        (lambda: api.fvd(real, fake, world["inception"]), "extractor: fvd needs an i3d extractor"),
        (lambda: api.motion(real, [fake[0], fake[1, :10]]), r"fake\[1\]: 10 frames .* share length"),
        (lambda: api.VideoMetrics("fvd", extractor="random"), "extractor='random'.*build_extractor"),
        (lambda: api.VideoMetrics("fvd-cdfvd"), "no streaming form"),
        (lambda: api.VideoMetrics("fvd,nope"), "unknown metric 'nope'"),
        (lambda: api.VideoMetrics("motion").update(real=real), "analysis="),
        (lambda: api.build_extractor("fvd", "random"), "real: a random i3d extractor"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(WeightsError, match="no such file"):  # LPIPS never runs without its backbone
        api.lpips(real, fake, vgg="/nonexistent/vgg16.pth")


def test_import_stays_light():
    from ffbench.metrics import VideoMetrics, functional, i3d, is_, streaming

    assert functional.MIN_I3D_FRAMES == i3d.MIN_FRAMES
    assert is_ is functional.is_ and VideoMetrics is streaming.VideoMetrics
    code = "import sys, ffbench.metrics; assert 'torch' not in sys.modules, 'ffbench.metrics loads torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
