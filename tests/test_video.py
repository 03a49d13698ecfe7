"""Video I/O: round trips, bytes vs path, frame-accurate indexing, and the clear error on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ffbench.video import VideoError, encode_video, probe_video, read_video, write_gif, write_video

# x264 at crf 18, yuv420p: measured mean absolute error 4.3 levels on this clip, most of it from 4:2:0
# chroma subsampling at the square's sharp colour edges (crf 10 still gives 3.4). A broken colour
# conversion or a dropped/duplicated frame gives tens of levels.
MAE_BOUND = 6.0


def smooth_clip(frames: int = 24, height: int = 48, width: int = 64) -> np.ndarray:
    """A moving gradient with a bright square: smooth enough to compress the way real footage does."""
    t = np.arange(frames)[:, None, None]
    y = np.arange(height)[None, :, None]
    x = np.arange(width)[None, None, :]
    clip = np.zeros((frames, height, width, 3), np.uint8)
    clip[..., 0] = (128 + 100 * np.sin((x + 2 * t) / 9.0)).astype(np.uint8)
    clip[..., 1] = (128 + 100 * np.cos((y - t) / 7.0)).astype(np.uint8)
    clip[..., 2] = 90
    for i in range(frames):
        clip[i, 10:22, 5 + i : 17 + i] = 230
    return clip


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return smooth_clip()


@pytest.fixture(scope="module")
def mp4(tmp_path_factory, clip) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", clip, fps=30)


def test_round_trip_keeps_count_size_and_pixels(mp4, clip):
    decoded = read_video(mp4)
    assert decoded.shape == clip.shape
    assert decoded.dtype == np.uint8
    mae = np.abs(decoded.astype(np.int16) - clip).mean()
    assert mae < MAE_BOUND, f"mean abs error {mae:.2f} >= {MAE_BOUND}"
    info = probe_video(mp4)
    assert (info.num_frames, info.height, info.width) == clip.shape[:3]
    assert info.fps == pytest.approx(30.0)


@pytest.mark.parametrize("length", [1, 7, 61])
def test_any_length(tmp_path, length):
    frames = smooth_clip(frames=length, height=32, width=32)
    assert read_video(write_video(tmp_path / "v.mp4", frames)).shape[0] == length


def test_bytes_and_path_reads_agree(mp4):
    from_path = read_video(mp4)
    from_bytes = read_video(mp4.read_bytes())
    assert np.array_equal(from_path, from_bytes)


def test_frame_accurate_indexing(mp4):
    every = read_video(mp4)
    picked = read_video(mp4, [17, 3, 3, 23, 0])
    assert np.array_equal(picked, every[[17, 3, 3, 23, 0]])


def test_encode_video_is_deterministic(clip):
    assert encode_video(clip) == encode_video(clip)


def test_gif_round_trip_keeps_frame_count(tmp_path, clip):
    frozen = np.repeat(clip[:1], 6, axis=0)  # identical frames must not be merged
    gif = write_gif(tmp_path / "f.gif", frozen, fps=10)
    assert read_video(gif).shape == frozen.shape
    assert probe_video(gif).num_frames == 6


def test_write_is_atomic_on_bad_input(tmp_path, clip):
    target = tmp_path / "keep.mp4"
    write_video(target, clip)
    before = target.read_bytes()
    with pytest.raises(ValueError, match="even height and width"):
        write_video(target, clip[:, :47])
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]


@pytest.mark.parametrize("problem", ["missing", "empty", "truncated", "html", "random-bytes", "directory"])
def test_bad_files_raise_clear_error(tmp_path, mp4, problem):
    data = mp4.read_bytes()
    bad = tmp_path / f"{problem}.mp4"
    if problem == "empty":
        bad.write_bytes(b"")
    elif problem == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif problem == "html":
        bad.write_bytes(b"<!DOCTYPE html><html><body>404 Not Found</body></html>")
    elif problem == "random-bytes":
        bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif problem == "directory":
        bad.mkdir()
    for call in (lambda: probe_video(bad), lambda: read_video(bad)):
        with pytest.raises(VideoError) as err:
            call()
        assert str(bad) in str(err.value)


def test_truncated_bytes_raise_clear_error(mp4):
    data = mp4.read_bytes()
    with pytest.raises(VideoError, match="bytes in memory"):
        read_video(data[: len(data) // 3])


def test_out_of_range_index_names_the_file(mp4):
    with pytest.raises(VideoError, match="out of range"):
        read_video(mp4, [0, 99])


@pytest.mark.parametrize("width", [16, 24, 48, 72, 96])
def test_widths_decord_mis_sizes_still_read(tmp_path, width):
    frames = smooth_clip(frames=5, height=32, width=width)
    decoded = read_video(write_video(tmp_path / "w.mp4", frames))
    assert decoded.shape == frames.shape
    assert probe_video(tmp_path / "w.mp4").width == width


def test_the_same_frames_encode_to_the_same_bytes_every_time(tmp_path):
    # Before x264 was kept off its AVX-512 kernels (issue 9), these clips came out different on most encodes.
    import hashlib

    from ffbench.synthetic.dataset import video_seed
    from ffbench.synthetic.render import render_video

    for index in (0, 1):
        frames = render_video(video_seed(0, "test", index), 20, 128, 96)
        digests = set()
        for i in range(8):
            churn = [np.random.default_rng(i).bytes(4096 * (j + 1)) for j in range(40)]  # dirty the heap
            digests.add(hashlib.sha256(write_video(tmp_path / f"{i}.mp4", frames).read_bytes()).hexdigest())
            del churn
        assert len(digests) == 1, f"video {index}: {len(digests)} different encodings of the same frames"
