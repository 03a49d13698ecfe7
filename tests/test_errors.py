"""The CLI's one error path: expected failures print one message and exit 1; bugs keep their traceback."""

from __future__ import annotations

import errno

import click
import pytest
from click.testing import CliRunner

from ffbench.cli import FFBenchGroup
from ffbench.errors import UserError, describe_os_error, ensure_writable_dir


def _group(exc: BaseException) -> click.Group:
    @click.group(cls=FFBenchGroup)
    def cli() -> None:
        pass

    @cli.command()
    def boom() -> None:
        raise exc

    return cli


def test_a_user_error_is_one_message_without_traceback():
    result = CliRunner().invoke(_group(UserError("data/x.tar: not a tar file; re-run prepare")), ["boom"])
    assert result.exit_code == 1
    assert result.output == "Error: data/x.tar: not a tar file; re-run prepare\n"


def test_an_environment_os_error_names_the_file_and_a_bug_keeps_its_traceback():
    full = OSError(errno.ENOSPC, "No space left on device", "/data/out/shard-000003.tar")
    result = CliRunner().invoke(_group(full), ["boom"])
    assert result.exit_code == 1 and "shard-000003.tar" in result.output and "disk is full" in result.output
    assert "Traceback" not in result.output
    bug = CliRunner().invoke(_group(KeyError("oops")), ["boom"])
    assert bug.exit_code == 1 and isinstance(bug.exception, KeyError)  # not swallowed into a message
    assert describe_os_error(FileNotFoundError(errno.ENOENT, "No such file", "x")) is None


def test_ensure_writable_dir_refuses_a_file_where_a_folder_should_be(tmp_path):
    assert ensure_writable_dir(tmp_path / "new" / "deep", "--out").is_dir()
    assert not list((tmp_path / "new" / "deep").iterdir())  # the write probe is gone
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="--out .*file.*not a folder"):
        ensure_writable_dir(blocker, "--out")
    with pytest.raises(UserError, match="--out .*cannot be written.*folder"):
        ensure_writable_dir(blocker / "below", "--out")
