"""Pokes from flow: direction on a known translation, zero pokes at their rate, the flow cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ffbench.datasets import pokes as pokes_module
from ffbench.datasets.features import FeatureEncoders, build_sample
from ffbench.datasets.manifest import MANIFEST_VERSION
from ffbench.datasets.pokes import (
    FlowCacheError,
    FlowSettings,
    build_flow_cache,
    clip_flows,
    poke_batch,
    poke_from_video,
    sample_poke,
)
from ffbench.datasets.shards import pack_shards, write_sample_file
from ffbench.fileio import write_json_atomic
from ffbench.flow import optical_flow
from ffbench.video import encode_video, read_video

H, W = 48, 64
BOX = (12, 36, 12, 36)  # top, bottom, left, right of the moving square in frame 0


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    import cv2

    base = np.random.default_rng(seed).random((h // 4, w // 4, 3)).astype(np.float32)
    return (np.clip(cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1) * 255).astype(np.uint8)


def translating_square(n: int, dx: int, dy: int, h: int = H, w: int = W, box=BOX) -> np.ndarray:
    """A textured square moving by (dx, dy) pixels per frame over a still textured background."""
    background, square = _texture(h, w, 0), _texture(h, w, 1)
    top, bottom, left, right = box
    frames = np.repeat(background[None], n, axis=0)
    for t in range(n):
        r, c = top + t * dy, left + t * dx
        frames[t, r:r + bottom - top, c:c + right - left] = square[top:bottom, left:right]
    return frames


def test_a_poke_from_a_translation_points_the_way_the_content_moved():
    # The square moves 8 px right and 4 px up from frame 0 to frame 4 (found by chaining 2 px steps).
    frames = translating_square(5, dx=2, dy=-1)
    flow = torch.from_numpy(clip_flows(frames, span=4))  # (1, 2, H, W): frame 0 -> frame 4
    assert flow.shape == (1, 2, H, W)
    flow = flow[0] / flow.norm(dim=0).max()
    top, bottom, left, right = BOX
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        poke, (r, c) = sample_poke(flow, poke_size=3, zero_poke=False, generator=g)
        nonzero = poke.abs().sum(0) > 0
        assert nonzero.sum() == 9 and nonzero[r - 1:r + 2, c - 1:c + 2].all()  # one 3x3 patch
        dx, dy = poke[:, r, c].tolist()
        assert dx > 0 and dy < 0 and dx > abs(dy)  # right and up, mostly right (8 px vs 4 px)
        # drawn where the content moved: in the square's path (start or end position, plus a margin)
        assert top - 4 - 2 <= r <= bottom + 2 and left - 2 <= c <= right + 8 + 2


def test_chained_flow_finds_a_motion_the_direct_flow_misses():
    frames = translating_square(5, dx=2, dy=-1)  # 8 px right, 4 px up in all
    inside = (slice(16, 32), slice(16, 32))
    direct = optical_flow(frames[0], frames[-1])[inside].reshape(-1, 2)
    chained = clip_flows(frames, span=4)[0].transpose(1, 2, 0)[inside].reshape(-1, 2)
    assert np.abs(np.median(chained, axis=0) - [8, -4]).max() < 0.3
    assert np.abs(np.median(direct, axis=0) - [8, -4]).max() > 3  # Farneback alone misses 8 px here


def test_zero_pokes_sit_where_nothing_moves_hold_a_moving_vector_and_keep_x0():
    frames = translating_square(3, dx=2, dy=0)
    video = torch.from_numpy(frames).permute(3, 0, 1, 2).float()[None] / 127.5 - 1  # (1, 3, 3, H, W)
    flow = torch.from_numpy(clip_flows(frames, span=2))
    flow = flow / flow.norm(dim=1).max()
    n, rate = 400, 0.25
    out = poke_batch(video.expand(n, -1, -1, -1, -1), flow.expand(n, -1, -1, -1), poke_size=3,
                     zero_poke_rate=rate, generator=torch.Generator().manual_seed(0))
    zero = out["zero_poke"]
    # 400 Bernoulli(0.25) draws: the fraction's standard deviation is 0.022; this seed's draw is fixed
    assert abs(zero.float().mean().item() - rate) < 0.06 and not out["still"].any()
    magnitude = flow[0].norm(dim=0)
    for i in range(n):
        r, c = out["poke_at"][i].tolist()
        value = out["poke"][i, :, r, c]
        assert value[0] > 0.5  # a moving pixel's vector (rightwards) in both kinds of samples
        if zero[i]:
            assert magnitude[r, c] < 0.1  # placed where nothing moves
            assert torch.equal(out["target"][i], video[0, :, :1].expand(-1, 2, -1, -1))  # x0 repeated
        else:
            assert magnitude[r, c] > 0.5 and torch.equal(out["target"][i], video[0, :, 1:])
    assert torch.equal(out["image"], video[:, :, 0].expand(n, -1, -1, -1))


def test_a_still_clip_gets_no_poke_and_keeps_its_frames():
    frames = np.repeat(_texture(H, W, 0)[None], 3, axis=0)
    video = torch.from_numpy(frames).permute(3, 0, 1, 2).float()[None] / 127.5 - 1
    out = poke_batch(video, torch.zeros(1, 2, H, W), 3, 1.0, torch.Generator().manual_seed(0))
    assert out["still"].all() and not out["zero_poke"].any() and out["poke"].abs().sum() == 0
    assert torch.equal(out["target"], video[:, :, 1:])


def test_the_test_poke_comes_from_the_real_video_at_the_model_size():
    frames = translating_square(6, dx=-1, dy=0)  # moving left
    poke, x0 = poke_from_video(frames, (24, 32), span=4, flow_norm=2.0, poke_size=3,
                               generator=torch.Generator().manual_seed(0))
    assert poke.shape == (2, 24, 32) and x0.shape == (24, 32, 3)
    nonzero = poke.abs().sum(0) > 0
    assert nonzero.sum() == 9
    dx = poke[0][nonzero]
    assert (dx < 0).all()  # left: 4 frames x 1 px at half size = 2 px, / flow_norm 2 -> about -1
    assert dx.mean().item() == pytest.approx(-1.0, abs=0.3)


def write_split(root, videos, preset: dict | None = None):
    """Shards of `videos` (uint8 (N, h, w, 3) each, all one size) in root/shards/train, ids vid.<i>."""
    split = root / "shards" / "train"
    ident = {"vae": {"fingerprint": "none"}, "clip": {"fingerprint": "none"}}
    h, w = videos[0].shape[1:3]
    encoders = FeatureEncoders(lambda f: np.zeros((len(f), 4, 2, 2)), lambda f: np.zeros((len(f), 1, 4)),
                               ident)
    files = []
    for i, frames in enumerate(videos):
        sample = build_sample(f"vid.{i}", frames, split="train", url="", native={}, height=h, width=w,
                              downsample=16, resize="stretch", fps=30.0, encoders=encoders,
                              clip_all_frames=False)
        files.append(root / "work" / f"{i}.tar")
        write_sample_file(files[-1], sample)
    shards = pack_shards(files, split, 10**12, max_samples=2)
    manifest = {"version": MANIFEST_VERSION, "encoders": ident, "shards": [s.to_dict() for s in shards],
                "preset": preset or {}}
    write_json_atomic(split / "manifest.json", manifest)
    return root


def test_flow_cache_is_built_once_beside_the_shards_and_keyed_by_settings(tmp_path, monkeypatch):
    data = write_split(tmp_path, [translating_square(6, 2, 0), translating_square(5, 0, 2),
                                   translating_square(3, 1, 0)])
    settings = FlowSettings(height=24, width=32, span=3)
    cache = build_flow_cache(data, "train", settings)
    assert cache.folder.parent == data / "flows" and cache.folder.name.startswith("train-")
    assert cache.meta["videos"] == {"vid_0": 3, "vid_1": 2, "vid_2": 0}  # N - span starts; too short: none
    # the cached flow is clip_flows of the decoded, area-resized frames (float16); the maximum is the data's
    decoded = read_video(encode_video(translating_square(6, 2, 0), fps=30.0))  # what the shard holds
    small = pokes_module.resize_video(decoded, 24, 32)
    want = clip_flows(small, 3)
    assert np.allclose(cache.flow("vid.0", 2), want[2], atol=2e-3)
    assert cache.max_norm >= np.sqrt((want ** 2).sum(1)).max() - 1e-2
    batch = cache.normalised(["vid.0", "vid.1"], torch.tensor([0, 1]))
    assert batch.shape == (2, 2, 24, 32) and batch.norm(dim=1).max() <= 1 + 1e-3
    with pytest.raises(FlowCacheError, match="no flow for video 'other'"):
        cache.flow("other", 0)
    with pytest.raises(FlowCacheError, match="2 clip starts, asked for 5"):
        cache.flow("vid.1", 5)

    def fail(*args, **kwargs):
        raise AssertionError("flow recomputed")

    monkeypatch.setattr(pokes_module, "clip_flows", fail)
    again = build_flow_cache(data, "train", settings)  # finished cache: nothing is recomputed
    assert again.folder == cache.folder and again.max_norm == cache.max_norm
    monkeypatch.undo()
    other = build_flow_cache(data, "train", FlowSettings(height=24, width=32, span=2))
    assert other.folder != cache.folder and other.meta["videos"]["vid_2"] == 1


def test_the_sampler_pokes_from_the_real_clip_and_says_so():
    from ffbench.models.poke import PokeModel
    from ffbench.models.poke.sampler import PokeNeedsRealVideoError, PokeSampler

    torch.manual_seed(0)
    model = PokeModel(sample_size=(H, W), num_frames=2, encoder_channels=(4, 8), bottleneck_channels=16,
                      poke_channels=(4, 8), poke_res_blocks=1, flow_norm=4.0, perceptual_loss="pyramid-l1")
    sampler = PokeSampler(model)
    assert sampler.size == (H, W) and sampler.num_frames == 3
    assert sampler.flags == ["perceptual-loss: pyramid-l1 (weight-free substitute of VGG-19)"]
    real = torch.from_numpy(translating_square(3, 2, 0)).permute(3, 0, 1, 2).float()[None] / 127.5 - 1
    real = torch.cat([real, real.flip(-1)])  # the second clip moves left
    pokes = sampler.pokes(real, torch.Generator().manual_seed(0))
    right, left = (p[0][p.abs().sum(0) > 0] for p in pokes)
    assert (right > 0.5).all() and (left < -0.5).all()  # 4 px / flow_norm 4 = about 1
    video = sampler(real[:, :, 0], 5, torch.Generator().manual_seed(1), real=real)
    assert video.shape == (2, 3, 5, H, W) and torch.equal(video[:, :, 0], real[:, :, 0])
    again = sampler(real[:, :, 0], 5, torch.Generator().manual_seed(1), real=real)
    assert torch.equal(video, again)
    with pytest.raises(PokeNeedsRealVideoError, match="ground-truth flow of the real test video"):
        sampler(real[:, :, 0], 5, torch.Generator(), real=None)
