"""Check a folder of generated videos against the real test set before anything is scored.

A generated video `<id>.mp4` belongs to the real test video with the same id (the shard key, or the file
name without its suffix). `validate_fake` probes both sides once and collects every problem into one
`FolderReport`:

- missing: real ids without a generated video; extra: generated videos without a real id;
- frames: generated videos whose frame count differs from the others' (the most common count), or is
  below what a requested metric needs (16 for the FVD protocols and fvmd-flow, 2 for everything else);
- size: generated videos whose width x height differs from the others';
- real size: generated videos whose width x height differs from their real video's (another size or
  aspect: a 128x96 landscape set against 96x128 portrait videos would score every metric on stretched
  frames); with `resize_fake` they are resized to the real size instead and the rows say so;
- fps: generated videos whose frame rate differs from their real video's by more than 1%.

Id problems stop paired scoring unless `allow_missing` (then the ids both sides have are scored and the
row says how many); frame, size and fps problems always stop scoring, since every metric would compare
the wrong frames. A `.gif` beside an `.mp4` of the same id is a preview (`ffbench generate --gif`): the mp4
is scored.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ffbench.errors import UserError
from ffbench.metrics.sources import VideoSourceDir
from ffbench.video import VideoError, probe_video

FPS_TOLERANCE = 0.01
PREFERRED_SUFFIX = ".mp4"


class FolderMismatchError(UserError, ValueError):
    """The generated folder does not match the real test set; the message is the whole report."""


@dataclass(frozen=True)
class VideoMeta:
    name: str  # file name or shard key
    frames: int
    width: int
    height: int
    fps: float


@dataclass
class FolderReport:
    real: str
    fake: str
    real_ids: list[str]
    fake_ids: list[str]
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # frames, size, fps: always fatal
    # generated videos whose size differs from their real video's: (id, fake (H, W), real (H, W))
    real_size: list[tuple[str, tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not problems (previews ignored)
    frames: int = 0  # the common frame count of the generated videos
    size: tuple[int, int] = (0, 0)  # their common (height, width)

    @property
    def common(self) -> list[str]:
        real = set(self.real_ids)
        return [i for i in self.fake_ids if i in real]

    @property
    def has_id_problems(self) -> bool:
        return bool(self.missing or self.extra)

    def fatal(self, allow_missing: bool, resize_fake: bool = False) -> bool:
        return (bool(self.problems) or (bool(self.real_size) and not resize_fake)
                or (self.has_id_problems and not allow_missing))

    def real_size_lines(self) -> list[str]:
        """One line per (generated size, real size) pair, naming the first videos and the count."""
        groups: dict[tuple, list[str]] = {}
        for vid, fake, real in self.real_size:
            groups.setdefault((fake, real), []).append(vid)
        return [f"size: {len(ids)} generated video(s) are {f[1]}x{f[0]} (width x height) but their real "
                f"videos are {r[1]}x{r[0]}: {_names([f'{i}.mp4' for i in ids])}; regenerate them at "
                f"{r[1]}x{r[0]}, or pass --resize-fake to resize them to the real size (the rows are flagged)"
                for (f, r), ids in groups.items()]

    def resize_flag(self) -> str:
        """The row flag when the generated videos were resized to the real size (--resize-fake)."""
        sizes = sorted({(f, r) for _, f, r in self.real_size})
        pairs = ", ".join(f"{f[1]}x{f[0]} -> {r[1]}x{r[0]}" for f, r in sizes)
        return (f"resized: {len(self.real_size)} generated video(s) resized to the real size ({pairs}, "
                "width x height, stretched) by --resize-fake")

    def id_flag(self) -> str:
        """The row flag for a run scored on the common ids."""
        return (f"ids: {len(self.common)} of {len(self.real_ids)} real ids scored ({len(self.missing)} "
                f"missing, {len(self.extra)} extra generated)")

    def format(self, allow_missing: bool = False, resize_fake: bool = False) -> str:
        """The report as text: one line per problem kind, each naming the videos (sizes that
        `resize_fake` fixes are left out)."""
        sizes = [] if resize_fake else self.real_size_lines()
        lines = []
        if self.missing:
            lines.append(f"  missing: {len(self.missing)} real id(s) have no generated video: "
                         f"{_names(self.missing)} (expected <id>.mp4 in --fake)")
        if self.extra:
            lines.append(f"  extra: {len(self.extra)} generated video(s) have no real id: "
                         f"{_names(self.extra)}")
        lines += [f"  {p}" for p in self.problems]
        lines += [f"  {p}" for p in sizes]
        if not lines:
            return ""
        count = len(self.missing) + len(self.extra) + len(self.problems) + len(sizes)
        head = f"--fake {self.fake} does not match the real set {self.real} ({count} problems):"
        fixes = []
        if self.problems or sizes:
            fixes.append("regenerate or remove the videos named above")
        if self.has_id_problems and not allow_missing:
            fixes.append("pass --allow-missing to score only the ids both folders have")
        tail = f"Fix: {'; '.join(fixes)}." if fixes else \
            "Scoring the ids both folders have (--allow-missing)."
        return "\n".join([head, *lines, tail])


def _names(ids: list[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def source_ids(source: VideoSourceDir) -> tuple[dict[str, Path | bytes], list[str]]:
    """{id: path or bytes} of a source, plus notes about ignored previews; for a video folder the mp4
    wins over a gif of the same id."""
    items: dict[str, Path | bytes] = {}
    notes = []
    if source.kind == "videos":
        for path in source.files:
            other = items.get(path.stem)
            if other is None or path.suffix.lower() == PREFERRED_SUFFIX:
                if other is not None:
                    notes.append(f"{other.name} ignored: {path.name} has the same id")
                items[path.stem] = path
            else:
                notes.append(f"{path.name} ignored: {other.name} has the same id")
        return items, notes
    for key, data in source:
        items[key] = data
    return items, notes


def dedup_source(source: VideoSourceDir) -> VideoSourceDir:
    """The same video folder without previews that share an id with an mp4 (shard sources unchanged)."""
    if source.kind != "videos":
        return source
    items, _ = source_ids(source)
    return VideoSourceDir(source.root, "videos", sorted(items.values()))


def probe_all(items: dict[str, Path | bytes]) -> dict[str, VideoMeta]:
    out = {}
    for vid, src in items.items():
        name = src.name if isinstance(src, Path) else vid
        info = probe_video(src, check_end=isinstance(src, Path))
        out[vid] = VideoMeta(name, info.num_frames, info.width, info.height, info.fps)
    return out


def validate_fake(real: VideoSourceDir, fake: VideoSourceDir, min_frames: int = 2) -> FolderReport:
    """Compare a generated folder with the real set; every problem goes into the returned report.

    Raises VideoError (naming the file) for a video that cannot be read at all.
    """
    real_items, _ = source_ids(real)
    fake_items, notes = source_ids(fake)
    report = FolderReport(str(real.root), str(fake.root), sorted(real_items), sorted(fake_items), notes=notes)
    report.missing = sorted(set(real_items) - set(fake_items))
    report.extra = sorted(set(fake_items) - set(real_items))
    fake_meta = probe_all(fake_items)
    if not fake_meta:
        raise VideoError(f"--fake {fake.root}: no videos")
    frames = Counter(m.frames for m in fake_meta.values()).most_common(1)[0][0]
    size = Counter((m.height, m.width) for m in fake_meta.values()).most_common(1)[0][0]
    report.frames, report.size = frames, size
    for vid in sorted(fake_meta):
        m = fake_meta[vid]
        if m.frames != frames:
            report.problems.append(f"frames: {m.name} has {m.frames} frames; the other generated videos "
                                   f"have {frames}")
        if (m.height, m.width) != size:
            report.problems.append(f"size: {m.name} is {m.width}x{m.height}; the other generated videos are "
                                   f"{size[1]}x{size[0]}")
    if frames < min_frames:
        report.problems.append(f"frames: the generated videos have {frames} frames; the requested metrics "
                               f"need at least {min_frames}")
    common = [v for v in fake_meta if v in real_items]
    real_meta = probe_all({v: real_items[v] for v in common})
    for vid in sorted(common):
        f, r = fake_meta[vid], real_meta[vid]
        if abs(f.fps - r.fps) > FPS_TOLERANCE * r.fps:
            report.problems.append(f"fps: {f.name} plays at {f.fps:g} fps, its real video at {r.fps:g} fps; "
                                   "write it at the real frame rate")
        if (f.height, f.width) != (r.height, r.width) and (f.height, f.width) == size:  # odd ones: above
            report.real_size.append((vid, (f.height, f.width), (r.height, r.width)))
    return report


def check_fake(real: VideoSourceDir, fake: VideoSourceDir, allow_missing: bool,
               min_frames: int = 2, resize_fake: bool = False) -> FolderReport:
    """`validate_fake`, raising FolderMismatchError with the whole report when it finds a fatal problem."""
    report = validate_fake(real, fake, min_frames)
    if report.fatal(allow_missing, resize_fake):
        raise FolderMismatchError(report.format(allow_missing))
    return report
