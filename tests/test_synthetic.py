"""The synthetic fashion video generator: determinism, motion, background, geometry and the dataset folder."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ffbench.synthetic import (  # noqa: E402
    PATTERN_KINDS,
    make_dataset,
    render_clip,
    render_video,
    sample_video,
)
from ffbench.synthetic import render as render_module  # noqa: E402
from ffbench.synthetic.canvas import FOOT_Y  # noqa: E402
from ffbench.synthetic.dataset import video_seed  # noqa: E402
from ffbench.synthetic.figure import HEAD_Y, WAIST_Y  # noqa: E402

H, W = 128, 96


def still(motion, **changes):
    """The motion with every movement switched off, then `changes` applied."""
    quiet = dict(turn_rate=0.0, turn_wobble=0.0, step_amp=0.0, sway_amp=0.0, arm_amp=(0.0, 0.0),
                 swing_amp=0.0, elbow_amp=0.0)
    return dataclasses.replace(motion, **{**quiet, **changes})


def background(look, height: int, width: int) -> np.ndarray:
    """The studio background computed independently of the renderer: (H, W, 3) in 0..255."""
    top, bottom = np.array(look.background_top), np.array(look.background_bottom)
    rows = top + (bottom - top) * (np.arange(height) / (height - 1))[:, None]
    return np.broadcast_to(255 * rows[:, None, :], (height, width, 3))


def screen_row(look, y: float, height: int = H) -> int:
    """Pixel row of body height y for a figure that neither shifts nor sways."""
    return int((FOOT_Y - (FOOT_Y - y) * look.scale) * height)


def test_same_seed_same_bytes_and_seeds_differ():
    a = render_video(3, 6, 64, 48)
    b = render_video(3, 6, 64, 48)
    c = render_video(4, 6, 64, 48)
    assert a.dtype == np.uint8 and a.shape == (6, 64, 48, 3)
    assert a.tobytes() == b.tobytes()
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 2.0


@pytest.mark.parametrize("frames,height,width", [(1, 32, 24), (3, 48, 80), (2, 130, 97), (70, 16, 12)])
def test_any_resolution_and_length(frames, height, width):
    video = render_video(11, frames, height, width)
    assert video.shape == (frames, height, width, 3) and video.dtype == np.uint8
    # A person is there at every size: some pixels differ strongly from the background.
    look, _ = sample_video(11)
    figure = np.abs(video.astype(float) - background(look, height, width)).max(-1) > 25
    assert figure.mean(axis=(1, 2)).min() > 0.03


def test_chunked_rendering_matches_one_pass(monkeypatch):
    whole = render_video(5, 12, 40, 32)
    monkeypatch.setattr(render_module, "_CHUNK_PIXELS", 40 * 32 * 5)  # chunks of 5 frames
    assert render_video(5, 12, 40, 32).tobytes() == whole.tobytes()


def test_figure_is_a_standing_person_and_border_is_still_background():
    for seed in range(4):
        look, _ = sample_video(seed)
        video = render_video(seed, 64, H, W).astype(float)
        diff = np.abs(video - background(look, H, W)[None]).max(-1)  # (F, H, W)
        figure = diff > 12
        rows = np.nonzero(figure.any(axis=(0, 2)))[0]
        # Head near the top, feet near the bottom, much taller than wide: a standing figure, not a blob.
        assert rows[0] < 0.2 * H and rows[-1] > 0.85 * H
        cols = np.nonzero(figure.any(axis=(0, 1)))[0]
        assert cols[-1] - cols[0] < 0.75 * (rows[-1] - rows[0])
        # The studio never changes where the figure never reaches: top strip and side strips.
        border = np.zeros((H, W), dtype=bool)
        border[: int(0.05 * H)] = True
        border[:, : int(0.05 * W)] = True
        border[:, -int(0.05 * W):] = True
        assert diff[:, border].max() <= 1.0
        assert np.abs(np.diff(video[:, border], axis=0)).max() == 0


def test_half_turn_shows_the_back():
    look, motion = sample_video(2)
    look = dataclasses.replace(look, hair=(0.1, 0.07, 0.05), skin=(0.9, 0.72, 0.6))
    turn = still(motion, turn_start=0.0, turn_rate=np.pi)  # half a turn per second: frame 30 shows the back
    video = render_clip(look, turn, 31, H, W).astype(float)
    change = np.abs(video[30] - video[0]).mean()
    assert change > 1.5, change
    # Nothing else moves: the same pose without the turn is frozen.
    frozen = render_clip(look, still(motion, turn_start=0.0), 31, H, W)
    assert np.array_equal(frozen[0], frozen[30])
    # The centre of the head is skin from the front and hair from the back.
    row, colm = screen_row(look, HEAD_Y + 0.012), W // 2
    skin, hair = 255 * np.array(look.skin), 255 * np.array(look.hair)
    front, back = video[0, row, colm], video[30, row, colm]
    assert np.abs(front - skin).max() < 20
    assert np.abs(back - hair).max() < 40 and np.abs(back - skin).max() > 100
    # The background border is unchanged by the turn.
    assert np.abs(video[30, :6] - video[0, :6]).max() == 0


def test_body_narrows_at_the_side_view():
    look, motion = sample_video(0)
    row = screen_row(look, WAIST_Y)
    widths = []
    for angle in (0.0, np.pi / 2):
        frame = render_clip(look, still(motion, turn_start=angle), 1, H, W)[0].astype(float)
        line = np.abs(frame[row] - background(look, H, W)[row]).max(-1)
        inside = np.nonzero(line > 30)[0]
        widths.append(inside[-1] - inside[0] + 1)
    assert widths[1] < 0.8 * widths[0], widths


def test_edges_are_antialiased_like_supersampling():
    """Signed-distance coverage should approximate an 8x8 supersampled box filter far better than
    sampling each pixel at its centre."""
    look, motion = sample_video(3)
    assert look.fabric.kind == "plain"  # patterns fade to their mean below two pixels, by design
    pose = still(motion, turn_start=0.7)
    small = render_clip(look, pose, 1, H, W)[0].astype(float)
    big = render_clip(look, pose, 1, 8 * H, 8 * W)[0].astype(float)
    box = big.reshape(H, 8, W, 8, 3).mean(axis=(1, 3))
    point = big[4::8, 4::8]
    err_aa, err_point = np.abs(small - box).mean(), np.abs(point - box).mean()
    assert err_aa < 0.5 and err_aa < 0.4 * err_point, (err_aa, err_point)


def test_pattern_variety_and_patterns_show():
    kinds = [sample_video(seed)[0].fabric.kind for seed in range(40)]
    assert set(kinds) == set(PATTERN_KINDS)
    assert max(kinds.count(k) for k in PATTERN_KINDS) < 25
    # A patterned dress has far more texture than the same dress in plain fabric.
    look, motion = sample_video(1)
    assert look.fabric.kind == "stripes"
    plain = dataclasses.replace(look, fabric=dataclasses.replace(look.fabric, kind="plain"), belt=None)
    striped = dataclasses.replace(look, belt=None)
    box = (slice(screen_row(look, WAIST_Y + 0.03), screen_row(look, look.hem_y - 0.03)),
           slice(W // 2 - 3, W // 2 + 3))
    spread = [render_clip(lk, still(motion), 1, H, W)[0][box].astype(float).std(axis=(0, 1)).mean()
              for lk in (plain, striped)]
    assert spread[1] > 3 * spread[0] + 5, spread


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="seed"):
        render_video(-1, 4, 32, 24)
    with pytest.raises(ValueError, match="frames"):
        render_video(0, 0, 32, 24)
    with pytest.raises(ValueError, match="height"):
        render_video(0, 4, 4, 24)
    with pytest.raises(ValueError, match="height"):
        make_dataset("/nonexistent/never", n_train=1, n_test=0, height=33)


def test_make_dataset_writes_lists_and_resumes(tmp_path):
    from ffbench.video import probe_video, read_video

    # 48x32: decord cannot read some narrow widths (24, 48) that x264 writes fine.
    kwargs = dict(n_train=3, n_test=2, frames=6, height=48, width=32, seed=7, progress=False)
    first = make_dataset(tmp_path, workers=2, **kwargs)
    assert (first.written, first.skipped) == (5, 0)
    train = (tmp_path / "fashion_train.txt").read_text().splitlines()
    test = (tmp_path / "fashion_test.txt").read_text().splitlines()
    assert train == [f"videos/synth_train_{i:04d}.mp4" for i in range(3)]
    assert test == [f"videos/synth_test_{i:04d}.mp4" for i in range(2)]
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == sorted(
        rel.split("/")[1] for rel in train + test)
    assert first.bytes == sum((tmp_path / rel).stat().st_size for rel in train + test)
    info = probe_video(tmp_path / train[0])
    assert (info.num_frames, info.height, info.width, info.fps) == (6, 48, 32, 30.0)
    # The file holds the video its seed renders (up to H.264 loss), and train/test seeds differ.
    decoded = read_video(tmp_path / test[1]).astype(float)
    assert np.abs(decoded - render_video(video_seed(7, "test", 1), 6, 48, 32)).mean() < 4.0
    assert video_seed(7, "train", 1) != video_seed(7, "test", 1)

    # Second run: nothing to do. Then a truncated file is detected and rewritten alone.
    stamps = {rel: (tmp_path / rel).stat().st_mtime_ns for rel in train + test}
    second = make_dataset(tmp_path, workers=1, **kwargs)
    assert (second.written, second.skipped) == (0, 5)
    assert stamps == {rel: (tmp_path / rel).stat().st_mtime_ns for rel in train + test}
    broken = tmp_path / train[1]
    broken.write_bytes(broken.read_bytes()[:300])
    third = make_dataset(tmp_path, workers=1, **kwargs)
    assert (third.written, third.skipped) == (1, 4)
    assert probe_video(broken).num_frames == 6
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


def test_vae_frames_are_extra_looks_in_neither_split():
    from ffbench.synthetic.dataset import vae_frames, video_seed

    frames = vae_frames(0, looks=5, height=32, width=24)
    assert frames.shape == (15, 32, 24, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, vae_frames(0, looks=5, height=32, width=24))  # seeded
    assert not np.array_equal(frames, vae_frames(1, looks=5, height=32, width=24))
    assert not np.array_equal(frames[0], frames[1])  # three moments of each look
    split_firsts = [render_video(video_seed(0, split, i), 1, 32, 24)[0] for split in ("train", "test")
                    for i in range(5)]
    assert not any(np.array_equal(frames[3 * k], f) for k in range(5) for f in split_firsts)
    assert vae_frames(0, looks=0, height=32, width=24).shape == (0, 32, 24, 3)
