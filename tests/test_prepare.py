"""`prepare` end to end on a tiny synthetic set: shards, manifests, resume after SIGKILL, rebuilds, verify."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ffbench.cli import main
from ffbench.datasets.loader import latent_clip_loader
from ffbench.datasets.prepare import PrepareOptions, prepare

ROOT = Path(__file__).resolve().parents[1]
# 8 training videos (one held out to measure the tiny VAE) + 2 test videos of 20 frames at 48x40.
# One torch thread: fastest on the shared 2-core CI, and the killed and resumed runs must agree.
SMALL = dict(synthetic=True, synthetic_train=8, synthetic_test=2, synthetic_frames=20, height=48, width=40,
             vae_steps=30, shard_size_mb=0.15, threads=1, progress=False)
CLI_SMALL = ["--n-train", "8", "--n-test", "2", "--frames", "20", "--height", "48", "--width", "40",
             "--vae-steps", "30", "--shard-size-mb", "0.15", "--threads", "1"]


def manifests(data: Path) -> dict[str, bytes]:
    return {split: (data / "shards" / split / "manifest.json").read_bytes() for split in ("train", "test")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted prepare, shared by the tests that only read it."""
    data = tmp_path_factory.mktemp("reference")
    result = prepare(data, PrepareOptions(**SMALL))
    assert result.splits["train"].videos == 8 and result.splits["test"].videos == 2
    return data


def test_prepare_writes_verified_shards_with_features_and_provenance(reference):
    from ffbench.datasets.prepare import verify

    assert verify(reference) == {"test": [], "train": []}
    train = json.loads(manifests(reference)["train"])
    assert train["samples"] == 8 and len(train["shards"]) >= 2  # 0.15 MB shards: more than one
    assert train["resize"] == "stretch" and (train["preset"]["height"], train["preset"]["width"]) == (48, 40)
    assert train["offline_stand_ins"] == ["clip", "vae"]
    assert isinstance(train["tiny_vae_heldout_psnr"], float)
    # the VAE is also scored on frames of the test split, which it never trained on; both splits say so
    vae_test = train["tiny_vae_test"]
    assert vae_test["frames"] == 2 * 8 and len(vae_test["colour_error"]) == 3 and vae_test["psnr"] > 5.0
    assert json.loads(manifests(reference)["test"])["tiny_vae_test"] == vae_test
    assert train["settings"]["synthetic"]["n_train"] == 8 and train["skipped"] == {}
    assert train["short_videos"] == 0  # 20 frames >= the preset's 16-frame clips
    assert not [p for p in (reference / "shards").rglob("*") if "tmp" in p.name]
    # The identities recorded are those of the encoders on disk, without absolute paths.
    from ffbench.encoders import encoder_identity, load_clip, load_vae

    vae = encoder_identity(load_vae("tiny", data_dir=reference))
    clip = encoder_identity(load_clip("tiny", data_dir=reference)[0])
    assert train["encoders"]["vae"]["fingerprint"] == vae["fingerprint"]
    assert train["encoders"]["clip"]["fingerprint"] == clip["fingerprint"]
    assert str(reference) not in manifests(reference)["train"].decode()
    loader = latent_clip_loader(reference, frames=16, batch_size=2,
                                expect_encoders={"vae": {"fingerprint": vae["fingerprint"]}})
    batch = next(iter(loader))
    assert batch["latents"].shape == (2, 4, 16, 12, 10) and batch["clip"].shape == (2, 17, 64)
    assert batch["latents"].std() > 0.05  # real features, not zeros


def test_rerun_is_a_no_op(reference):
    before = manifests(reference)
    stamps = {p: p.stat().st_mtime_ns for p in (reference / "shards").glob("*/shard-*.tar")}
    start = time.monotonic()
    prepare(reference, PrepareOptions(**SMALL))
    assert manifests(reference) == before
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # shards were not rewritten
    assert time.monotonic() - start < 60


def test_sigkill_then_rerun_gives_the_same_manifest(reference, tmp_path):
    data = tmp_path / "killed"
    cmd = [sys.executable, "-m", "ffbench.cli", "prepare", "--synthetic", "--quiet", "--out", str(data),
           *CLI_SMALL]
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=path)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    # Kill in the middle of the per-video stage: some samples done, no shard or manifest yet.
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list((data / "shards" / ".work").glob("*/train/*.tar"))) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"prepare ended before the kill: {proc.stderr.read().decode()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (data / "shards" / "train" / "manifest.json").exists()
    prepare(data, PrepareOptions(**SMALL))
    assert manifests(data) == manifests(reference)
    assert not [p.name for p in (data / "shards").rglob("*") if ".tmp-" in p.name]


def test_encoder_change_rebuilds_features(reference, tmp_path):
    data = tmp_path / "copy"
    shutil.copytree(reference, data)
    old = json.loads(manifests(data)["train"])
    prepare(data, PrepareOptions(**(SMALL | {"vae_steps": 31})))
    new = json.loads(manifests(data)["train"])
    assert new["encoders"]["vae"]["fingerprint"] != old["encoders"]["vae"]["fingerprint"]
    assert new["encoders"]["clip"] == old["encoders"]["clip"]
    assert new["fingerprint"] != old["fingerprint"]
    assert {s["sha256"] for s in new["shards"]}.isdisjoint(s["sha256"] for s in old["shards"])
    assert [p.name for p in (data / "shards" / ".work").iterdir()] == [new["fingerprint"]]  # no mixing
    from ffbench.datasets.manifest import ManifestError

    with pytest.raises(ManifestError, match="different vae"):
        latent_clip_loader(data, expect_encoders={"vae": old["encoders"]["vae"]})


