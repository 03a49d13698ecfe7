"""`ffbench report`: the whole comparison as one folder that opens from disk (`report/index.html`).

The report is read off what `ffbench eval` recorded: the leaderboard rows name, for every method, the
folder of generated videos they scored (`fake`) and the real set (`real`). The page reads top down:

1. the summary: methods x headline metrics (FVD, FID, fvmd-flow, PSNR, SSIM, LPIPS, L1, those present),
   the best of each column in bold, ">B,C" for the methods a value is significantly better than (the
   leaderboard's verdict, with the per-video store beside it: the paired difference with Holm), every
   flag a footnote mark explained once under the table;
2. per test video a row of players (real and every method; each with a poster PNG beside its mp4 and
   nothing loaded until played) and a contact sheet PNG (`sheets/`);
3. one bar chart per metric with its 95% intervals, and the diagnostics' curves over frames, each method
   beside the real videos (matplotlib PNGs in `plots/`);
4. the details: the methods' folders, the remaining flags, the full leaderboard tables (distribution,
   paired, diagnostics) with intervals and protocol lines, the published table, and the five worst
   videos of each method by paired PSNR (frames 1..F-1, as `eval` scores them).

Videos are copied into `videos/<method>/`, so the folder can be moved or zipped. It is written under a
temporary name and renamed into place: an interrupted run leaves the previous report as it was.
"""

from ffbench.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
