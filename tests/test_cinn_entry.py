"""cINNs in the model registry: `ffbench train cinn --stage ...` and `ffbench generate --checkpoint RUN`
end to end through the CLI, at tiny size (the cpu preset's configs replaced by the tiny ones)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from pixel_shards import write_data
from test_cinn_helpers import tiny_configs

from ffbench.models.cinn import config as cinn_config
from ffbench.models.registry import available_models, find_checkpoint, get_model


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("cinn-pixels"), {"train": 2, "test": 2}, frames=8)


@pytest.fixture
def tiny_cpu_preset(monkeypatch):
    """`--preset cpu` builds the tiny models (5-frame clips at 16x12) for the duration of a test."""
    monkeypatch.setitem(cinn_config.CONFIGS, "cpu", tiny_configs())


def _cli(*args: str):
    from ffbench.cli import main

    return CliRunner().invoke(main, list(args))


def test_cinn_is_registered_with_its_networks_at_both_sizes():
    assert "cinn" in available_models()
    entry = get_model("cinn")
    assert entry.class_names == ("CINNModel",) and entry.export == "model" and entry.train is not None
    with torch.device("meta"):
        official = entry.networks("official")
        cpu = entry.networks("cpu")
    count = {name: sum(p.numel() for p in m.parameters()) for name, m in official.items()}
    assert count["decoder"] == 152_786_243 and count["flow"] == 49_935_360
    assert set(cpu) == set(official) == {"decoder", "encoder", "clip_disc", "frame_disc", "condition",
                                         "condition_decoder", "flow"}
    assert sum(p.numel() for p in cpu["decoder"].parameters()) < count["decoder"] / 50


def test_cli_refuses_an_unknown_stage_and_a_later_stage_first(data_dir, tmp_path, tiny_cpu_preset):
    common = ["train", "cinn", "--shards", str(data_dir), "--steps", "1", "--no-progress"]
    result = _cli(*common, "--out", str(tmp_path / "a"), "--stage", "decoder")
    assert result.exit_code == 1 and "--stage 'decoder': choose one of autoencoder, condition, flow, all" \
        in result.output
    result = _cli(*common, "--out", str(tmp_path / "b"), "--stage", "condition")
    assert result.exit_code == 1, result.output
    missing = tmp_path / "b" / "model" / "autoencoder"
    assert f"--stage condition needs the autoencoder stage's export {missing}" in result.output
    assert "Traceback" not in result.output


def test_cli_trains_all_stages_with_cinn_defaults_and_generate_writes_the_requested_frames(
        data_dir, tmp_path, tiny_cpu_preset):
    from ffbench.video import probe_video

    run = tmp_path / "run"
    common = ["train", "cinn", "--shards", str(data_dir), "--out", str(run), "--batch-size", "2",
              "--checkpoint-every", "1", "--log-every", "1", "--no-progress"]
    result = _cli(*common, "--steps", "2", "--stage", "autoencoder")
    assert result.exit_code == 0, result.output
    assert "cinn's own defaults: beta1=0.5, beta2=0.9" in result.output
    assert not (run / "model" / "model_index.json").exists()
    # `all` (the default stage) skips the finished autoencoder and trains the other two
    result = _cli(*common, "--steps", "2")
    assert result.exit_code == 0, result.output
    assert f"exported {run / 'model'}" in result.output
    ae_log = (run / "autoencoder" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in ae_log] == [1, 2]  # not retrained
    for stage in ("condition", "flow"):
        assert (run / stage / "checkpoint-2").is_dir(), stage
    entry, folder = find_checkpoint(run)
    assert entry.name == "cinn" and folder == run / "model"

    out = tmp_path / "samples"
    split = data_dir / "shards" / "test"
    result = _cli("generate", str(split), "--checkpoint", str(run), "-o", str(out), "--frames", "4",
                  "--no-progress")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.mp4")) == ["test0.mp4", "test1.mp4"]
    info = probe_video(out / "test0.mp4")
    assert (info.num_frames, info.height, info.width) == (4, 128, 96)
    record = json.loads((out / "generation.json").read_text())
    assert record["model"] == "cinn" and record["frames"] == 4
    assert record["checkpoint"] == str((run / "model").resolve())
    assert record["flags"] == ["upsampled: generated at 16x12, written at 128x96 (bilinear)"]
    result = _cli("generate", str(split), "--checkpoint", str(run / "model"), "-o", str(out), "--frames", "6")
    assert result.exit_code == 1 and "at most 5 frames" in result.output
    result = _cli("generate", str(split), "--checkpoint", str(run), "-o", str(out), "--steps", "10")
    assert result.exit_code == 1 and "--steps: not used by cinn" in result.output
