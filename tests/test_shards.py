"""Shard writing: resize policy, sample contents, reproducible shards, manifest verification, tar safety."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import numpy as np
import pytest

from ffbench.datasets.clips import area_downsample, crop_box, resize_frames
from ffbench.datasets.features import FeatureEncoders, build_sample
from ffbench.datasets.manifest import MANIFEST_VERSION, verify_split
from ffbench.datasets.safety import UnsafeTarError, check_member_name
from ffbench.datasets.shards import pack_shards, read_sample_file, sample_key, write_sample_file
from ffbench.fileio import write_json_atomic


def toy_encoders(downsample: int = 4) -> FeatureEncoders:
    """Stand-in encoders whose outputs are known functions of the pixels."""

    def latents(frames):
        low = area_downsample(frames, downsample).astype(np.float32) / 127.5 - 1.0  # (N, 3, h, w)
        return np.concatenate([low, low.mean(axis=1, keepdims=True)], axis=1)  # (N, 4, h, w)

    def tokens(frames):
        level = frames.reshape(len(frames), -1).mean(axis=1) / 255.0  # (N,)
        return np.repeat(level[:, None, None], 5, axis=1).repeat(8, axis=2)  # (N, 5, 8)

    identities = {"vae": {"fingerprint": "toy-vae"}, "clip": {"fingerprint": "toy-clip"}}
    return FeatureEncoders(latents, tokens, identities)


def level_video(base: int, frames: int, height: int = 60, width: int = 50) -> np.ndarray:
    """Uniform grey frames whose level encodes the frame index: frame t has value base + 3 t."""
    levels = (base + 3 * np.arange(frames)).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (frames, height, width, 3)).copy()


def make_sample(vid: str, frames: np.ndarray, clip_all_frames: bool = True) -> dict:
    native = {"width": frames.shape[2], "height": frames.shape[1], "fps": 30.0, "frames": len(frames)}
    return build_sample(vid, frames, split="train", url=f"videos/{vid}.mp4", native=native, height=48,
                        width=40, downsample=4, resize="stretch", fps=30.0, encoders=toy_encoders(),
                        clip_all_frames=clip_all_frames)


def test_crop_box_keeps_the_target_aspect_centred():
    assert crop_box(480, 640, 640, 512) == (0, 128, 480, 384)  # landscape: width 480 * 512 / 640
    assert crop_box(1000, 500, 640, 512) == (187, 0, 625, 500)  # too tall: trim top and bottom
    assert crop_box(640, 512, 640, 512) == (0, 0, 640, 512)


def test_resize_stretch_and_crop_differ_as_specified():
    # Left third red, middle green, right third blue; crop to a narrow target keeps only the middle.
    frame = np.zeros((1, 60, 90, 3), np.uint8)
    frame[:, :, :30, 0] = 255
    frame[:, :, 30:60, 1] = 255
    frame[:, :, 60:, 2] = 255
    crop = resize_frames(frame, 60, 30, "crop")
    stretch = resize_frames(frame, 60, 30, "stretch")
    assert crop.shape == stretch.shape == (1, 60, 30, 3)
    assert (crop[..., 1] == 255).all() and crop[..., [0, 2]].max() == 0
    assert stretch[0, :, 2, 0].min() > 200 and stretch[0, :, -3, 2].min() > 200  # edges survive
    with pytest.raises(ValueError, match="resize policy"):
        resize_frames(frame, 60, 30, "squash")


def test_area_downsample_matches_block_means():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 8, 12, 3), dtype=np.uint8)
    ref = frames.reshape(3, 2, 4, 3, 4, 3).astype(np.float64).mean(axis=(2, 4))  # (F, h, w, C)
    got = area_downsample(frames, 4)
    assert got.dtype == np.uint8 and got.shape == (3, 3, 2, 3)
    np.testing.assert_allclose(got.transpose(0, 2, 3, 1), np.round(ref), atol=1)


@pytest.mark.parametrize("name", ["/etc/passwd", "../x.json", "a/../../b.json", "C:/x", "a\\b", ""])
def test_unsafe_member_names_are_refused(name):
    with pytest.raises(UnsafeTarError):
        check_member_name(name)


def test_safe_member_names_pass():
    for name in ("synth_train_0000.json", "abc+def.latents.npy", "dir/key.mp4"):
        check_member_name(name)


def test_sample_key_removes_dots_and_separators():
    assert sample_key("A1+b2.c/d") == "A1+b2_c_d"


def test_build_sample_holds_the_documented_features():
    frames = level_video(10, 12)
    sample = make_sample("vid0", frames)
    assert set(sample) == {"__key__", "mp4", "json", "cond.png", "latents.npy", "clip.npy", "lowres.npy",
                           "clip_frames.npy"}
    lat = np.load(io.BytesIO(sample["latents.npy"]))
    low = np.load(io.BytesIO(sample["lowres.npy"]))
    clip = np.load(io.BytesIO(sample["clip.npy"]))
    clip_frames = np.load(io.BytesIO(sample["clip_frames.npy"]))
    assert lat.dtype == np.float16 and lat.shape == (12, 4, 12, 10)
    assert low.dtype == np.uint8 and low.shape == (12, 3, 12, 10)
    assert clip.shape == (5, 8) and clip_frames.shape == (12, 5, 8)
    levels = 10 + 3 * np.arange(12)
    np.testing.assert_array_equal(low[:, 0, 0, 0], levels)  # uniform frames stay uniform
    np.testing.assert_allclose(lat[:, 3, 0, 0], levels / 127.5 - 1, atol=2e-3)
    np.testing.assert_allclose(clip_frames[:, 0, 0], levels / 255, atol=1e-3)
    np.testing.assert_array_equal(clip, clip_frames[0])
    meta = json.loads(sample["json"])
    assert meta["native"] == {"width": 50, "height": 60, "fps": 30.0, "frames": 12}
    assert (meta["height"], meta["width"], meta["frames"], meta["resize"]) == (48, 40, 12, "stretch")
    from ffbench.video import read_video

    video = read_video(sample["mp4"])
    assert video.shape == (12, 48, 40, 3)
    np.testing.assert_allclose(video[:, 24, 20, 0], levels, atol=3)
    from PIL import Image

    assert Image.open(io.BytesIO(sample["cond.png"])).size == (40, 48)


def test_build_sample_is_byte_reproducible():
    frames = level_video(30, 6)
    a, b = make_sample("v", frames), make_sample("v", frames)
    assert a == b


def _sample_files(tmp_path, n=5, frames=6):
    files = []
    for i in range(n):
        path = tmp_path / "work" / f"v{i}.tar"
        write_sample_file(path, make_sample(f"v{i}", level_video(10 + 20 * i, frames), clip_all_frames=False))
        files.append(path)
    return files


def test_sample_file_round_trip(tmp_path):
    sample = make_sample("vx", level_video(5, 4))
    write_sample_file(tmp_path / "vx.tar", sample)
    assert read_sample_file(tmp_path / "vx.tar") == sample
    assert not list(tmp_path.glob(".*tmp*"))


def test_pack_shards_is_reproducible_and_splits_by_size(tmp_path):
    files = _sample_files(tmp_path)
    one = max(sum(len(v) for k, v in read_sample_file(f).items() if k != "__key__") for f in files)
    size = int(1.5 * one)  # a shard is closed once it holds >= 1.5 samples' payload: two samples
    a = pack_shards(files, tmp_path / "a", size)
    b = pack_shards(files, tmp_path / "b", size)
    assert [s.sha256 for s in a] == [s.sha256 for s in b]
    assert [s.samples for s in a] == [2, 2, 1]
    assert [k for s in a for k in s.keys] == [f"v{i}" for i in range(5)]
    for s in a:
        data = (tmp_path / "a" / s.name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == s.sha256 and len(data) == s.bytes
        with tarfile.open(tmp_path / "a" / s.name) as tar:
            assert {m.mtime for m in tar.getmembers()} == {0}
            assert {m.uname for m in tar.getmembers()} == {"ffbench"}
    assert not [p for p in (tmp_path / "a").iterdir() if "tmp" in p.name]
    # Repacking with bigger shards removes the shards that are no longer part of the split.
    c = pack_shards(files, tmp_path / "a", 10**9)
    assert len(c) == 1 and sorted(p.name for p in (tmp_path / "a").glob("*.tar")) == ["shard-000000.tar"]


def _write_manifest(split_dir, shards):
    manifest = {"version": MANIFEST_VERSION, "shards": [s.to_dict() for s in shards]}
    write_json_atomic(split_dir / "manifest.json", manifest)


def test_verify_names_truncated_changed_and_missing_shards(tmp_path):
    files = _sample_files(tmp_path, n=4)
    split = tmp_path / "train"
    shards = pack_shards(files, split, 1)  # one sample per shard
    _write_manifest(split, shards)
    assert verify_split(split) == []
    p0, p1, p2 = (split / shards[i].name for i in range(3))
    p0.write_bytes(p0.read_bytes()[:3000])  # truncated
    data = bytearray(p1.read_bytes())
    data[2000] ^= 0xFF  # same size, one byte flipped
    p1.write_bytes(bytes(data))
    p2.unlink()
    problems = verify_split(split)
    assert len(problems) == 3
    assert any(p0.name in p and "truncated" in p for p in problems)
    assert any(p1.name in p and "sha256" in p for p in problems)
    assert any(p2.name in p and "missing" in p for p in problems)
    assert "no manifest" in verify_split(tmp_path / "nowhere")[0]


def test_verify_refuses_unsafe_member_names(tmp_path):
    split = tmp_path / "train"
    split.mkdir()
    with tarfile.open(split / "shard-000000.tar", "w") as tar:
        info = tarfile.TarInfo("../escape.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    from ffbench.datasets.shards import ShardInfo
    from ffbench.fileio import sha256_file

    path = split / "shard-000000.tar"
    _write_manifest(split, [ShardInfo(path.name, 1, path.stat().st_size, sha256_file(path), ("x",))])
    problems = verify_split(split)
    assert len(problems) == 1 and "unsafe" in problems[0] and ".." in problems[0]
