"""`ffbench eval`: score generated videos against real ones into leaderboard CSVs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # `ffbench --help` imports no torch
    from ffbench.distributed import DistInfo


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give integers separated by commas, e.g. 0,1,2",
                                 param_hint="--seeds") from None
    if not seeds:
        raise click.BadParameter("give at least one seed, e.g. 0", param_hint="--seeds")
    return seeds


def default_dataset_name(real: str | Path) -> str:
    """The leaderboard name of a real set: the dataset folder's name.

    `DATA`, `DATA/shards`, `DATA/shards/test` and `DATA/test` (as `ffbench prepare --out DATA` lays them
    out) all give DATA's name; a manifest's `dataset` entry wins when there is one; any other folder gives
    its own name.
    """
    root = Path(real).expanduser().resolve()
    for folder in (root, root / "shards" / "test", root / "test"):
        manifest = folder / "manifest.json"
        if manifest.is_file():
            try:
                name = json.loads(manifest.read_text(encoding="utf-8")).get("dataset")
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                name = None
            if isinstance(name, str) and name and not any(c in name for c in "/\\") \
                    and not name.startswith("."):
                return name
    if root.name in ("train", "test", "val"):
        root = root.parent
    if root.name == "shards":
        root = root.parent
    return root.name or "dataset"


def format_results(results) -> str:
    """A plain-text table of MetricResults, one line each, grouped by family; random-init results say so.

    Diagnostics show the generated value, the real value and their ratio.
    """
    import math

    def num(v: float) -> str:
        return f"{v:.5g}" if math.isfinite(v) else "-"

    head = (f"{'metric':<16} {'value':>10} {'95% CI':>21} {'real':>9} {'ratio':>7} {'N real':>6} "
            f"{'N fake':>6} {'frames':>6}")
    lines = [head + "  extractor / flags"]
    for r in results:
        flags = f"  [{'; '.join(r.flags)}]" if r.flags else ""
        ci = f"[{num(r.ci_low)}, {num(r.ci_high)}]" if math.isfinite(r.ci_low) else "-"
        lines.append(f"{r.metric:<16} {num(r.value):>10} {ci:>21} {num(r.real_value):>9} {num(r.ratio):>7} "
                     f"{r.n_real:>6} {r.n_fake:>6} {r.frames:>6}  {r.extractor}{flags}")
    return "\n".join(lines)


def write_per_video(path: str | Path, results, method: str) -> int:
    """One CSV row per (metric, video): method, metric, family, protocol variant, id, value and, for
    diagnostics, the real video's value; written atomically. Returns the number of rows."""
    import csv
    import io

    from ffbench.fileio import write_text_atomic

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["method", "metric", "family", "variant", "video", "value", "real_value"])
    count = 0
    for r in results:
        variant = getattr(r.protocol, "variant", "")
        for vid, value in sorted(r.per_video.items()):
            real = r.per_video_real.get(vid, "")
            writer.writerow([method, r.metric, r.family, variant, vid, f"{value:.9g}",
                             f"{real:.9g}" if real != "" else ""])
            count += 1
    write_text_atomic(path, out.getvalue())
    return count


class _MetricOption(click.Option):
    """--metric, whose help lists the registered metrics (read when the help is shown, so a plugin that
    fails to import breaks only the commands that need it)."""

    def get_help_record(self, ctx: click.Context):
        from ffbench.metrics.registry import help_text

        self.help = help_text()
        return super().get_help_record(ctx)


def list_metrics() -> str:
    """One line per registered metric: name, family, direction, weights and what it sees."""
    from ffbench.metrics.registry import specs

    lines = []
    for s in specs():
        direction = "closer to real is better" if s.family == "diagnostic" else \
            ("higher is better" if s.higher_is_better else "lower is better")
        weights = "weight-free" if s.weight_free else f"weights: --{s.weights.replace('_', '-')}"
        lines.append(f"{s.name:<17} {s.family:<12} {direction:<25} {weights:<22} {s.help}")
    return "\n".join(lines)


