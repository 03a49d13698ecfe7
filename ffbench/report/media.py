"""The report's pictures of the videos: copies for the players, contact sheets, and the worst videos."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ffbench.video import read_video

SHEET_FRAMES = (0, 3, 7, 11, 15)
LABEL_WIDTH = 96
LABEL_CHARS = 15  # of PIL's default font, in LABEL_WIDTH
LINE_HEIGHT = 11
GAP = 4


def copy_video(src: bytes | Path, dst: Path) -> None:
    """The mp4 at `dst` (bytes of a shard member, or a file copied)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(src, bytes | bytearray):
        dst.write_bytes(src)
    else:
        shutil.copyfile(src, dst)


def sheet_frames(count: int, wanted: tuple[int, ...] = SHEET_FRAMES) -> list[int]:
    """The frames a contact sheet shows: `wanted` where the video has them, else four spread evenly."""
    chosen = [f for f in wanted if f < count]
    if len(chosen) < min(3, count):
        chosen = sorted({int(round(x)) for x in np.linspace(0, count - 1, min(5, count))})
    return chosen


def _fit(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    if frame.shape[:2] == (height, width):
        return frame
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))


def _label_lines(name: str, max_lines: int) -> list[str]:
    """`name` wrapped to the label column (its own line breaks kept), at most `max_lines` lines."""
    lines = [part for line in name.split("\n") for part in textwrap.wrap(line, LABEL_CHARS) or [""]]
    return lines[:max_lines]


def contact_sheet(rows: list[tuple[str, np.ndarray | None]], frames: list[int]) -> Image.Image:
    """One PNG-ready image: a labelled row per (name, video uint8 (F, H, W, 3)) with the given frames,
    all scaled to the first video's size; a missing video or frame is left grey. A name may have line
    breaks; long lines wrap in the label column."""
    h, w = next(v for _, v in rows if v is not None).shape[1:3]
    sheet = Image.new("RGB", (LABEL_WIDTH + len(frames) * (w + GAP), 16 + len(rows) * (h + GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, f in enumerate(frames):
        draw.text((LABEL_WIDTH + j * (w + GAP) + 2, 2), f"frame {f}", fill="black")
    for i, (name, video) in enumerate(rows):
        y = 16 + i * (h + GAP)
        lines = _label_lines(name, max(1, h // LINE_HEIGHT))
        draw.text((2, y + (h - LINE_HEIGHT * len(lines)) // 2), "\n".join(lines), fill="black")
        for j, f in enumerate(frames):
            x = LABEL_WIDTH + j * (w + GAP)
            if video is None or f >= len(video):
                sheet.paste((200, 200, 200), (x, y, x + w, y + h))
            else:
                sheet.paste(Image.fromarray(_fit(video[f], h, w)), (x, y))
    return sheet


def poster_frame(count: int) -> int:
    """The still a player shows before it plays: the middle frame of the contact sheet (frame 0 is the
    conditioning image, the same for every method, so it would tell them apart by nothing)."""
    chosen = sheet_frames(count)
    return chosen[len(chosen) // 2]


def write_poster(video: np.ndarray, path: Path) -> Path:
    """`path` (a PNG beside the mp4): the poster frame of `video` uint8 (F, H, W, 3)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(video[poster_frame(len(video))]).save(path)
    return path


def decode(src: bytes | Path) -> np.ndarray:
    return read_video(src if isinstance(src, bytes | bytearray) else str(src))


def paired_psnr_l1(fake: np.ndarray, real: np.ndarray) -> tuple[float, float]:
    """Mean PSNR (dB) and L1 over frames 1..F-1 (the `correct` paired protocol `ffbench eval` uses)."""
    from ffbench.metrics.paired import parse_frames, score_pair

    scores = score_pair(fake, real, ["psnr", "l1"], "correct", parse_frames("1:"))
    return float(scores["psnr"].mean()), float(scores["l1"].mean())
