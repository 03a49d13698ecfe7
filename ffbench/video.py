"""Video I/O, the one module every part of ffbench reads and writes videos through.

Reading uses decord (frame-accurate `get_batch`, about twice as fast as PyAV here); writing uses PyAV
(H.264 in mp4, and GIF). Frames are always uint8 arrays shaped (F, H, W, 3), RGB.

Every failure to read (missing, empty, truncated or non-video file) raises `VideoError`, whose message
names the file and what is wrong, so callers can catch one type and report it.
"""

from __future__ import annotations

import functools
import io
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ffbench import fileio
from ffbench.errors import UserError

VideoSource = str | os.PathLike | bytes


class VideoError(UserError, ValueError):
    """A file or byte string that is not a readable video; the message names the source and the problem."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    num_frames: int


def _describe(src: VideoSource) -> str:
    if isinstance(src, bytes):
        return f"<{len(src)} bytes in memory>"
    return str(src)


def _decord():
    """Import decord once, silencing its C++/FFmpeg log lines: our errors say what went wrong."""
    import decord

    decord.logging.set_level(decord.logging.QUIET)
    return decord


def _open_reader(src: VideoSource):
    """Open a decord VideoReader on a path or bytes, turning every failure into a VideoError."""
    decord = _decord()

    name = _describe(src)
    if isinstance(src, bytes):
        if not src:
            raise VideoError(f"{name}: empty byte string, not a video")
        handle = io.BytesIO(src)
    else:
        path = Path(src)
        if not path.exists():
            raise VideoError(f"{name}: no such file")
        if path.is_dir():
            raise VideoError(f"{name}: is a directory, not a video file")
        if path.stat().st_size == 0:
            raise VideoError(f"{name}: empty file (0 bytes); delete it and download or write it again")
        handle = str(path)
    head = src[:512] if isinstance(src, bytes) else _read_head(Path(src))
    if sniff_body(head) is not None:
        raise VideoError(
            f"{name}: contains text or HTML, not video data (often an HTTP error page saved as a video); "
            "delete it and download it again"
        )
    try:
        reader = decord.VideoReader(handle, ctx=decord.cpu(0), num_threads=1)
    except (RuntimeError, decord.DECORDError) as exc:  # both carry decord's C++ log text
        raise VideoError(f"{name}: cannot be opened as a video ({_first_line(exc)}); the file is corrupt, "
                         "truncated or not a video") from None
    if len(reader) == 0:
        raise VideoError(f"{name}: the video has no frames")
    return reader


def _read_head(path: Path, n: int = 512) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


_HTML_STARTS = (b"<!doctype", b"<html", b"<head", b"<body", b"<?xml", b"<title", b"<meta", b"<!--")


def sniff_body(head: bytes) -> str | None:
    """Classify the first bytes of a file: "html", "text" or None (binary, possibly a video)."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith(_HTML_STARTS):
        return "html"
    if stripped.startswith((b"{", b"[")):
        return "text"
    # Video containers have NUL bytes in their first few hundred bytes (box sizes); text has none.
    if head and b"\x00" not in head[:512] and all(b >= 9 for b in head[:512]):
        return "text"
    return None


