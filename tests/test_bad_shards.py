"""Issue 25, points 1-3: every shard reader refuses a broken or hostile shard within seconds, naming the shard
and the reason (one reader, one rule), and `ffbench train` writes nothing into --out before its inputs are
checked. Each case used to hang (`train` cycling over a source that yields nothing), print a Python tuple,
or leave a config.json behind."""

from __future__ import annotations

import json
import shutil

import pytest
from bad_shards import EXPECT, KINDS, break_split, tree_digest, watchdog
from pixel_shards import PRESET, write_data
from world import cli

from ffbench.datasets.shards import iter_split_entries

FAST = ("--preset", "cpu", "--steps", "1", "--batch-size", "2", "--checkpoint-every", "1", "--ema-decay", "0",
        "--threads", "1", "--no-progress")


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """Two train videos of 18 frames in one shard, with a manifest FashionFlow's checks accept too (the
    toy encoders' feature shapes are the cpu preset's)."""
    root = write_data(tmp_path_factory.mktemp("good"), {"train": 2}, frames=18)
    path = root / "shards" / "train" / "manifest.json"
    manifest = json.loads(path.read_text())
    vae, clip = manifest["encoders"]["vae"], manifest["encoders"]["clip"]
    vae.update(latent_channels=PRESET.latent_channels, downsample=PRESET.vae_downsample)
    clip.update(tokens=PRESET.clip_tokens, dim=PRESET.clip_dim)
    path.write_text(json.dumps(manifest))
    return root


def assert_refused(result, elapsed: float, *names: object) -> None:
    """Exit 1 within the bound, one `Error:` sentence (not a tuple) naming each of `names`, no traceback."""
    assert elapsed < 60, elapsed
    assert result.exit_code == 1, (result.exception, result.output[-2000:])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output[-2000:]
    assert not errors[0].startswith("Error: ("), errors[0]
    for name in names:
        assert str(name) in errors[0], (name, errors[0])


CASES = [("fashionflow", kind) for kind in KINDS] + [("imaginator", kind) for kind in KINDS] + [
    ("cinn", "not-a-tar"), ("cinn", "empty-tar"), ("poke", "symlink-member"), ("poke", "garbage-payloads")]


@pytest.mark.parametrize(("model", "kind"), CASES)
def test_train_refuses_a_bad_shard_at_once_and_creates_no_run(model, kind, good, tmp_path):
    data, shards = break_split(good, kind, tmp_path / "data")
    out = tmp_path / "run"
    with watchdog() as elapsed:
        result = cli("train", model, "--shards", data, "--out", out, *FAST)
    names = (*EXPECT[kind], shards[0].name)
    assert_refused(result, elapsed(), *names)
    assert not out.exists()  # a new --out that fails is not created


@pytest.mark.parametrize("kind", ["not-a-tar", "empty-tar", "symlink-member", "climbing-member"])
def test_eval_generate_and_pokes_read_shards_by_the_same_rule(kind, good, tmp_path):
    # eval's real set, generate's test split and the flow cache read through iter_split_entries.
    data, shards = break_split(good, kind, tmp_path / "data")
    with pytest.raises(ValueError) as err:
        list(iter_split_entries(data / "shards" / "train", "mp4"))
    message = str(err.value)
    assert str(shards[0]) in message and all(part in message for part in EXPECT[kind]), message


def test_a_bad_shard_among_good_ones_is_refused_before_the_first_batch(good, tmp_path):
    from ffbench.datasets.loader import pixel_clip_loader
    from ffbench.datasets.shards import ShardError

    data = tmp_path / "data"
    shutil.copytree(good, data)
    split = data / "shards" / "train"
    shutil.copy(split / "shard-000000.tar", split / "shard-000001.tar")
    manifest = json.loads((split / "manifest.json").read_text())
    extra = dict(manifest["shards"][0], name="shard-000001.tar")
    (split / "shard-000001.tar").write_bytes(KINDS["empty-tar"](split / "shard-000001.tar"))
    extra["bytes"] = (split / "shard-000001.tar").stat().st_size
    manifest["shards"].append(extra)
    (split / "manifest.json").write_text(json.dumps(manifest))
    with watchdog(), pytest.raises(ShardError, match="shard-000001.tar: the tar holds no sample"):
        pixel_clip_loader(data, size=(64, 48), frames=4, batch_size=1)


@pytest.fixture(scope="module")
def trained(good, tmp_path_factory):
    """A 1-step ImaGINator run on the good data."""
    run = tmp_path_factory.mktemp("trained") / "run"
    result = cli("train", "imaginator", "--shards", good, "--out", run, *FAST)
    assert result.exit_code == 0, result.output
    return run


def test_a_resume_with_a_corrupt_checkpoint_leaves_the_run_byte_identical(good, trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    weights = run / "checkpoint-1" / "generator.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    moved = tmp_path / "moved-data"  # a resumable change: the run would record the new shard path
    shutil.copytree(good, moved)
    before = tree_digest(run)
    with watchdog() as elapsed:
        result = cli("train", "imaginator", "--shards", moved, "--out", run, *FAST, "--steps", "2",
                     "--resume")
    assert_refused(result, elapsed(), weights)
    assert tree_digest(run) == before


@pytest.mark.parametrize("kind", ["not-a-tar", "garbage-payloads"])
def test_a_resume_on_bad_shards_leaves_the_run_byte_identical(kind, good, trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    data, shards = break_split(good, kind, tmp_path / "data")
    before = tree_digest(run)
    with watchdog() as elapsed:
        result = cli("train", "imaginator", "--shards", data, "--out", run, *FAST, "--steps", "2", "--resume")
    assert_refused(result, elapsed(), shards[0].name)
    assert tree_digest(run) == before


def test_a_bad_option_leaves_no_folder_and_a_bug_keeps_its_traceback(good, tmp_path, monkeypatch):
    out = tmp_path / "run"
    result = cli("train", "fashionflow", "--shards", good, "--out", out, *FAST, "--stage", "sideways")
    assert_refused(result, 0.0, "--stage 'sideways'", "base, interpolate")
    assert not out.exists()

    # An unexpected error is a bug: it is not dressed up as a one-line message.
    import ffbench.models.imaginator.training as imaginator

    def broken(*args, **kwargs):
        raise ValueError("a bug in the wiring")

    monkeypatch.setattr(imaginator, "build_setup", broken)
    result = cli("train", "imaginator", "--shards", good, "--out", out, *FAST)
    assert isinstance(result.exception, ValueError) and "a bug in the wiring" in str(result.exception)
    assert not out.exists()