def _print_metrics(ctx: click.Context, _param, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        try:
            click.echo(list_metrics())
        except ValueError as exc:  # a plugin named in FFBENCH_METRICS that does not import
            raise click.ClickException(str(exc)) from None
        ctx.exit()


@click.command("eval")
@click.option("--metric", cls=_MetricOption, default="all", show_default=True,
              help="(the registered metrics)")
@click.option("--list-metrics", is_flag=True, expose_value=False, is_eager=True, callback=_print_metrics,
              help="Print every metric (family, direction, weights, what it sees) and exit.")
@click.option("--real", required=True, type=click.Path(exists=True, file_okay=False),
              help="Real test videos: the folder `ffbench prepare --out` wrote (its shards/test is read), a "
                   "folder of WebDataset .tar shards, or a folder of mp4/gif files.")
@click.option("--fake", required=True, type=click.Path(exists=True, file_okay=False),
              help="Generated videos: a folder of <id>.mp4 files named after the real test videos "
                   "(shards here are refused: --real and --fake swapped).")
@click.option("--method", required=True, help="Method name for the leaderboard row, e.g. fashionflow.")
@click.option("--seeds", default="0", show_default=True,
              help="Comma-separated seeds (FVD/KVD clip starts, IS shuffle); value = mean, std over seeds.")
@click.option("--i3d", "i3d", default=None,
              help="Kinetics-400 I3D for FVD/KVD: i3d_pretrained_400.pt, a StyleGAN-V TorchScript file, "
                   "'stylegan-v', or 'random' (labelled random-init). Default: cached/downloaded file.")
@click.option("--i3d-vfid", "i3d_vfid", default=None,
              help="rgb_imagenet.pt I3D for VFID, or 'random'. Default: cached/downloaded file.")
@click.option("--inception", default=None,
              help="pytorch-fid's pt_inception-2015-12-05 weights for IS/FID, or 'random'. "
                   "Default: cached/downloaded file.")
@click.option("--dataset", default=None,
              help="Leaderboard file name; default: the dataset folder's name (DATA for DATA/shards/test).")
@click.option("--leaderboard-dir", default="leaderboard", show_default=True, type=click.Path(),
              help="Folder of <dataset>.csv files.")
@click.option("--run", "source_run", default=None, help="The run that produced --fake (default: --fake).")
@click.option("--cache-dir", default=None, type=click.Path(),
              help="Feature cache folder (.npz); default ~/.cache/ffbench/features.")
@click.option("--no-cache", is_flag=True, help="Do not read or write cached features.")
@click.option("--weights-dir", default=None, type=click.Path(file_okay=False),
              help="Where downloaded weights are kept; default ~/.cache/ffbench/weights.")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(1),
              help="Clips/frames per batch.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:1 or auto.")
@click.option("--max-items", default=None, type=click.IntRange(2), help="Cap on clips/videos per side.")
@click.option("--recal-items", default=64, show_default=True, type=click.IntRange(1),
              help="Real clips/videos/frames used to re-estimate BatchNorm of random extractors.")
@click.option("--no-leaderboard", is_flag=True, help="Print the results only; append nothing.")
@click.option("--threads", default=0, show_default=True, type=click.IntRange(0),
              help="CPU threads (0 = torch's default). On a busy machine 1 can be faster than 2.")
@click.option("--paired-protocol", type=click.Choice(["correct", "disco"]), default="correct",
              show_default=True,
              help="Paired metrics: correct float maths, or disco (the DisCo script's uint8 PSNR, grayscale "
                   "SSIM, LPIPS on [0, 1]) to set a number beside published UBC Fashion tables.")
@click.option("--paired-frames", default="1:", show_default=True,
              help="Generated frames compared with the real ones, START:STOP (frame 0 is the conditioning "
                   "frame).")
@click.option("--allow-missing", is_flag=True,
              help="Score paired metrics on the ids both folders have (recorded in the row) instead of "
                   "refusing a folder with missing or extra ids.")
@click.option("--per-video", "per_video", default=None, type=click.Path(dir_okay=False),
              help="Also write one CSV row per video and metric (paired metrics and diagnostics) to FILE. "
                   "The leaderboard keeps them anyway, in <leaderboard-dir>/per_video/<dataset>.csv, for "
                   "its paired \"better than\".")