def _first_line(exc: BaseException) -> str:
    """The first line of a decord error, without its timestamp and C++ source location."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    line = re.sub(r"^(\[[\d:]+\]\s*\S+:\d+:\s*)+", "", line)  # "[time] file.cc:218: ", often nested
    # "Check failed: <C++ expression> (-22 vs. 0) <message>": keep the message, not the C++ internals
    line = re.sub(r"^Check failed: .*? \(-?\d+ vs\. -?\d+\)\s*", "", line) or line
    return line[:160]


def probe_video(src: VideoSource, check_end: bool = True) -> VideoInfo:
    """Return width, height, fps and frame count read from the file itself.

    With `check_end` the last frame is decoded too, so a file truncated after its header (whose index
    still promises all frames) raises VideoError here rather than deep inside training.
    """
    if _is_gif(src):
        frames, fps = _read_with_pyav(src)
        return VideoInfo(width=frames.shape[2], height=frames.shape[1], fps=fps, num_frames=len(frames))
    reader = _open_reader(src)
    n = len(reader)
    height, width = _decode(reader, [0], src).shape[1:3]
    if check_end:
        _decode(reader, [n - 1], src)
    return VideoInfo(width=int(width), height=int(height), fps=float(reader.get_avg_fps()), num_frames=n)


def _decode(reader, indices: Sequence[int], src: VideoSource) -> np.ndarray:
    decord = _decord()
    try:
        return reader.get_batch(list(indices)).asnumpy()
    except (RuntimeError, decord.DECORDError) as exc:
        if "size must exactly match" in str(exc) or "from_size == to_size" in str(exc):
            # decord 0.6 mis-sizes its output buffer for some widths (16, 24, 48, 72): PyAV decodes them.
            frames = _read_with_pyav(src)[0]
            return frames[_checked_indices(indices, len(frames), src)]
        raise VideoError(f"{_describe(src)}: decoding failed ({_first_line(exc)}); the file is truncated or "
                         "corrupt: delete it and download or write it again") from None


def read_video(src: VideoSource, indices: Sequence[int] | None = None) -> np.ndarray:
    """Decode frames of a video from a path or from bytes.

    Args:
        src: a file path or the bytes of a video file.
        indices: frame numbers to decode (any order, repeats allowed); None decodes every frame.

    Returns:
        uint8 array (F, H, W, 3), RGB.
    """
    if _is_gif(src):
        frames = _read_with_pyav(src)[0]
        return frames if indices is None else frames[_checked_indices(indices, len(frames), src)]
    reader = _open_reader(src)
    return _decode(reader, _checked_indices(indices, len(reader), src), src)


def _checked_indices(indices: Sequence[int] | None, n: int, src: VideoSource) -> list[int]:
    if indices is None:
        return list(range(n))
    indices = [int(i) for i in indices]
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise VideoError(f"{_describe(src)}: frame index {bad[0]} out of range; the video has {n} frames")
    if not indices:
        raise ValueError("indices is empty; pass None to read every frame or at least one index")
    return indices


def _is_gif(src: VideoSource) -> bool:
    if isinstance(src, bytes):
        return src[:4] == b"GIF8"
    return Path(src).suffix.lower() == ".gif"


def _read_with_pyav(src: VideoSource) -> tuple[np.ndarray, float]:
    """Decode every frame with PyAV where decord cannot (GIFs, some widths); returns (frames, fps)."""
    import av

    name = _describe(src)
    if not isinstance(src, bytes) and not Path(src).is_file():
        raise VideoError(f"{name}: no such file")
    try:
        with av.open(io.BytesIO(src) if isinstance(src, bytes) else str(src)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 10)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.FFmpegError, IndexError, OSError) as exc:  # IndexError: no video stream
        raise VideoError(f"{name}: cannot be decoded ({_first_line(exc)})") from None
    if not frames:
        raise VideoError(f"{name}: the video has no frames")
    return np.stack(frames), fps


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be shaped (F, H, W, 3); got {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 in [0, 255]; got dtype {frames.dtype}")
    if frames.shape[0] == 0:
        raise ValueError("frames is empty; a video needs at least one frame")
    return frames


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = fileio.mkstemp(path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")  # umask mode
    os.close(fd)
    return Path(tmp)


# x264's names for the x86 instruction sets it may use, each with the numpy CPU feature(s) it needs.
_X264_X86_SETS = (
    ("MMX2", ("MMX", "SSE")), ("SSE", ("SSE",)), ("SSE2", ("SSE2",)), ("SSE3", ("SSE3",)),
    ("SSSE3", ("SSSE3",)), ("SSE4.1", ("SSE41",)), ("SSE4.2", ("SSE42",)), ("LZCNT", ("LZCNT",)),
    ("AVX", ("AVX",)), ("FMA3", ("FMA3",)), ("BMI1", ("BMI",)), ("BMI2", ("BMI2",)), ("AVX2", ("AVX2",)),
)


@functools.cache
def x264_asm() -> str | None:
    """The instruction sets x264 may use here: every one the CPU has up to AVX2, never AVX-512.

    x264's AVX-512 kernels read memory they never wrote: on an AVX-512 CPU the same frames encoded
    twice in one process gave different bitstreams (12 of 12 runs of a 128x96 clip all differed; with
    `asm=0`, or capped at AVX2, every run was identical). Capping keeps the SIMD speed (encoding
    without asm is 2.5-4x slower). None (x264 detects the CPU) off x86, where no such reads are known.
    """
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # a numpy without the private table: the portable C path is always deterministic
        return "0"
    if not features.get("SSE2"):
        return None
    return ",".join(name for name, needs in _X264_X86_SETS if all(features.get(n) for n in needs))


def _x264_params() -> dict[str, str]:
    asm = x264_asm()
    return {} if asm is None else {"x264-params": f"asm={asm}"}


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 30.0, crf: int = 18,
                preset: str = "veryfast") -> Path:
    """Write uint8 frames (F, H, W, 3) as an H.264 mp4, atomically (temporary name, then rename).

    H and W must be even (yuv420p). The same frames give the same bytes on every run, which keeps shard
    checksums reproducible: x264 runs single-threaded and without its AVX-512 kernels (see `x264_asm`).
    """
    import av

    frames = _check_frames(frames)
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"H.264 (yuv420p) needs even height and width; got {height}x{width}: resize or crop")
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            rate = _fps_fraction(fps)
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset, "threads": "1"} | _x264_params()
            stream.codec_context.thread_count = 1
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _fps_fraction(fps: float):
    from fractions import Fraction

    if not fps > 0:
        raise ValueError(f"fps must be positive; got {fps}")
    return Fraction(fps).limit_denominator(1001)


def encode_video(frames: np.ndarray, fps: float = 30.0, crf: int = 18) -> bytes:
    """Return the bytes of an H.264 mp4 of `frames` (for shards, which store videos in memory)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / "video.mp4", frames, fps=fps, crf=crf)
        return path.read_bytes()


def write_gif(path: str | os.PathLike, frames: np.ndarray, fps: float = 30.0) -> Path:
    """Write uint8 frames (F, H, W, 3) as a looping GIF, atomically.

    PyAV keeps every frame (Pillow merges identical consecutive frames, which would change the frame
    count of a frozen video). The fixed 3-3-2 palette makes GIFs previews: score the mp4.
    """
    import av

    frames = _check_frames(frames)
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        with av.open(str(tmp), mode="w", format="gif") as container:
            stream = container.add_stream("gif", rate=_fps_fraction(fps))
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "rgb8"
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
