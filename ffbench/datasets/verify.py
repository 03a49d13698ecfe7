"""Checks that a downloaded body is a real video, each failure with a short status for the report.

The order matters for useful reports: the HTTP headers are judged first (a `text/*` content type is an
error page whatever the body), then the first bytes are sniffed (an HTML page served as `video/mp4`),
then the size is compared with what the server promised, and only then is the file decoded with
`ffbench.video.probe_video`, which opens it and decodes its first and last frames.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ffbench.video import VideoError, VideoInfo, probe_video

# Content types that can only be an error page or a document, never a video.
_DOCUMENT_TYPES = ("text/", "application/xhtml", "application/json", "application/xml", "application/problem")
_HTML_STARTS = (b"<!doctype", b"<html", b"<head", b"<body", b"<?xml", b"<title", b"<meta", b"<!--")


class VerifyError(ValueError):
    """A body that failed verification; `status` is the short code written to download_report.csv."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


def check_content_type(content_type: str | None) -> None:
    """Raise VerifyError("wrong_content_type") for a text/HTML/JSON/XML content type.

    A missing type, `video/*` and `application/octet-stream` pass: the body is judged by its bytes.
    """
    if not content_type:
        return
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime.startswith(_DOCUMENT_TYPES):
        raise VerifyError(
            "wrong_content_type", f"the server sent Content-Type {content_type!r}, not a video"
        )


def sniff_body(head: bytes) -> str | None:
    """Classify the first bytes of a body: "html", "text" or None (binary, possibly a video)."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith(_HTML_STARTS):
        return "html"
    if stripped.startswith((b"{", b"[")):
        return "text"
    # Video containers have NUL bytes in their first few hundred bytes (box sizes); text has none.
    if head and b"\x00" not in head[:512] and all(b >= 9 for b in head[:512]):
        return "text"
    return None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_video_file(path: Path, expected_size: int | None = None) -> VideoInfo:
    """Verify that `path` holds a decodable video with frames; return its probed geometry.

    Raises VerifyError with status "empty", "html_body", "text_body", "size_mismatch", "decode_error"
    or "no_frames".
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise VerifyError("empty", "the body is empty (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(512)
    kind = sniff_body(head)
    if kind is not None:
        preview = head[:60].decode("utf-8", "replace").strip().replace("\n", " ")
        raise VerifyError(f"{kind}_body", f"the body is {kind.upper()}, not a video (starts {preview!r})")
    if expected_size is not None and size != expected_size:
        raise VerifyError("size_mismatch", f"got {size} bytes, the server announced {expected_size}")
    try:
        info = probe_video(path)
    except VideoError as exc:
        raise VerifyError("decode_error", f"does not decode as a video: {exc}") from None
    if info.num_frames <= 0 or info.width <= 0 or info.height <= 0:
        geometry = f"{info.num_frames} frames of {info.width}x{info.height}"
        raise VerifyError("no_frames", f"the video has {geometry}")
    return info
