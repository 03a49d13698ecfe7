"""Checks that a downloaded body is a real video, each failure with a short status for the report.

The order matters for useful reports: the HTTP headers are judged first (a `text/*` content type is an
error page whatever the body), then the first bytes are sniffed (an HTML page served as `video/mp4`),
then the size is compared with what the server promised, and only then is the file decoded with
`ffbench.video.probe_video`, which opens it and decodes its first and last frames.

`probe_all(dest)` reads the real width, height, fps and frame count of every kept video into probe.csv.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ffbench.datasets.sources import read_url_list, video_id_from_url
from ffbench.datasets.spec import DatasetSpec, get_dataset
from ffbench.errors import UserError
from ffbench.fileio import write_text_atomic
from ffbench.video import VideoError, VideoInfo, probe_video, sniff_body

# Content types that can only be an error page or a document, never a video.
_DOCUMENT_TYPES = ("text/", "application/xhtml", "application/json", "application/xml", "application/problem")


class VerifyError(UserError, ValueError):
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


@dataclass(frozen=True)
class ProbeRecord:
    """One row of probe.csv: geometry read from the video file itself."""

    id: str
    split: str
    path: str  # relative to the dataset folder
    width: int
    height: int
    fps: float
    frames: int
    url: str


def read_index(path: Path) -> dict[str, dict]:
    """The verified.json index ({id: {url, split, size, sha256}}), or {} if missing or unreadable."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        warnings.warn(f"{path} is unreadable; every video will be verified again", stacklevel=3)
        return {}
    return data if isinstance(data, dict) else {}


def write_csv(path: Path, rows: list, cls) -> None:
    """Write dataclass rows as CSV (header = the dataclass fields), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[f.name for f in fields(cls)], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    write_text_atomic(path, buf.getvalue())


def probe_all(dest: str | Path, workers: int = 4, dataset: DatasetSpec | None = None) -> list[ProbeRecord]:
    """Probe every kept video listed in the dataset's list files in dest (UBC Fashion's
    fashion_<split>.txt; `dataset` None: the default) and write dest/probe.csv.

    Width, height, fps and frame count are read from each file. A kept file that no longer decodes is
    moved to quarantine and dropped from verified.json (with a warning), never reported as a video.
    Rows are ordered by split (the spec's order) and list order.
    """
    dataset = get_dataset(dataset)
    dest = Path(dest)
    index = read_index(dest / "verified.json")
    wanted: list[tuple[str, str, str]] = []  # (id, split, url)
    seen: set[str] = set()
    splits = [s for s in dataset.split_names if (dest / dataset.list_file(s)).is_file()]
    for split in splits:
        for entry in read_url_list(dest / dataset.list_file(split)):
            vid = video_id_from_url(entry)
            if vid in index and vid not in seen and (dest / "videos" / f"{vid}.mp4").exists():
                seen.add(vid)
                wanted.append((vid, split, index[vid].get("url", entry)))

    def probe(item: tuple[str, str, str]) -> ProbeRecord | None:
        vid, split, url = item
        rel = f"videos/{vid}.mp4"
        try:
            info = probe_video(dest / rel)
        except VideoError as exc:
            warnings.warn(f"{dest / rel} no longer decodes ({exc}); moved to quarantine", stacklevel=2)
            os.replace(dest / rel, dest / "quarantine" / f"{vid}.body")
            return None
        return ProbeRecord(vid, split, rel, info.width, info.height, round(info.fps, 6), info.num_frames, url)

    (dest / "quarantine").mkdir(exist_ok=True)
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        results = list(pool.map(probe, wanted))
    finally:  # on an interrupt, start no queued probe (the `with` form would run them all first)
        pool.shutdown(wait=True, cancel_futures=True)
    dropped = [w[0] for w, r in zip(wanted, results, strict=True) if r is None]
    if dropped:
        for vid in dropped:
            index.pop(vid, None)
        write_text_atomic(dest / "verified.json", json.dumps(index, indent=1, sort_keys=True))
    rows = [r for r in results if r is not None]
    write_csv(dest / "probe.csv", rows, ProbeRecord)
    return rows


def read_probe(dest: str | Path) -> list[ProbeRecord]:
    """Read dest/probe.csv back into ProbeRecords."""
    with open(Path(dest) / "probe.csv", newline="", encoding="utf-8") as f:
        return [ProbeRecord(r["id"], r["split"], r["path"], int(r["width"]), int(r["height"]),
                            float(r["fps"]), int(r["frames"]), r["url"]) for r in csv.DictReader(f)]
