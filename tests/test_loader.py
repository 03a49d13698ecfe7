"""The training loader: window contents, determinism and resume, DDP splitting, and bad-data handling."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch

from ffbench.datasets.clips import area_downsample
from ffbench.datasets.features import FeatureEncoders, build_sample
from ffbench.datasets.loader import latent_clip_loader
from ffbench.datasets.manifest import MANIFEST_VERSION, ManifestError
from ffbench.datasets.safety import UnsafeTarError
from ffbench.datasets.shards import ShardError, ShardInfo, pack_shards, write_sample_file
from ffbench.fileio import sha256_file, write_json_atomic

H, W, D = 48, 40, 4  # frame size and VAE downsample of these tests (latent 12 x 10)
IDENT = {"vae": {"fingerprint": "toy-vae", "kind": "toy"}, "clip": {"fingerprint": "toy-clip", "kind": "toy"}}


def _latents(frames):
    low = area_downsample(frames, D).astype(np.float32) / 127.5 - 1.0  # (N, 3, h, w)
    return np.concatenate([low, low.mean(axis=1, keepdims=True)], axis=1)  # (N, 4, h, w)


def _tokens(frames):
    level = frames.reshape(len(frames), -1).mean(axis=1) / 255.0
    return np.repeat(level[:, None, None], 3, axis=1).repeat(8, axis=2)  # (N, 3, 8)


def level(video: int, t):
    """Grey level of frame t of video number `video` (distinct per video, increasing with t)."""
    return 10 + 40 * video + 3 * np.asarray(t)


def write_split(root, lengths, per_shard=2, clip_all_frames=True, manifest=True):
    """Videos whose frame t is uniformly grey at level(i, t), one shard per `per_shard` videos."""
    split = root / "shards" / "train"
    files = []
    for i, n in enumerate(lengths):
        grey = level(i, np.arange(n)).astype(np.uint8)
        frames = np.broadcast_to(grey[:, None, None, None], (n, H, W, 3)).copy()
        sample = build_sample(f"v{i}", frames, split="train", url="", native={}, height=H, width=W,
                              downsample=D, resize="stretch", fps=30.0, clip_all_frames=clip_all_frames,
                              encoders=FeatureEncoders(_latents, _tokens, IDENT))
        files.append(root / "work" / f"v{i}.tar")
        write_sample_file(files[-1], sample)
    shards = pack_shards(files, split, 10**12, max_samples=per_shard)
    if manifest:
        write_json_atomic(split / "manifest.json", {"version": MANIFEST_VERSION, "encoders": IDENT,
                                                    "shards": [s.to_dict() for s in shards]})
    return split


def take(loader, n):
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == n:
            break
    return out


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("data"), [12, 10, 14, 9, 11])


def test_batches_have_documented_shapes_and_aligned_windows(split):
    loader = latent_clip_loader(split.parent, frames=4, batch_size=3, seed=1)
    for batch in take(loader, 4):
        assert batch["latents"].shape == (3, 4, 4, 12, 10) and batch["latents"].dtype == torch.float32
        assert batch["cond_latent"].shape == (3, 4, 12, 10)
        assert batch["clip"].shape == (3, 3, 8) and batch["lowres"].shape == (3, 3, 4, 12, 10)
        for b in range(3):
            vid, start = int(batch["id"][b][1:]), int(batch["start"][b])
            want = level(vid, np.arange(start, start + 4))
            # Latent channel 3 is the frame's grey level in [-1, 1]; lowres is the same in [-1, 1].
            np.testing.assert_allclose(batch["latents"][b, 3, :, 0, 0], want / 127.5 - 1, atol=2e-3)
            np.testing.assert_allclose(batch["lowres"][b, 0, :, 5, 5], want / 127.5 - 1, atol=1e-6)
            torch.testing.assert_close(batch["cond_latent"][b], batch["latents"][b, :, 0])
            # CLIP tokens are those of the window's first frame, not of the video's frame 0.
            np.testing.assert_allclose(batch["clip"][b, 0, 0], level(vid, start) / 255, atol=1e-3)
    assert loader.stats.clip_from_frame0 == 0 and loader.stats.samples >= 12


def test_windows_are_fresh_and_cover_the_video(split):
    starts = set()
    for batch in take(latent_clip_loader(split.parent, frames=4, batch_size=4, seed=0), 30):
        starts |= {int(s) for i, s in zip(batch["id"], batch["start"], strict=True) if i == "v2"}
    assert starts == set(range(14 - 4 + 1))  # every window position of the 14-frame video occurs


def _ids(batches):
    return [(tuple(b["id"]), tuple(b["start"].tolist())) for b in batches]


def test_same_seed_same_batches_and_start_batch_resumes_exactly(split):
    full = take(latent_clip_loader(split, frames=4, batch_size=2, seed=5), 9)
    again = take(latent_clip_loader(split, frames=4, batch_size=2, seed=5), 9)
    other = take(latent_clip_loader(split, frames=4, batch_size=2, seed=6), 9)
    resumed = take(latent_clip_loader(split, frames=4, batch_size=2, seed=5, start_batch=4), 5)
    assert _ids(full) == _ids(again) and _ids(full) != _ids(other)
    assert _ids(resumed) == _ids(full[4:])
    torch.testing.assert_close(resumed[0]["latents"], full[4]["latents"])


def test_start_batch_is_exact_with_dataloader_workers(split):
    full = take(latent_clip_loader(split, frames=4, batch_size=2, seed=3, num_workers=2), 7)
    resumed = take(latent_clip_loader(split, frames=4, batch_size=2, seed=3, num_workers=2, start_batch=3), 4)
    assert _ids(resumed) == _ids(full[3:])
    assert len(set(_ids(full))) == 7  # the two workers do not duplicate each other's batches


def test_epoch_mode_splits_shards_across_ranks(split):
    seen = []
    for rank in (0, 1):
        loader = latent_clip_loader(split, frames=4, batch_size=1, resampled=False, rank=rank, world_size=2)
        seen.append(sorted(b["id"][0] for b in loader))
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == [f"v{i}" for i in range(5)]
    one = sorted(b["id"][0] for b in latent_clip_loader(split, frames=4, batch_size=1, resampled=False))
    assert one == [f"v{i}" for i in range(5)]


@pytest.mark.parametrize("workers", [0, 2])
def test_short_videos_are_skipped_and_counted(tmp_path, workers):
    # With DataLoader workers the counts are made in the worker processes and reach `.stats` with the batches.
    split = write_split(tmp_path, [3, 8, 2, 4, 9, 1], per_shard=2)
    loader = latent_clip_loader(split, frames=5, batch_size=1, resampled=False, num_workers=workers)
    assert sorted(b["id"][0] for b in loader) == ["v1", "v4"]
    assert loader.stats.short_videos == 4 and loader.stats.samples == 2
    assert "loader_stats" not in next(iter(loader))


def test_resampling_over_only_unusable_data_stops_with_an_error(tmp_path):
    split = write_split(tmp_path, [3, 4], per_shard=1)
    with pytest.raises(ValueError, match="shorter than frames=6") as err:
        take(latent_clip_loader(split, frames=6, batch_size=1), 1)
    assert "shard-000000.tar, shard-000001.tar" in str(err.value) and "v0, v1" in str(err.value)
    for shard in split.glob("shard-*.tar"):
        shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(ShardError, match="shard-000000.tar: 1000 bytes on disk, its manifest says"):
        take(latent_clip_loader(split, frames=2, batch_size=1), 1)


@pytest.mark.parametrize("workers", [0, 2])
def test_truncated_shard_is_refused_naming_it(tmp_path, workers):
    # One rule for every reader (issue 25): a shard the manifest no longer vouches for is refused when the
    # loader is built, as eval refuses it, instead of skipped (a run silently training on less data).
    split = write_split(tmp_path, [8, 8, 8, 8], per_shard=2)
    shard = split / "shard-000001.tar"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(ShardError, match="shard-000001.tar: .* bytes on disk, its manifest says .*truncated"):
        latent_clip_loader(split, frames=4, batch_size=1, resampled=False, num_workers=workers)
    from ffbench.datasets.manifest import verify_split

    problems = verify_split(split)
    assert len(problems) == 1 and "shard-000001.tar" in problems[0] and "truncated" in problems[0]


def test_corrupt_sample_is_skipped_and_counted(tmp_path):
    split = write_split(tmp_path, [8, 8, 8], per_shard=3, manifest=False)
    path = split / "shard-000000.tar"
    # Rewrite the shard with v1's latents replaced by garbage of the same length, then vouch for it.
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(path, "w") as tar:
        for m, data in members:
            if m.name == "v1.latents.npy":
                data = b"\x00" * len(data)
            tar.addfile(m, io.BytesIO(data))
    info = ShardInfo(path.name, 3, path.stat().st_size, sha256_file(path), ("v0", "v1", "v2"))
    write_json_atomic(split / "manifest.json", {"version": MANIFEST_VERSION, "encoders": IDENT,
                                                "shards": [info.to_dict()]})
    loader = latent_clip_loader(split, frames=4, batch_size=1, resampled=False)
    assert sorted(b["id"][0] for b in loader) == ["v0", "v2"]
    assert loader.stats.corrupt_samples == 1 and "v1" in loader.stats.messages[0]


def test_unsafe_member_name_refuses_the_shard(tmp_path):
    split = tmp_path / "shards" / "train"
    split.mkdir(parents=True)
    path = split / "shard-000000.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("/abs/v0.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    info = ShardInfo(path.name, 1, path.stat().st_size, sha256_file(path), ("v0",))
    write_json_atomic(split / "manifest.json", {"version": MANIFEST_VERSION, "shards": [info.to_dict()]})
    with pytest.raises(UnsafeTarError, match="absolute"):
        take(latent_clip_loader(split, frames=1, batch_size=1, resampled=False), 1)


def test_missing_manifest_and_foreign_encoders_are_refused(tmp_path, split):
    (tmp_path / "shards" / "train").mkdir(parents=True)
    with pytest.raises(ManifestError, match="no manifest"):
        latent_clip_loader(tmp_path, frames=4)
    latent_clip_loader(split, frames=4, expect_encoders={"vae": {"fingerprint": "toy-vae"}})
    with pytest.raises(ManifestError, match="different vae encoder"):
        latent_clip_loader(split, frames=4, expect_encoders={"vae": {"fingerprint": "sd-vae"}})


def test_clip_falls_back_to_frame0_without_per_frame_tokens(tmp_path):
    split = write_split(tmp_path, [9, 9], clip_all_frames=False)
    loader = latent_clip_loader(split, frames=4, batch_size=2, seed=0)
    batch = take(loader, 1)[0]
    for b in range(2):
        np.testing.assert_allclose(batch["clip"][b, 0, 0], level(int(batch["id"][b][1:]), 0) / 255, atol=1e-3)
    assert loader.stats.clip_from_frame0 >= 2


def test_pixel_variant_decodes_the_same_window(split):
    batch = take(latent_clip_loader(split, frames=3, batch_size=2, seed=2, pixels=True), 1)[0]
    assert batch["video"].shape == (2, 3, 3, H, W)
    assert -1 <= batch["video"].min() and batch["video"].max() <= 1
    for b in range(2):
        vid, start = int(batch["id"][b][1:]), int(batch["start"][b])
        want = level(vid, np.arange(start, start + 3)) / 127.5 - 1
        np.testing.assert_allclose(batch["video"][b, 0, :, H // 2, W // 2], want, atol=0.03)


def test_pixel_loader_area_resizes_and_follows_the_latent_windows(split):
    """Pixels alone: same windows (ids, starts) as the latent path for a seed, area-resized frames whose
    means equal the stored grey level, exact resume by start_batch."""
    from ffbench.datasets.loader import pixel_clip_loader

    full = take(pixel_clip_loader(split, size=(24, 20), frames=4, batch_size=2, seed=4), 6)
    latent = take(latent_clip_loader(split, frames=4, batch_size=2, seed=4), 6)
    assert _ids(full) == _ids(latent)
    assert set(full[0]) == {"video", "start", "id"}
    for batch in full:
        assert batch["video"].shape == (2, 3, 4, 24, 20) and batch["video"].dtype == torch.float32
        for b in range(2):
            start = int(batch["start"][b])
            want = level(int(batch["id"][b][1:]), np.arange(start, start + 4))
            np.testing.assert_allclose(batch["video"][b].mean(dim=(0, 2, 3)), want / 127.5 - 1, atol=0.02)
    resumed = take(pixel_clip_loader(split, size=(24, 20), frames=4, batch_size=2, seed=4, start_batch=2), 4)
    assert _ids(resumed) == _ids(full[2:])
    torch.testing.assert_close(resumed[0]["video"], full[2]["video"], rtol=0, atol=0)
    odd = take(pixel_clip_loader(split, size=(16, 16), frames=2, batch_size=1, seed=0), 1)[0]
    assert odd["video"].shape == (1, 3, 2, 16, 16)  # 48x40 -> 16x16: overlapping area boxes


def test_area_resize_is_the_box_mean():
    from ffbench.datasets.loader import area_resize

    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    y = area_resize(x, (2, 3))
    torch.testing.assert_close(y, x.reshape(2, 3, 2, 2, 3, 2).mean(dim=(3, 5)))
    assert area_resize(x, None) is x and area_resize(x, (4, 6)) is x


def test_pixel_loader_skips_and_counts_an_undecodable_mp4(tmp_path):
    from ffbench.datasets.loader import pixel_clip_loader

    split = write_split(tmp_path, [8, 8, 8], per_shard=3, manifest=False)
    path = split / "shard-000000.tar"
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(path, "w") as tar:
        for m, data in members:
            if m.name == "v2.mp4":
                data = b"\x00" * len(data)
            tar.addfile(m, io.BytesIO(data))
    info = ShardInfo(path.name, 3, path.stat().st_size, sha256_file(path), ("v0", "v1", "v2"))
    write_json_atomic(split / "manifest.json", {"version": MANIFEST_VERSION, "encoders": IDENT,
                                                "shards": [info.to_dict()]})
    loader = pixel_clip_loader(split, size=None, frames=4, batch_size=1, resampled=False)
    assert sorted(b["id"][0] for b in loader) == ["v0", "v1"]
    assert loader.stats.corrupt_samples == 1 and "v2" in loader.stats.messages[0]
