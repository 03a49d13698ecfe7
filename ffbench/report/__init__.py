"""`ffbench report`: the whole comparison as one folder that opens from disk (`report/index.html`).

The report is read off what `ffbench eval` recorded: the leaderboard rows name, for every method, the
folder of generated videos they scored (`fake`) and the real set (`real`). From them it writes

- the leaderboard tables (distribution, paired, diagnostics) with intervals, protocol lines and flags;
- one bar chart per metric with its 95% intervals, and the diagnostics' curves over frames, each method
  beside the real videos (matplotlib PNGs in `plots/`);
- per test video a row of players (real and every method) and a contact sheet PNG (`sheets/`);
- the five worst videos of each method by paired PSNR (frames 1..F-1, as `eval` scores them).

Videos are copied into `videos/<method>/`, so the folder can be moved or zipped. It is written under a
temporary name and renamed into place: an interrupted run leaves the previous report as it was.
"""

from ffbench.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
