"""Issue 9, Deliver 7: every file ffbench writes gets the user's umask; atomic writes leave nothing behind."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

import pytest

from ffbench import fileio

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def umask_027():
    before = os.umask(0o027)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writers_and_temporaries_follow_the_umask(tmp_path, umask_027):
    assert fileio.current_umask() == 0o027
    fileio.write_text_atomic(tmp_path / "a.txt", "x")
    fileio.write_json_atomic(tmp_path / "b.json", {"x": 1})
    fd, tmp = fileio.mkstemp(tmp_path, prefix="c")
    os.close(fd)
    folder = fileio.mkdtemp(tmp_path, prefix="d")
    assert [mode(tmp_path / n) for n in ("a.txt", "b.json")] + [mode(Path(tmp))] == [0o640] * 3
    assert mode(folder) == 0o750
    (folder / "private").write_bytes(b"")
    os.chmod(folder / "private", 0o600)  # as safetensors leaves its weights
    fileio.apply_umask(folder)
    assert mode(folder / "private") == 0o640


def test_the_leaderboard_csv_follows_the_umask(tmp_path, umask_027):
    from ffbench.leaderboard import COLUMNS, append_rows

    path = append_rows(tmp_path / "board" / "fashion.csv", [dict.fromkeys(COLUMNS, "x")])
    assert mode(path) == 0o640  # was 0600: tempfile.mkstemp's private mode carried over by os.replace


def test_an_atomic_write_that_fails_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "manifest.json"
    target.write_text("old")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as err:
        fileio.write_text_atomic(target, "new")
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_everything_prepare_and_train_wrote_follows_the_umask(cpu_world):
    # The world was written under the session's umask: data (prepare), run (train, checkpoint, pipeline).
    umask = fileio.current_umask()
    written = [p for folder in (cpu_world.data, cpu_world.run) for p in [folder, *folder.rglob("*")]]
    wrong = [f"{oct(mode(p))} {p}" for p in written if mode(p) != (0o777 if p.is_dir() else 0o666) & ~umask]
    assert wrong == []


def test_no_module_makes_private_temporaries_outside_fileio():
    private = re.compile(r"tempfile\.(mkstemp|mkdtemp)\(|NamedTemporaryFile\([^)]*delete=False")
    modules = [p for p in sorted((ROOT / "ffbench").rglob("*.py")) if p.name != "fileio.py"]
    found = [f"{p.relative_to(ROOT)}:{i}" for p in modules
             for i, line in enumerate(p.read_text().splitlines(), 1) if private.search(line)]
    assert found == [], "use ffbench.fileio.mkstemp / mkdtemp, which keep the user's umask"


def test_generate_and_eval_outputs_follow_the_umask(cpu_world, tmp_path, umask_027):
    # The user-facing outputs of the last two commands: videos, GIF, leaderboard CSV, feature cache.
    from world import cli

    shards = cpu_world.data / "shards" / "test"
    made = cli("generate", shards, "--checkpoint", cpu_world.pipeline, "-o", tmp_path / "samples",
               "--steps", "2", "--gif")
    assert made.exit_code == 0, made.output
    # weight-free metrics of the one test video (a distribution metric needs more than one per side)
    scored = cli("eval", "--metric", "psnr,motion", "--real", shards, "--fake", tmp_path / "samples",
                 "--method", "m", "--leaderboard-dir", tmp_path / "board", "--dataset", "own",
                 "--cache-dir", tmp_path / "cache")
    assert scored.exit_code == 0, scored.output
    written = list(tmp_path.rglob("*"))
    kinds = {p.suffix for p in written if p.is_file()}
    assert {".mp4", ".gif", ".csv", ".npz"} <= kinds, kinds
    wrong = [f"{oct(mode(p))} {p}" for p in written if mode(p) != (0o750 if p.is_dir() else 0o640)]
    assert wrong == []
