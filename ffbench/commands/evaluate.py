"""`ffbench eval`: score generated videos against real ones into leaderboard CSVs."""

from __future__ import annotations

import json
from pathlib import Path

import click


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
    """The manifest's dataset name, else the dataset's folder name: for DATA/shards/test, DATA/shards or
    DATA (written by `ffbench prepare --out DATA`) that is DATA's name, never "shards" or "test"."""
    root = Path(real).resolve()
    manifest = root / "manifest.json"
    if manifest.is_file():
        try:
            name = json.loads(manifest.read_text(encoding="utf-8")).get("dataset")
        except (OSError, ValueError):
            name = None
        if isinstance(name, str) and name and "/" not in name:
            return name
    if root.name in ("train", "test", "val") and root.parent.name:
        root = root.parent
    if root.name == "shards" and root.parent.name:
        root = root.parent
    return root.name or "dataset"


def format_results(results) -> str:
    """A plain-text table of MetricResults, one line each; random-init results say so."""
    head = f"{'metric':<6} {'value':>12} {'std':>9} {'N real':>7} {'N fake':>7} {'frames':>7}"
    lines = [head + "  extractor / flags"]
    for r in results:
        flags = f"  [{'; '.join(r.flags)}]" if r.flags else ""
        lines.append(f"{r.metric:<6} {r.value:>12.5g} {r.std:>9.3g} {r.n_real:>7} {r.n_fake:>7} {r.frames:>7}"
                     f"  {r.extractor}{flags}")
    return "\n".join(lines)


@click.command("eval")
@click.option("--metric", default="all", show_default=True,
              help="fvd, vfid, is, fid, kvd, a comma list, or all.")
@click.option("--real", required=True, type=click.Path(exists=True, file_okay=False),
              help="Real videos: a folder of mp4/gif files or of WebDataset .tar shards, or a dataset root "
                   "written by `ffbench prepare --out` (its shards/test is read).")
@click.option("--fake", required=True, type=click.Path(exists=True, file_okay=False),
              help="Generated videos: a folder of mp4/gif files.")
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
              help="Leaderboard file name. [default: the dataset's folder name, e.g. synthetic for "
                   "data/synthetic/shards/test]")
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
def evaluate(metric: str, real: str, fake: str, method: str, seeds: str, i3d: str | None,
             i3d_vfid: str | None, inception: str | None, dataset: str | None, leaderboard_dir: str,
             source_run: str | None,
             cache_dir: str | None, no_cache: bool, weights_dir: str | None, batch_size: int, device: str,
             max_items: int | None, recal_items: int, no_leaderboard: bool, threads: int) -> None:
    """Score generated videos with FVD, VFID-I3D, IS, FID and KVD; append rows to the leaderboard.

    \b
    Example:
      ffbench eval --metric fvd --real data/synthetic --fake runs/ff-cpu/samples --method fashionflow
      ffbench eval --metric all --real data/synthetic/shards/test --fake runs/ff-cpu/samples \\
          --method fashionflow --i3d random --i3d-vfid random --inception random  # offline, random-init
    """
    import torch

    from ffbench.devices import resolve_device
    from ffbench.errors import ensure_writable_dir
    from ffbench.leaderboard import append_rows, leaderboard_path, result_rows
    from ffbench.metrics.evaluate import evaluate as run_evaluate
    from ffbench.metrics.sources import check_real_fake
    from ffbench.metrics.weights import WeightsError, default_cache_dir

    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(device)
    if not no_cache and cache_dir is None:
        cache_dir = str(default_cache_dir().parent / "features")
    name = dataset or default_dataset_name(real)
    check_real_fake(real, fake)  # swapped --real/--fake, empty folders: refused before any scoring
    # Outputs that cannot be written fail now, not after the features are computed.
    if not no_leaderboard:
        ensure_writable_dir(leaderboard_dir, "--leaderboard-dir")
    if not no_cache:
        ensure_writable_dir(cache_dir, "--cache-dir")
    try:
        results = run_evaluate(metric, real, fake, seeds=_parse_seeds(seeds), i3d=i3d, i3d_vfid=i3d_vfid,
                               inception=inception, batch_size=batch_size, device=device,
                               cache_dir=None if no_cache else cache_dir, weights_dir=weights_dir,
                               max_items=max_items, recal_items=recal_items, progress=True)
    except (WeightsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{method} on {name}: {fake} against {real}")
    click.echo(format_results(results))
    if any(r.random_init for r in results):
        click.echo("random-init: randomly initialised extractors; these numbers compare methods within "
                   "one run only and are not FVD/FID/IS values.")
    if not no_leaderboard:
        path = append_rows(leaderboard_path(leaderboard_dir, name),
                           result_rows(results, method, name, source_run or str(fake), str(real), str(fake)))
        click.echo(f"appended {len(results)} rows to {path}")
