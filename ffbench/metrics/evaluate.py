"""Run the named metrics on a real and a fake video source; one `MetricResult` per metric.

    results = evaluate("all", "data/synthetic/shards/test", "runs/ff/samples", i3d="random", ...)

Order of work: the generated folder is checked against the real set (`validation`: ids, frame counts,
sizes, fps; one report, raised as `FolderMismatchError` when fatal), then each family runs on the shared
pieces:

- distribution metrics with a network (fvd and its StyleGAN-V / cd-fvd variants, kvd, vfid, fid, is):
  `distribution`, over the feature cache;
- weight-free diagnostics and fvmd-flow: one flow analysis per video (`video_analysis`, cached),
  then `diagnostics`;
- paired metrics (psnr, ssim, l1, lpips): `paired`, on the ids both folders have.

Every row gets a seeded bootstrap 95% interval over videos (`bootstrap`). A `generation.json` in the fake
folder (written by `ffbench generate`) may carry `flags` (for example "privileged-input: ground-truth
flow"); they are copied into every row. LPIPS without its ImageNet backbone is an error when asked for by
name and skipped, with the reason, under `all`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ffbench import interrupts
from ffbench.errors import UserError
from ffbench.metrics.bootstrap import DEFAULT_RESAMPLES
from ffbench.metrics.distribution import evaluate_distribution
from ffbench.metrics.i3d import MIN_FRAMES
from ffbench.metrics.protocols import (
    DIAGNOSTICS,
    FLOW_DISTRIBUTION,
    FVD_ALL,
    METRICS,
    PAIRED,
    PROTOCOLS,
    Protocol,
)
from ffbench.metrics.results import MetricResult, ResultList
from ffbench.metrics.sources import GENERATION_FILE, open_fake, open_real
from ffbench.metrics.validation import dedup_source, source_ids, validate_fake
from ffbench.metrics.weights import WeightsError

__all__ = ["MetricResult", "ResultList", "evaluate", "parse_metrics", "read_generation_flags"]


def parse_metrics(metric: str | Sequence[str]) -> list[str]:
    """'all', 'fvd-all', 'fvd', 'fvd,psnr' or a list -> validated metric names in canonical order."""
    names = metric.split(",") if isinstance(metric, str) else list(metric)
    names = [n.strip().lower() for n in names if n.strip()]
    if "all" in names:
        return list(METRICS)
    if "fvd-all" in names:
        names = [n for n in names if n != "fvd-all"] + list(FVD_ALL)
    bad = [n for n in names if n not in METRICS]
    if bad or not names:
        raise ValueError(f"--metric {metric!r}: unknown metric {bad[0] if bad else ''!r}; "
                         f"choose from {', '.join(METRICS)}, fvd-all or all")
    return [m for m in METRICS if m in names]


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


def evaluate(metrics: str | Sequence[str], real: str | Path, fake: str | Path, seeds: Sequence[int] = (0,),
             i3d: str | None = None, i3d_vfid: str | None = None, inception: str | None = None,
             batch_size: int = 8, device: str = "cpu", cache_dir: str | Path | None = None,
             weights_dir: str | Path | None = None, protocols: dict[str, Protocol] | None = None,
             max_items: int | None = None, recal_items: int = 64, progress: bool = False,
             paired_protocol: str = "correct", paired_frames: str = "1:", allow_missing: bool = False,
             lpips_vgg: str | None = None, bootstrap: int = DEFAULT_RESAMPLES,
             stylegan_v_mirror: bool = False, resize_fake: bool = False) -> ResultList:
    """Score the videos in `fake` against those in `real` with each metric.

    Args:
        metrics: names (see `protocols.METRICS`), "fvd-all" (the three FVD protocols) or "all".
        real, fake: folders of mp4/gif files, or (real) of WebDataset shards with an `mp4` key.
        seeds: clip-start / IS-shuffle seeds; value = mean over seeds, std = their standard deviation;
            the first seed also seeds the bootstrap.
        i3d, i3d_vfid, inception: weight files, None to use/download the canonical files, or "random".
        protocols: replacements for the named protocols (tests shrink the input size).
        max_items: cap on units per side (default: the protocol's own cap).
        recal_items: real units used to re-estimate BatchNorm statistics of random extractors.
        paired_protocol: "correct" or "disco" (see `paired`); paired_frames: slice of generated frames.
        allow_missing: score paired metrics on the ids both folders have instead of refusing.
        lpips_vgg: torchvision's vgg16-397923af.pth for LPIPS (default: torch's cache, then download).
        bootstrap: resamples for the 95% intervals (0: no intervals).
        stylegan_v_mirror: fvd-stylegan-v adds every real video mirrored, as StyleGAN-V's `--mirror 1`.
        resize_fake: resize generated videos whose size differs from their real video's to the real size
            (flagged in every row) instead of refusing them.

    Returns:
        a ResultList of MetricResults in canonical order; `.skipped` holds metrics left out of "all" and
        why; `.report` the folder report's text when the folders did not match exactly.
    """
    names = parse_metrics(metrics)
    raw = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    # Metrics named one by one must run; under "all" the ones that cannot are skipped with the reason.
    explicit = set() if "all" in [m.strip().lower() for m in raw] else set(names)
    if not seeds:
        raise ValueError("seeds must hold at least one seed, e.g. --seeds 0")
    if bootstrap < 0:
        raise ValueError(f"--bootstrap {bootstrap}: give 0 (no intervals) or a number of resamples")
    table = {**PROTOCOLS, **(protocols or {})}
    if stylegan_v_mirror:
        table["fvd-stylegan-v"] = table["fvd-stylegan-v"].replace(mirror=True)
    fake_src = dedup_source(open_fake(fake, real))  # first: a swapped pair is named as such
    real_src = open_real(real)
    needs_i3d = any(n in table and table[n].network == "i3d" for n in names)
    report = validate_fake(real_src, fake_src, MIN_FRAMES if needs_i3d else 2)
    paired = [n for n in names if n in PAIRED]
    refused_sizes = bool(report.real_size) and not resize_fake
    if report.fatal(allow_missing, resize_fake) and (report.problems or refused_sizes or paired):
        from ffbench.metrics.validation import FolderMismatchError

        raise FolderMismatchError(report.format(allow_missing, resize_fake))
    flags = read_generation_flags(fake)  # a broken generation.json fails before any feature is computed
    if report.real_size and resize_fake:
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
            return _evaluate(names, explicit, table, real_src, fake_src, report, seeds, i3d, i3d_vfid,
                             inception, batch_size, device, cache_dir, weights_dir, max_items, recal_items,
                             progress, paired, paired_protocol, paired_frames, allow_missing, lpips_vgg,
                             bootstrap, [report.resize_flag(), *flags])
        finally:
            shutil.rmtree(resized, ignore_errors=True)
    return _evaluate(names, explicit, table, real_src, fake_src, report, seeds, i3d, i3d_vfid, inception,
                     batch_size, device, cache_dir, weights_dir, max_items, recal_items, progress, paired,
                     paired_protocol, paired_frames, allow_missing, lpips_vgg, bootstrap, flags)


def _evaluate(names, explicit, table, real_src, fake_src, report, seeds, i3d, i3d_vfid, inception, batch_size,
              device, cache_dir, weights_dir, max_items, recal_items, progress, paired, paired_protocol,
              paired_frames, allow_missing, lpips_vgg, bootstrap, flags: list[str]) -> ResultList:
    """The scoring half of `evaluate`, on checked sources; `flags` go into every row."""
    skipped: dict[str, str] = {}
    results: list[MetricResult] = []
    seed = seeds[0]
    lpips_model = None
    if "lpips" in paired:  # before any long work: a missing backbone named by --metric fails at once
        from ffbench.metrics.perceptual import load_lpips

        try:
            lpips_model = load_lpips(lpips_vgg, weights_dir)
        except WeightsError as exc:
            if "lpips" in explicit:
                raise
            skipped["lpips"] = str(exc)
            paired.remove("lpips")

    dist = [table[n] for n in names if n in table]
    if dist:
        results += evaluate_distribution(dist, real_src, fake_src, seeds, i3d, i3d_vfid, inception,
                                         batch_size, device, cache_dir, weights_dir, max_items, recal_items,
                                         progress, bootstrap)
    interrupts.pause_point("eval-distribution-done")  # test hook: stop between two families
    flow_metrics = [n for n in names if n in DIAGNOSTICS or n in FLOW_DISTRIBUTION]
    if flow_metrics:
        results += _flow_metrics(flow_metrics, explicit, real_src, fake_src, report, cache_dir, progress,
                                 bootstrap, seed, skipped)
    if paired:
        results += _paired(paired, explicit, real_src, fake_src, report, paired_protocol, paired_frames,
                           lpips_model, progress, bootstrap, seed, skipped)

    for r in results:
        r.flags += [f for f in flags if f not in r.flags]
    order = {m: i for i, m in enumerate(METRICS)}
    return ResultList(sorted(results, key=lambda r: order[r.metric]), skipped,
                      report.format(allow_missing, resize_fake=True) if report.has_id_problems else "")


def _flow_metrics(names: list[str], explicit: set[str], real_src, fake_src, report, cache_dir, progress: bool,
                  resamples: int, seed: int, skipped: dict[str, str]) -> list[MetricResult]:
    from ffbench.metrics.diagnostics import analyse_set, diagnostic_result, fvmd_result

    real_items, _ = source_ids(real_src)
    fake_items, _ = source_ids(fake_src)
    fake = analyse_set(fake_items, report.frames, report.size, cache_dir, progress, "generated")
    real = analyse_set(real_items, report.frames, report.size, cache_dir, progress, "real")
    out = []
    for name in names:
        if name == "fvmd-flow":
            try:
                out.append(fvmd_result(fake, real, report.frames, report.size, resamples, seed))
            except ValueError as exc:  # videos too short for one 16-frame segment
                if name in explicit:
                    raise
                skipped[name] = str(exc)
        else:
            out.append(diagnostic_result(name, fake, real, report.frames, report.size, resamples, seed))
    return out


def _paired(names: list[str], explicit: set[str], real_src, fake_src, report, variant: str, frames: str,
            lpips_model, progress: bool, resamples: int, seed: int,
            skipped: dict[str, str]) -> list[MetricResult]:
    import numpy as np

    from ffbench.metrics import bootstrap
    from ffbench.metrics.paired import PairedProtocol, paired_scores

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
    scores, info = paired_scores(real_items, fake_items, ids, names, variant, frames, lpips_model, progress)
    lo_f, hi_f = info["frames_compared"]
    out = []
    for name in names:
        per_video = scores[name]
        values = np.array(list(per_video.values()))
        lo, hi = bootstrap.mean_interval(values, resamples, seed)
        flags = [report.id_flag()] if report.has_id_problems else []
        if variant == "disco":
            flags.append("disco protocol: reproduces the DisCo script's bugs, comparable with published "
                         "tables only")
        if name == "psnr" and info["psnr_capped"]:
            flags.append(f"{info['psnr_capped']} identical frame pairs: PSNR capped at 100 dB")
        if name == "lpips":
            label, sha = lpips_model.label, lpips_model.sha256
        else:
            from ffbench.metrics.results import WEIGHT_FREE_LABEL

            label, sha = f"{WEIGHT_FREE_LABEL}: scikit-image / OpenCV", f"{WEIGHT_FREE_LABEL}:paired"
        detail = {"bootstrap": {"resamples": resamples, "over": "videos", "seed": seed},
                  "frames_compared": [lo_f, hi_f]}
        if name == "lpips":
            detail["lin_sha256"] = lpips_model.lin_sha256
        out.append(MetricResult(
            metric=name, value=float(values.mean()), std=float(values.std()), per_seed=[float(values.mean())],
            seeds=[seed], n_real=len(values), n_fake=len(values), n_real_videos=len(values),
            n_fake_videos=len(values), frames=str(lo_f) if lo_f == hi_f else f"{lo_f}-{hi_f}", unit="video",
            protocol=PairedProtocol(name, variant, frames), extractor=label, extractor_sha256=sha,
            flags=flags, detail=detail, ci_low=lo, ci_high=hi, n_boot=resamples, per_video=per_video))
    return out
