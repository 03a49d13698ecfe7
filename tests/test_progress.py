"""Progress in a log file: plain lines every few percent, no carriage returns; a terminal keeps tqdm."""

from __future__ import annotations

import io

from ffbench.progress import LogProgress, progress_bar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_line_per_step_and_no_carriage_returns():
    log = io.StringIO()
    for _ in progress_bar(range(1000), desc="videos", unit="video", file=log):
        pass
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert len(lines) == 20  # every 5% of 1000 updates, and no extra line at the end (100% was a mark)
    assert lines[0].startswith("videos: 5% (50/1000 video,")
    assert lines[-1].startswith("videos: 100% (1000/1000")


def test_update_counts_and_a_last_line_says_where_it_stopped():
    log = io.StringIO()
    with progress_bar(total=10, desc="train", unit="step", file=log, initial=2) as bar:
        bar.update(3)  # 50%: a line
        bar.set_postfix(loss=0.5)
        bar.update(1)  # 60%: a line
        bar.update(0.5)  # 65%: no new mark, but the close shows it
    lines = log.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["train: 50%", "train: 60%", "train: 65%"]
    assert lines[-1].endswith("loss=0.5")


def test_disabled_and_unknown_total():
    log = io.StringIO()
    with progress_bar(total=5, file=log, disable=True) as bar:
        bar.update(5)
    assert log.getvalue() == ""
    bar = LogProgress(iter(range(3)), desc="scan", file=log, every_seconds=3600)
    assert list(bar) == [0, 1, 2]
    assert log.getvalue().splitlines() == [log.getvalue().splitlines()[0]]
    assert log.getvalue().startswith("scan: (3 it,")


def test_a_terminal_gets_tqdm():
    from tqdm.auto import tqdm

    tty = _Tty()
    bar = progress_bar(total=3, file=tty)
    assert isinstance(bar, tqdm)
    bar.close()


def test_library_bars_are_silent_in_a_quiet_block_and_restored_after_it():
    import diffusers.utils.logging as diffusers_logging
    import transformers.utils.logging as transformers_logging

    from ffbench.progress import quiet_libraries

    transformers_logging.enable_progress_bar()
    diffusers_logging.enable_progress_bar()
    with quiet_libraries():
        assert not transformers_logging.is_progress_bar_enabled()
        assert not diffusers_logging.is_progress_bar_enabled()
    assert transformers_logging.is_progress_bar_enabled() and diffusers_logging.is_progress_bar_enabled()


def test_a_generate_log_holds_lines_not_redraws(tmp_path):
    """`ffbench generate` over several images with stderr in a file: no carriage return, plain lines."""
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    for k in range(3):
        Image.fromarray(np.full((32, 24, 3), 40 * k, np.uint8)).save(images / f"p{k}.png")
    log = tmp_path / "log.txt"
    with log.open("w") as err:
        done = subprocess.run([sys.executable, "-m", "ffbench.cli", "generate", str(images), "--model",
                               "static", "-o", str(tmp_path / "out"), "--frames", "4", "--threads", "1"],
                              stdout=subprocess.DEVNULL, stderr=err, timeout=120)
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text
    assert "videos: 100% (3/3 video" in text


def test_scaled_units_read_as_tqdm_shows_them():
    log = io.StringIO()
    with progress_bar(desc="download", unit="B", unit_scale=True, file=log) as bar:
        bar.update(1013530)
    assert log.getvalue().startswith("download: (1.01MB, "), log.getvalue()


def test_every_bar_of_the_package_goes_through_progress_bar():
    """A bar made with tqdm directly redraws with carriage returns in a log file (the demo's eval did)."""
    import ast
    from pathlib import Path

    import ffbench

    root = Path(ffbench.__file__).parent
    direct = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "progress.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tqdm":
                direct.append(f"{path.relative_to(root)}:{node.lineno}")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "tqdm" for a in node.names):
                direct.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not direct, f"use ffbench.progress.progress_bar instead of tqdm in {direct}"
