"""Run the named metrics on a real and a fake video source; one `MetricResult` per metric.

    options = EvalOptions(i3d="random", i3d_vfid="random", inception="random", cache_dir="cache")
    results = evaluate("all", "data/synthetic/shards/test", "runs/ff/samples", options)
    evaluate("fvd", real, fake, options, seeds=(0, 1))   # keywords replace fields of the options

Which metrics exist and which family pass computes each: `registry`. Order of work: the generated folder is
checked against the real set (`validation`: ids, frame counts, sizes, fps; one report, raised as
`FolderMismatchError` when fatal), then each family runs on the shared pieces:

- runner "network" (fvd and its StyleGAN-V / cd-fvd variants, kvd, vfid, fid, is): `distribution`,
  over the feature cache;
- runners "diagnostic" and "flow-distance" (the diagnostics, fvmd-flow): one flow analysis per video
  (`video_analysis`, cached), then `diagnostics`;
- runner "paired" (psnr, ssim, l1, lpips): `paired`, on the ids both folders have.

Every row gets a seeded bootstrap 95% interval over videos (`bootstrap`). A `generation.json` in the fake
folder (written by `ffbench generate`) may carry `flags` (for example "privileged-input: ground-truth
flow"); they are copied into every row. LPIPS without its ImageNet backbone is an error when asked for by
name and skipped, with the reason, under `all`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ffbench import interrupts
from ffbench.errors import UserError
from ffbench.metrics.i3d import MIN_FRAMES
from ffbench.metrics.options import EvalOptions
from ffbench.metrics.protocols import PROTOCOLS
from ffbench.metrics.registry import get_metric, metric_names, parse_metrics
from ffbench.metrics.results import MetricResult, ResultList
from ffbench.metrics.sources import GENERATION_FILE, open_fake, open_real
from ffbench.metrics.validation import dedup_source, source_ids, validate_fake
from ffbench.metrics.weights import WeightsError

__all__ = ["EvalOptions", "MetricResult", "ResultList", "evaluate", "parse_metrics", "read_generation_flags"]


def read_generation_flags(fake: str | Path) -> list[str]:
    """The `flags` list of `<fake>/generation.json`, or [] when there is no such file."""
    path = Path(fake) / GENERATION_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not readable JSON ({exc}); rewrite it with `ffbench generate` or delete "
                        "it") from None
    flags = data.get("flags", []) if isinstance(data, dict) else None
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise UserError(f"{path}: 'flags' must be a list of strings, got {flags!r}")
    return flags


def evaluate(metrics: str | Sequence[str], real: str | Path, fake: str | Path,
             options: EvalOptions | None = None, **changes: Any) -> ResultList:
    """Score the videos in `fake` against those in `real` with each metric.

    Args:
        metrics: names (`registry.metric_names()`), a group such as "fvd-all", or "all".
        real, fake: folders of mp4/gif files, or (real) of WebDataset shards with an `mp4` key.
        options: how to score (`EvalOptions`; default: its defaults). `changes` replace some of its fields,
            e.g. `evaluate("fvd", real, fake, i3d="random")`.

    Returns:
        a ResultList of MetricResults in canonical order; `.skipped` holds metrics left out of "all" and
        why; `.report` the folder report's text when the folders did not match exactly.
    """
    o = (options or EvalOptions()).replace(**changes) if changes else (options or EvalOptions())
    names = parse_metrics(metrics)
    raw = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    # Metrics named one by one must run; under "all" the ones that cannot are skipped with the reason.
    explicit = set() if "all" in [m.strip().lower() for m in raw] else set(names)
    table = {**PROTOCOLS, **o.protocols}
    if o.stylegan_v_mirror:
        table["fvd-stylegan-v"] = table["fvd-stylegan-v"].replace(mirror=True)
    fake_src = dedup_source(open_fake(fake, real))  # first: a swapped pair is named as such
    real_src = open_real(real)
    specs = [get_metric(n) for n in names]
    needs_i3d = any(s.runner == "network" and table[s.name].network == "i3d" for s in specs)
    report = validate_fake(real_src, fake_src, MIN_FRAMES if needs_i3d else 2)
    paired = [s.name for s in specs if s.needs_pairs]
    refused_sizes = bool(report.real_size) and not o.resize_fake
    if report.fatal(o.allow_missing, o.resize_fake) and (report.problems or refused_sizes or paired):
        from ffbench.metrics.validation import FolderMismatchError

        raise FolderMismatchError(report.format(o.allow_missing, o.resize_fake))
    flags = read_generation_flags(fake)  # a broken generation.json fails before any feature is computed
    if report.real_size and o.resize_fake:
        import shutil
        import tempfile

        from ffbench.fileio import mkdtemp
        from ffbench.metrics.resizing import resized_copies
        from ffbench.metrics.sources import VideoSourceDir

        resized = mkdtemp(tempfile.gettempdir(), prefix="ffbench-resized-")
        try:
            sizes = {vid: real for vid, _, real in report.real_size}
            fake_src = VideoSourceDir(fake_src.root, "videos", resized_copies(fake_src.files, sizes, resized))
            report.size = next(iter(sizes.values()))
            return _evaluate(names, explicit, table, real_src, fake_src, report, o,
                             [report.resize_flag(), *flags])
        finally:
            shutil.rmtree(resized, ignore_errors=True)
    return _evaluate(names, explicit, table, real_src, fake_src, report, o, flags)


def _evaluate(names: list[str], explicit: set[str], table: dict, real_src, fake_src, report, o: EvalOptions,
              flags: list[str]) -> ResultList:
    """The scoring half of `evaluate`, on checked sources; each family runs on the metrics of its runner;
    `flags` go into every row."""
    from ffbench.metrics.distribution import evaluate_distribution

    skipped: dict[str, str] = {}
    results: list[MetricResult] = []
    runner = {n: get_metric(n).runner for n in names}
    paired = [n for n in names if runner[n] == "paired"]
    lpips_model = None
    weighted = [n for n in paired if get_metric(n).weights]
    if weighted:  # before any long work: a missing backbone named by --metric fails at once
        from ffbench.metrics.perceptual import load_lpips

        try:
            lpips_model = load_lpips(o.lpips_vgg, o.weights_dir)
        except WeightsError as exc:
            if explicit & set(weighted):
                raise
            skipped.update(dict.fromkeys(weighted, str(exc)))
            paired = [n for n in paired if n not in weighted]

    dist = [table[n] for n in names if runner[n] == "network"]
    if dist:
        results += evaluate_distribution(dist, real_src, fake_src, o)
    interrupts.pause_point("eval-distribution-done")  # test hook: stop between two families
    flow_metrics = [n for n in names if runner[n] in ("diagnostic", "flow-distance")]
    if flow_metrics:
        results += _flow_metrics(flow_metrics, explicit, real_src, fake_src, report, o, skipped)
    if paired:
        results += _paired(paired, explicit, real_src, fake_src, report, o, lpips_model, skipped)

    for r in results:
        r.flags += [f for f in flags if f not in r.flags]
    order = {m: i for i, m in enumerate(metric_names())}
    return ResultList(sorted(results, key=lambda r: order[r.metric]), skipped,
                      report.format(o.allow_missing, resize_fake=True) if report.has_id_problems else "")


def _flow_metrics(names: list[str], explicit: set[str], real_src, fake_src, report, o: EvalOptions,
                  skipped: dict[str, str]) -> list[MetricResult]:
    from ffbench.metrics.diagnostics import analyse_set, flow_result

    real_items, _ = source_ids(real_src)
    fake_items, _ = source_ids(fake_src)
    fake = analyse_set(fake_items, report.frames, report.size, o.cache_dir, o.progress, "generated", o.info)
    real = analyse_set(real_items, report.frames, report.size, o.cache_dir, o.progress, "real", o.info)
    out = []
    for name in names:
        try:
            out.append(flow_result(name, fake, real, report.frames, report.size, o.bootstrap, o.seed))
        except ValueError as exc:  # e.g. fvmd-flow on videos too short for one 16-frame segment
            if name in explicit or get_metric(name).runner != "flow-distance":
                raise
            skipped[name] = str(exc)
    return out


def _paired(names: list[str], explicit: set[str], real_src, fake_src, report, o: EvalOptions, lpips_model,
            skipped: dict[str, str]) -> list[MetricResult]:
    from ffbench.metrics.paired import paired_result, paired_scores

    ids = report.common
    if not ids:
        message = (f"paired metrics: no generated video in {report.fake} has the id of a real video in "
                   f"{report.real}; name each generated video after its real test video (<id>.mp4)")
        if explicit & set(names):
            raise UserError(message)
        skipped.update(dict.fromkeys(names, message))
        return []
    real_items, _ = source_ids(real_src)
    fake_items, _ = source_ids(fake_src)
    scores, info = paired_scores(real_items, fake_items, ids, names, o.paired_protocol, o.paired_frames,
                                 lpips_model, o.progress, o.info)
    flags = [report.id_flag()] if report.has_id_problems else []
    return [paired_result(name, scores[name], info["frames_compared"], info["psnr_capped"], o.paired_protocol,
                          o.paired_frames, lpips_model, o.bootstrap, o.seed, flags) for name in names]
