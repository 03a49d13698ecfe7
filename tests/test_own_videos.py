"""Issue 9, Deliver 5: a user's own small video set goes from `prepare` to `train`.

Fewer than 8 videos cannot train a tiny VAE: `prepare` says so and names `--vae DIR`, which borrows the
VAE folder of another prepared dataset. `train` accepts shards whose recorded frame size and encoder
shapes fit the model it builds, whatever preset name made them (`cpu`, `cpu-128x96` from --height/--width),
and refuses the others naming what differs.
"""

from __future__ import annotations

import json

from test_cli_errors import assert_clean_failure, leftovers
from world import TRAIN_ARGS, cli


def _manifest(data) -> dict:
    return json.loads((data / "shards" / "train" / "manifest.json").read_text())


def test_fewer_than_8_videos_and_no_vae_points_to_vae_dir(cpu_world, tmp_path):
    out = tmp_path / "data"
    result = cli("prepare", "--source", cpu_world.source, "--out", out, "--threads", "1", "--quiet")
    assert_clean_failure(result, "at least 8", out / "source", "--vae OTHER/encoders/vae", root=tmp_path)
    assert not (out / "shards" / "train" / "manifest.json").exists()


def test_a_borrowed_vae_folder_prepares_and_trains(cpu_world):
    assert cpu_world.prepare.exit_code == 0, cpu_world.prepare.output
    manifest = _manifest(cpu_world.data)
    assert manifest["samples"] == 3 and manifest["preset"]["name"] == "cpu"
    vae = manifest["encoders"]["vae"]
    assert (vae["latent_channels"], vae["downsample"]) == (4, 4)
    assert cpu_world.train.exit_code == 0, cpu_world.train.output
    assert (cpu_world.pipeline / "model_index.json").is_file()
    # the pipeline carries the borrowed VAE, not a tiny one trained on 3 videos
    vae_config = json.loads((cpu_world.pipeline / "vae" / "config.json").read_text())
    assert vae_config["block_out_channels"] == [8, 16, 16]


def test_height_width_shards_of_the_presets_size_train_whatever_their_preset_name(cpu_world, tmp_path):
    data = tmp_path / "data"
    prepared = cli("prepare", "--source", cpu_world.source, "--vae", cpu_world.vae, "--height", "128",
                   "--width", "96", "--out", data, "--threads", "1", "--quiet")
    assert prepared.exit_code == 0, prepared.output
    manifest = _manifest(data)
    assert manifest["preset"]["name"] == "cpu-128x96"  # not "cpu"; the geometry is the cpu preset's
    # the same encoders and frame size: the very same features as the world's `--preset cpu` shards
    assert manifest["fingerprint"] == _manifest(cpu_world.data)["fingerprint"]
    trained = cli("train", "fashionflow", "--shards", data, "--out", tmp_path / "run", *TRAIN_ARGS)
    assert trained.exit_code == 0, trained.output
    assert "Traceback" not in trained.output
    assert (tmp_path / "run" / "pipeline" / "model_index.json").is_file()


def test_shards_of_another_frame_size_are_refused_naming_what_differs(cpu_world, tmp_path):
    data = tmp_path / "data"
    prepared = cli("prepare", "--source", cpu_world.source, "--vae", cpu_world.vae, "--height", "64",
                   "--width", "48", "--out", data, "--threads", "1", "--quiet")
    assert prepared.exit_code == 0, prepared.output
    run = tmp_path / "run"
    trained = cli("train", "fashionflow", "--shards", data, "--out", run, *TRAIN_ARGS)
    assert_clean_failure(trained, data / "shards" / "train", "preset.height is 64", "preset.width is 48",
                         "--height 128 --width 96", root=tmp_path)
    assert not run.exists() or not any(run.iterdir())  # refused before anything was written
    assert leftovers(tmp_path) == []
