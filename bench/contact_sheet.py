"""A contact sheet of generated videos: one row per video, a few frames across, one PNG to look at.

    python bench/contact_sheet.py runs/imaginator/samples runs/static/samples -o sheet.png --videos 3

Each folder gives its first `--videos` mp4s (sorted by name, so folders generated from the same split line
up); each row shows frames 0, F/4, F/2, 3F/4 and F-1, labelled with the folder's name. Frames are scaled
to the first video's size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ffbench.video import read_video


def contact_sheet(folders: list[Path], videos: int = 3, columns: int = 5) -> Image.Image:
    """One row per video of each folder, `columns` evenly spaced frames per row."""
    rows, labels = [], []
    size = None
    for folder in folders:
        for path in sorted(Path(folder).glob("*.mp4"))[:videos]:
            frames = read_video(path)
            picks = np.linspace(0, len(frames) - 1, columns).round().astype(int)
            tiles = [Image.fromarray(frames[i]) for i in picks]
            size = size or tiles[0].size
            rows.append([t.resize(size) for t in tiles])
            name = f"{Path(folder).parent.name}/{Path(folder).name}/{path.stem}"
            labels.append(f"{name} ({len(frames)} frames)")
    if not rows:
        raise SystemExit(f"no mp4 files in {', '.join(map(str, folders))}")
    w, h = size
    label_h = 12
    sheet = Image.new("RGB", (w * columns, (h + label_h) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (tiles, label) in enumerate(zip(rows, labels, strict=True)):
        top = r * (h + label_h)
        draw.text((2, top), label, fill="black")
        for c, tile in enumerate(tiles):
            sheet.paste(tile, (c * w, top + label_h))
    return sheet


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