@click.option("--bootstrap", default=200, show_default=True, type=click.IntRange(0),
              help="Bootstrap resamples over videos for the 95% intervals (0: none). Frechet distances on "
                   "large feature sets use fewer; the count used is in every row.")
@click.option("--lpips-vgg", "lpips_vgg", default=None, type=click.Path(dir_okay=False),
              help="torchvision's vgg16-397923af.pth for LPIPS. Default: torch's hub cache, then ffbench's "
                   "weights cache, then a download when online.")
@click.option("--stylegan-v-mirror", is_flag=True,
              help="fvd-stylegan-v: add every real video mirrored, as StyleGAN-V's --mirror 1.")
@click.option("--resize-fake", is_flag=True,
              help="Resize generated videos whose width x height differs from their real video's (another "
                   "size or aspect) to the real size, stretched, and flag every row so, instead of refusing "
                   "them.")
def evaluate(threads: int, device: str, **options) -> None:
    """Score generated videos against the real test set; append rows to the leaderboard.

    The generated folder is checked first (missing and extra ids, frame counts, sizes, fps; one report):
    a generated video of another size or aspect than its real video is refused (--resize-fake resizes it).
    Distribution metrics (generated set vs real set), paired metrics (each <id>.mp4 against the real
    video with that id) and weight-free diagnostics (generated vs real) each get a bootstrap 95% interval
    over videos; --metric lists them and --list-metrics says what each one sees. Under
    `torchrun --nproc_per_node=N -m ffbench.cli eval ...` the videos are split between the N processes
    (each on cuda:LOCAL_RANK, or the CPU; --threads is per process), gathered in id order before any
    statistic, and every value is the one a single process computes; the first process alone writes.

    \b
    Example:
      ffbench eval --metric fvd --real data/synthetic --fake runs/ff-cpu/samples --method fashionflow
      ffbench eval --metric all --real data/synthetic --fake runs/ff-cpu/samples --method fashionflow \\
          --i3d random --i3d-vfid random --inception random      # offline demo, labelled random-init
      ffbench eval --metric psnr,ssim,motion,flicker --real data/synthetic --fake runs/ff-cpu/samples \\
          --method fashionflow --per-video per_video.csv
    """
    from ffbench.devices import resolve_device
    from ffbench.distributed import cleanup_distributed, init_distributed
    from ffbench.errors import UserError
    from ffbench.threads import limit_threads

    limit_threads(threads)  # per process under torchrun
    device = resolve_device(device)  # `--device cuda` without a GPU fails now, before any weights load
    # Under torchrun each process joins the group (gloo on the CPU, NCCL on cuda:LOCAL_RANK) and scores its
    # share of the videos; without torchrun's variables this is one process, as before.
    info = init_distributed(device)
    try:
        _evaluate(info=info, device=str(info.device), **options)
    except (click.ClickException, UserError):
        # The same error on every process (a bad folder), or another's (`together`): the first prints it.
        if info.is_main or not info.distributed:
            raise
        raise SystemExit(1) from None
    finally:
        if info.distributed:
            cleanup_distributed()


