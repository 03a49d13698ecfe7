"""A small world of real ffbench outputs at the cpu preset's frame size, built by the CLI itself.

`build_world(root)` takes the path a user with their own small video set takes (issue 9, Deliver 5):

1. `source/`: 3 train + 1 test synthetic videos, 18 frames at 128x96, laid out like a `--source DIR`;
2. `vae/`: a randomly initialised downsample-4 AutoencoderKL, standing in for the tiny VAE of another
   prepared dataset (fewer than 8 videos cannot train their own);
3. `data/`: `ffbench prepare --source source --vae vae --preset cpu --threads 1 --quiet`;
4. `run/`: `ffbench train fashionflow --shards data --preset cpu --steps 1`, exporting `run/pipeline`,
   with snapshots of the data folder before and after training (training must not write into it).

Everything is shared by the session: tests that change a file copy it first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

TRAIN_ARGS = ("--preset", "cpu", "--steps", "1", "--batch-size", "1", "--checkpoint-every", "1",
              "--ema-decay", "0", "--threads", "1", "--no-progress")


@dataclass
class World:
    root: Path
    source: Path
    vae: Path
    data: Path
    run: Path
    prepare: Result
    train: Result
    data_before_train: dict[str, tuple[int, int]]
    data_after_train: dict[str, tuple[int, int]]

    @property
    def pipeline(self) -> Path:
        return self.run / "pipeline"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file and folder under `folder`."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.stat()
            out[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


def cli(*args: str) -> Result:
    from ffbench.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def build_world(root: Path) -> World:
    import torch
    from diffusers import AutoencoderKL

    from ffbench.synthetic import make_dataset

    source, vae, data, run = root / "source", root / "vae", root / "data", root / "run"
    make_dataset(source, n_train=3, n_test=1, frames=18, height=128, width=96, workers=1, progress=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                      block_out_channels=(8, 16, 16), layers_per_block=1, latent_channels=4,
                      norm_num_groups=8, sample_size=128).save_pretrained(vae)
    prepared = cli("prepare", "--source", source, "--vae", vae, "--preset", "cpu", "--out", data,
                   "--threads", "1", "--quiet")
    assert prepared.exit_code == 0, prepared.output
    for lock in (data / ".prepare.lock", data / "encoders" / "clip.lock"):  # as a copied or shared dataset
        lock.unlink()
    before = snapshot(data)
    trained = cli("train", "fashionflow", "--shards", data, "--out", run, *TRAIN_ARGS)
    return World(root, source, vae, data, run, prepared, trained, before, snapshot(data))
