"""Why the cpu model predicts v: the same output error costs an epsilon model's samples more than a v
model's; and bench/quality.py's scores against independent formulas on a tiny pipeline."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from test_fashionflow_helpers import tiny_pipeline  # noqa: F401

from ffbench.models.fashionflow import make_noise_scheduler, sample_keyframes


class GainErrorDenoiser(torch.nn.Module):
    """The optimal denoiser of unit-variance Gaussian latents, E[x0 | x_t] = sqrt(ab) x_t (so the optimal
    epsilon is sqrt(1 - ab) x_t and the optimal v is 0), plus `err` x_t: a model that passes its input
    through with a slightly wrong gain, the error a small network makes when it must learn the identity."""

    def __init__(self, alphas_cumprod: torch.Tensor, prediction_type: str, err: float):
        super().__init__()
        self.ab, self.err = alphas_cumprod.double(), err
        self.config = SimpleNamespace(stage="keyframes", num_frames=6, prediction_type=prediction_type)
        self.replaces_first_frame, self.dtype = True, torch.float32

    def forward(self, sample, t, cond, clip):
        x = sample.double()
        best = (1 - self.ab[int(t)]).sqrt() * x if self.config.prediction_type == "epsilon" else 0 * x
        return (best + self.err * x).float()


@pytest.mark.parametrize(("kind", "steps"), [("ddim", 50), ("dpmpp", 25)])
def test_the_same_output_error_costs_epsilon_samples_more_than_v_samples(kind, steps):
    # exact denoisers sample std 1 (the data's); with a gain error of 0.1 in the output measured:
    # epsilon 0.62 (ddim-50) / 0.59 (dpmpp-25), v 0.85 / 0.87
    sched = make_noise_scheduler("cosine", kind)
    std = {}
    for prediction_type in ("epsilon", "v_prediction"):
        for err in (0.0, 0.1):
            model = GainErrorDenoiser(sched.alphas_cumprod, prediction_type, err)
            out = sample_keyframes(model, sched, torch.zeros(1, 4, 8, 6), None, 6, steps,
                                   generator=torch.Generator().manual_seed(0))
            std[prediction_type, err] = out[:, :, 1:].std().item()
    assert all(abs(std[p, 0.0] - 1) < 0.05 for p in ("epsilon", "v_prediction")), std
    assert std["v_prediction", 0.1] > 0.8 and std["epsilon", 0.1] < std["v_prediction", 0.1] - 0.15, std


def _quality_module():
    path = Path(__file__).resolve().parents[1] / "bench" / "quality.py"
    spec = importlib.util.spec_from_file_location("bench_quality", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_quality"] = module
    spec.loader.exec_module(module)
    return module


def test_quality_scores_match_the_formulas_and_the_references_rank_as_expected():
    from ffbench.encoders import frames_to_tensor, vae_encode
    from ffbench.video import encode_video

    quality = _quality_module()
    a = np.full((4, 5, 3), 100, np.uint8)
    b = a.copy()
    b[0, 0, 0] = 110  # one value off by 10 of 60: MSE 100/60
    assert quality.psnr(b, a) == pytest.approx(10 * np.log10(255**2 / (100 / 60)))
    assert quality.l1(b, a) == pytest.approx(10 / 60 / 255)

    pipe = tiny_pipeline(interpolator=False)
    pipe.set_progress_bar_config(disable=True)
    height, width = pipe.frame_size
    # a still video: copying frame 0 is exact, so it must rank first and the noise last
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:, : width // 2] = (200, 80, 40)
    video = np.repeat(frame[None], 4, axis=0)
    png = io.BytesIO()
    Image.fromarray(frame).save(png, format="PNG")
    latents = vae_encode(pipe.vae, frames_to_tensor(video[None]))[0].permute(1, 0, 2, 3).numpy()
    npy = io.BytesIO()
    np.save(npy, latents.astype(np.float16))
    sample = {"key": "still", "cond.png": png.getvalue(), "mp4": encode_video(video, fps=30.0),
              "latents.npy": npy.getvalue()}
    scores = quality.score_video(pipe, sample, frames=4, steps=2, seed=0)
    assert set(scores) == set(quality.REFERENCES) - {"reversed"}  # "still" is no synthetic video
    for name, table in scores.items():
        assert table.shape == (3, 2) and np.isfinite(table).all(), name
    psnr = {name: table[:, 0].mean() for name, table in scores.items()}
    assert psnr["static"] > 35  # only H.264 rounding separates it from the real frames
    assert psnr["noise"] < 12 and psnr["noise"] < min(psnr["model"], psnr["vae-recon"])


def test_quality_diagnostics_see_motion_colour_and_detail_and_the_sheet_has_real_and_generated_rows():
    quality = _quality_module()
    rng = np.random.default_rng(0)
    texture = (rng.random((48, 72)) > 0.5).astype(np.uint8) * 150 + 50
    frame = np.repeat(texture[:, :, None], 3, axis=2)
    still = np.repeat(frame[None, :, 8:56], 6, axis=0)
    moving = np.stack([frame[:, 8 - t: 56 - t] for t in range(6)])  # shifts 1 px per frame
    tinted = still.copy()
    tinted[1:, :, :, 0] = np.clip(tinted[1:, :, :, 0].astype(int) + 60, 0, 255)
    blurred = still.copy()
    blurred[1:] = still[1:].mean(axis=(1, 2), keepdims=True).astype(np.uint8)  # detail gone after frame 0
    d_still, d_moving = quality.diagnostics(still), quality.diagnostics(moving)
    d_tint, d_blur = quality.diagnostics(tinted), quality.diagnostics(blurred)
    # eval's definitions: detail-drift is the gradient energy relative to frame 0 (1 = kept)
    assert d_still["motion"] < 0.05 and d_still["colour-drift"] < 1e-6
    assert abs(d_still["detail-drift"] - 1) < 1e-6
    assert 0.5 < d_moving["motion"] < 1.5
    assert d_tint["colour-drift"] > 5 and d_tint["motion"] < 0.5
    assert d_blur["detail-drift"] < 0.1
    sheet = quality.contact_sheet([("a", moving, still), ("b", still, moving)], frames=(0, 3, 7))
    h, w = still.shape[1:3]
    # frame 7 does not exist in a 6-frame video: 2 columns; 2 videos x (real, generated) rows
    assert sheet.size[0] >= 2 * w and sheet.size[0] < 3 * w + 70
    assert sheet.size[1] >= 4 * h


def test_the_reversed_reference_keeps_the_first_frame_and_moves_the_other_way():
    from ffbench.synthetic import render_video, sample_video
    from ffbench.synthetic.dataset import video_seed

    quality = _quality_module()
    real = render_video(video_seed(3, "test", 1), 9, 64, 48)
    backwards = quality.reversed_video("synth_test_0001", 3, real)
    assert backwards.shape == real.shape and backwards.dtype == np.uint8
    assert np.array_equal(backwards[0], real[0])  # the same person in the same pose at t = 0
    # then a different future: the later frames depart from the real ones
    assert np.abs(backwards[8].astype(int) - real[8]).mean() > 0.5
    # the real video's past played forwards: the reversed pose at t is the real one at -t
    motion = quality.Backwards(sample_video(video_seed(3, "test", 1))[1])
    assert np.allclose(motion.pose(np.array([0.2])).theta, motion.motion.pose(np.array([-0.2])).theta)
    assert quality.reversed_video("my_own_video", 3, real) is None
    assert quality.reversed_video("synth_test_0001", None, real) is None