def _evaluate(metric: str, real: str, fake: str, method: str, seeds: str, i3d: str | None,
              i3d_vfid: str | None, inception: str | None, dataset: str | None, leaderboard_dir: str,
              source_run: str | None,
              cache_dir: str | None, no_cache: bool, weights_dir: str | None, batch_size: int, device: str,
              max_items: int | None, recal_items: int, no_leaderboard: bool,
              paired_protocol: str, paired_frames: str, allow_missing: bool, per_video: str | None,
              bootstrap: int, lpips_vgg: str | None, stylegan_v_mirror: bool, resize_fake: bool,
              info: DistInfo) -> None:
    """The command on one process (of one, or of torchrun's group `info`: only the first one prints and
    writes the per-video CSV, the store and the leaderboard)."""
    from ffbench import interrupts
    from ffbench.errors import UserError, check_writable_dir
    from ffbench.feature_store import write_features
    from ffbench.leaderboard import append_rows, leaderboard_path, result_rows
    from ffbench.metrics.evaluate import evaluate as run_evaluate
    from ffbench.metrics.options import EvalOptions
    from ffbench.metrics.sources import open_real
    from ffbench.metrics.weights import WeightsError, default_cache_dir
    from ffbench.per_video_store import append_store, store_rows

    if not no_cache and cache_dir is None:
        cache_dir = str(default_cache_dir().parent / "features")
    name = dataset or default_dataset_name(real)
    # Outputs that cannot be written fail now, not after the features are computed.
    if not no_leaderboard:
        check_writable_dir(leaderboard_dir, "--leaderboard-dir")
    if not no_cache:
        check_writable_dir(cache_dir, "--cache-dir")
    if per_video:
        check_writable_dir(Path(per_video).resolve().parent, "--per-video")
    written = False
    with interrupts.catch_signals():
        try:
            try:
                options = EvalOptions(
                    seeds=tuple(_parse_seeds(seeds)), i3d=i3d, i3d_vfid=i3d_vfid, inception=inception,
                    lpips_vgg=lpips_vgg, batch_size=batch_size, device=device,
                    cache_dir=None if no_cache else cache_dir, weights_dir=weights_dir, max_items=max_items,
                    recal_items=recal_items, progress=info.is_main, paired_protocol=paired_protocol,
                    paired_frames=paired_frames, allow_missing=allow_missing, bootstrap=bootstrap,
                    stylegan_v_mirror=stylegan_v_mirror, resize_fake=resize_fake,
                    info=info if info.distributed else None)
                results = run_evaluate(metric, real, fake, options)
            except (WeightsError, ValueError, UserError) as exc:
                raise click.ClickException(str(exc)) from None
            if not info.is_main:  # every process has the same results; the first one reports and writes
                return
            if results.report:
                click.echo(results.report)
            click.echo(f"{method} on {name}: {fake} against {real}")
            click.echo(format_results(results))
            for skipped_metric, reason in results.skipped.items():
                click.echo(f"skipped {skipped_metric}: {reason}")
            if any(r.random_init for r in results):
                click.echo("random-init: randomly initialised extractors; these numbers compare methods "
                           "within one run only and are not FVD/FID/IS values.")
            interrupts.pause_point("eval-scored")
            interrupts.check()  # a signal swallowed while scoring: nothing is written
            # The per-video CSV and the leaderboard rows, both or neither: a signal waits for the writes.
            rows = result_rows(results, method, name, source_run or str(fake), str(real), str(fake))
            fingerprint = open_real(real).fingerprint()
            stored = store_rows(results, rows, fingerprint)
            # The per-video CSV, the kept features, the per-video store and the leaderboard rows, all or
            # none: a signal waits for the writes. Features and store go first: values without their row are
            # never read, a row without its values is judged by the old rule.
            with interrupts.deferred():
                count = write_per_video(per_video, results, method) if per_video else None
                if not no_leaderboard:
                    write_features(leaderboard_dir, results, rows, fingerprint)
                    append_store(leaderboard_dir, name, stored)
                board = None if no_leaderboard else append_rows(leaderboard_path(leaderboard_dir, name), rows)
                written = True
        except KeyboardInterrupt as err:
            _interrupted(err, written, None if no_leaderboard else leaderboard_path(leaderboard_dir, name),
                         per_video)
    if count is not None:
        click.echo(f"wrote {count} per-video rows to {per_video}")
    if board is not None:
        click.echo(f"appended {len(results)} rows to {board}")


def _interrupted(err: KeyboardInterrupt, written: bool, board: Path | None, per_video: str | None) -> None:
    """Say what an interrupted eval left behind, then exit 128 + the signal number (SIGINT 130, SIGTERM
    143)."""
    from ffbench import interrupts

    err = interrupts.as_interrupted(err)
    if written:
        what = "after its results were written" + (f" to {board}" if board else "")
    else:
        outs = ([f"no rows were appended to {board}"] if board else []) + \
            ([f"{per_video} was not written"] if per_video else [])
        what = (f"before its results were written: {'; '.join(outs) or 'nothing was written'}; the feature "
                "cache holds only complete entries, so running the same command again reuses them")
    click.echo(f"eval interrupted by {err.name} {what}", err=True)
    raise SystemExit(err.exit_code) from None