def test_verify_command_names_a_truncated_shard(reference, tmp_path):
    data = tmp_path / "copy"
    shutil.copytree(reference / "shards", data / "shards")
    runner = CliRunner()
    ok = runner.invoke(main, ["prepare", "--verify", "--out", str(data)])
    assert ok.exit_code == 0, ok.output
    shard = data / "shards" / "train" / "shard-000001.tar"
    shard.write_bytes(shard.read_bytes()[:-5000])
    bad = runner.invoke(main, ["prepare", "--verify", "--out", str(data)])
    assert bad.exit_code == 1
    assert "shard-000001.tar" in bad.output and "truncated" in bad.output
    from ffbench.datasets.shards import ShardError

    with pytest.raises(ShardError, match="shard-000001.tar: .* bytes on disk, its manifest says"):
        latent_clip_loader(data, frames=16, batch_size=1, resampled=False)  # refused, as eval refuses it


def test_missing_hub_weights_fail_fast_naming_the_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    out = CliRunner().invoke(main, ["prepare", "--synthetic", "--out", str(tmp_path), "--vae",
                                               "CompVis/stable-diffusion-v1-4"])
    assert out.exit_code != 0
    assert "--vae" in out.output and "hf download" in out.output and "tiny" in out.output
    assert time.monotonic() - start < 10
    assert not (tmp_path / "source").exists()  # failed before downloading or generating anything


def test_source_dir_with_a_bad_file_skips_it_and_says_why(reference, tmp_path):
    src = tmp_path / "src"
    (src / "videos").mkdir(parents=True)
    for name in ("synth_train_0000", "synth_train_0001"):
        shutil.copy(reference / "generated" / "videos" / f"{name}.mp4", src / "videos" / f"{name}.mp4")
    (src / "videos" / "error_page.mp4").write_text("<html><body>404 Not Found</body></html>")
    (src / "fashion_train.txt").write_text("videos/synth_train_0000.mp4\nvideos/error_page.mp4\n")
    (src / "fashion_test.txt").write_text("videos/synth_train_0001.mp4\n")
    # A local VAE directory (the reference's tiny VAE) instead of training one.
    options = PrepareOptions(source_dir=src, vae=str(reference / "encoders" / "vae"), resize="crop",
                             progress=False, **{k: SMALL[k] for k in ("height", "width", "threads")})
    result = prepare(tmp_path / "data", options)
    assert (result.splits["train"].videos, result.splits["test"].videos) == (1, 1)
    train = json.loads(manifests(tmp_path / "data")["train"])
    assert list(train["skipped"]) == ["error_page"] and "download" in train["skipped"]["error_page"]
    assert train["resize"] == "crop" and train["settings"]["source"] == "source_dir"
    assert train["encoders"]["vae"]["kind"] == "local" and train["tiny_vae_heldout_psnr"] is None
    assert not (tmp_path / "data" / "source" / "videos" / "error_page.mp4").exists()


def test_rerun_repairs_a_damaged_shard(reference, tmp_path):
    data = tmp_path / "copy"
    shutil.copytree(reference, data)
    shard = data / "shards" / "train" / "shard-000000.tar"
    shard.write_bytes(shard.read_bytes()[:4096])
    prepare(data, PrepareOptions(**SMALL))  # samples are cached: only repacking
    assert manifests(data) == manifests(reference)
    assert shard.read_bytes() == (reference / "shards" / "train" / "shard-000000.tar").read_bytes()


def test_a_rerun_under_another_thread_count_is_refused_with_the_command_to_use(reference, tmp_path):
    import shlex

    from ffbench.datasets.prepare import ThreadCountMismatch

    data = tmp_path / "copy"
    shutil.copytree(reference, data)
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*")}
    assert json.loads(manifests(data)["train"])["settings"]["torch_threads"] == 1
    # the library names the count to use and leaves the command line to its caller
    with pytest.raises(ThreadCountMismatch, match="prepared with 1 torch thread") as err:
        prepare(data, PrepareOptions(**(SMALL | {"threads": 2})))
    assert (err.value.recorded, err.value.requested) == (1, 2) and "ffbench" not in str(err.value)
    # the CLI, which knows its flags, prints the command that continues with the recorded count
    args = ["prepare", "--synthetic", "--out", str(data), *CLI_SMALL[:-1], "2", "--quiet"]
    assert CLI_SMALL[-2] == "--threads"
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1 and "prepared with 1 torch thread" in refused.output, refused.output
    assert {p: p.stat().st_mtime_ns for p in data.rglob("*")} == before  # refused before any write
    command = next(line.strip() for line in refused.output.splitlines() if line.strip().startswith("ffbench"))
    args = shlex.split(command)[2:]
    ctx = main.commands["prepare"].make_context("prepare", args)  # a valid command, the original settings
    assert ctx.params["threads"] == 1 and ctx.params["out_dir"] == str(data) and ctx.params["synthetic"]
    assert (ctx.params["n_train"], ctx.params["height"], ctx.params["vae_steps"]) == (8, 48, 30)
    assert ctx.params["shard_size_mb"] == 0.15 and ctx.params["quiet"]
