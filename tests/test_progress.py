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
