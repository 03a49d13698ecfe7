"""A contact sheet of generated videos: one row per video, a few frames across, one PNG to look at.

    python bench/contact_sheet.py runs/imaginator/samples runs/static/samples -o sheet.png --videos 3

Each folder gives its first `--videos` mp4s (sorted by name, so folders generated from the same split line
up); each row shows frames 0, F/4, F/2, 3F/4 and F-1 of the first video's length F (a shorter video's
missing frames are grey), labelled with its folder and name. Frames are scaled to the first video's size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ffbench.report.media import contact_sheet as sheet  # noqa: E402
from ffbench.video import read_video  # noqa: E402


def contact_sheet(folders: list[Path], videos: int = 3, columns: int = 5) -> Image.Image:
    """One row per video of each folder, `columns` evenly spaced frames of the first video's length."""
    rows = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.mp4"))[:videos]:
            frames = read_video(path)
            rows.append((f"{Path(folder).parent.name}/{Path(folder).name}\n{path.stem}\n"
                         f"{len(frames)} frames", frames))
    if not rows:
        raise SystemExit(f"no mp4 files in {', '.join(map(str, folders))}")
    picks = np.linspace(0, len(rows[0][1]) - 1, columns).round().astype(int)
    return sheet(rows, sorted({int(p) for p in picks}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders of generated mp4s")
    parser.add_argument("-o", "--out", type=Path, default=Path("contact_sheet.png"), help="PNG to write")
    parser.add_argument("--videos", type=int, default=3, help="videos per folder")
    parser.add_argument("--columns", type=int, default=5, help="frames per video")
    args = parser.parse_args()
    contact_sheet(args.folders, args.videos, args.columns).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
