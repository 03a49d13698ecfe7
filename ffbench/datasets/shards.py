"""Writing samples and shards with reproducible bytes.

A sample is a dict `{"__key__": key, "<ext>": bytes, ...}` in WebDataset's layout. Each prepared
video is first stored alone as a small tar in the work cache (written under a temporary name, then
renamed), so a killed prepare keeps every finished video. Shards are then packed from those files in
sorted key order with fixed tar metadata (mtime 0, fixed owner, mode 0444): the same samples and the
same shard size always give the same shard bytes, hence the same sha256.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import webdataset as wds

from ffbench.datasets.safety import check_member
from ffbench.errors import UserError
from ffbench.fileio import atomic_open, temp_name

SHARD_PATTERN = "shard-%06d.tar"


class ShardError(UserError, ValueError):
    """A shard or cached sample that cannot be read; the message names the file and the fix."""

_TAR_FIXED = dict(user="ffbench", group="ffbench", mode=0o444, mtime=0.0, encoder=False)
_KEY_RE = re.compile(r"^[A-Za-z0-9_+\-]+$")


@dataclass(frozen=True)
class ShardInfo:
    name: str  # file name inside the split directory
    samples: int
    bytes: int
    sha256: str
    keys: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "samples": self.samples, "bytes": self.bytes, "sha256": self.sha256,
                "keys": list(self.keys)}


def sample_key(video_id: str) -> str:
    """The tar key for a video id.

    WebDataset splits a member name at its first dot, so dots (and anything outside [A-Za-z0-9_+-])
    become `_`; the true id is kept in the sample's json.
    """
    key = re.sub(r"[^A-Za-z0-9_+\-]", "_", video_id)
    if not key:
        raise ValueError(f"video id {video_id!r} gives an empty sample key")
    return key


def _tmp_name(path: Path) -> Path:
    return path.with_name(f"{temp_name(path)}{os.getpid()}")


def remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary files a killed writer left in `folder` (callers hold the prepare lock)."""
    for tmp in Path(folder).glob(".*.tmp-*"):
        tmp.unlink(missing_ok=True)


def write_sample_file(path: str | Path, sample: dict) -> None:
    """Store one sample as a single-sample tar at `path`, atomically (nothing is left on failure)."""
    path = Path(path)
    if not _KEY_RE.match(sample.get("__key__", "")):
        raise ValueError(f"sample key {sample.get('__key__')!r} must match {_KEY_RE.pattern}")
    with atomic_open(path, "wb") as f, wds.TarWriter(f, **_TAR_FIXED) as writer:
        writer.write(sample)


def read_sample_file(path: str | Path) -> dict:
    """Load a sample written by `write_sample_file` (member names checked)."""
    sample: dict = {}
    with tarfile.open(path, mode="r") as tar:
        for info in tar.getmembers():
            check_member(info, path)
            key, ext = info.name.split(".", 1)
            sample["__key__"] = key
            sample[ext] = tar.extractfile(info).read()
    if "__key__" not in sample:
        raise ShardError(f"sample file {path} is empty; delete it and rerun `ffbench prepare`")
    return sample


def pack_shards(sample_files: list[Path], out_dir: str | Path, shard_size_bytes: int,
                max_samples: int = 10**9) -> list[ShardInfo]:
    """Pack single-sample files into `out_dir/shard-NNNNNN.tar`, in the given order.

    A new shard starts when the current one has reached `shard_size_bytes` of payload (so a shard
    holds at least one sample) or holds `max_samples` samples. Each shard is written under a
    temporary name and renamed when complete; shards left over from an earlier packing are removed.
    """
    from ffbench.fileio import sha256_file

    if shard_size_bytes <= 0:
        raise ValueError(f"shard_size_bytes must be positive, got {shard_size_bytes}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    infos: list[ShardInfo] = []
    handles: dict[str, object] = {}
    keys_per_shard: dict[str, list[str]] = {}
    failed = False

    def opener(fname: str):
        handles[fname] = open(_tmp_name(Path(fname)), "wb")  # noqa: SIM115 (closed in post)
        keys_per_shard[fname] = []
        return handles[fname]

    def post(fname: str) -> None:
        f = handles.pop(fname)
        if failed:  # the writer closes the shard it was writing when we fail: drop it, never rename it
            f.close()
            _tmp_name(Path(fname)).unlink(missing_ok=True)
            return
        f.flush()
        os.fsync(f.fileno())
        f.close()
        final = Path(fname)
        os.replace(_tmp_name(final), final)
        infos.append(ShardInfo(final.name, len(keys_per_shard[fname]), final.stat().st_size,
                               sha256_file(final), tuple(keys_per_shard[fname])))

    if sample_files:
        writer = wds.ShardWriter(str(out_dir / SHARD_PATTERN), maxcount=max_samples, maxsize=shard_size_bytes,
                                 post=post, verbose=0, opener=opener, **_TAR_FIXED)
        try:
            for path in sample_files:
                sample = read_sample_file(path)
                writer.write(sample)
                keys_per_shard[writer.fname].append(sample["__key__"])
        except BaseException as err:
            failed = True
            if isinstance(err, OSError) and err.filename is None and err.errno is not None:
                # a full disk names no file: name the shard being written
                raise OSError(err.errno, err.strerror, writer.fname) from err
            raise
        finally:
            writer.close()
    keep = {info.name for info in infos}
    for stale in out_dir.glob("shard-*.tar"):
        if stale.name not in keep:
            stale.unlink()
    return infos


def sample_bytes(arrays: dict[str, object]) -> dict[str, bytes]:
    """Encode numpy arrays with `np.save` (no pickle) for a sample; other values must be bytes."""
    import numpy as np

    out = {}
    for ext, value in arrays.items():
        if isinstance(value, np.ndarray):
            buf = io.BytesIO()
            np.save(buf, value, allow_pickle=False)
            out[ext] = buf.getvalue()
        else:
            out[ext] = value
    return out


def _refuse(shard: Path, reason: str) -> ShardError:
    return ShardError(
        f"{shard}: {reason}; it is damaged or not written by `ffbench prepare`: move it out of "
        f"{shard.parent}, or check the split with `ffbench prepare --verify --out DATA`")


def iter_shard(shard: str | Path, *, payloads: bool = True) -> Iterator[dict]:
    """Yield the samples of one shard in member order, each `{"__key__", "__url__", "<ext>": bytes}`
    (with `payloads=False` each `<ext>` holds the member's size instead: only the headers are read).

    The one rule every shard reader follows (the training loaders, eval's real set, generate's test
    split, the flow cache): members must have plain relative names and be regular files (`check_member`,
    UnsafeTarError), and a shard that is not a readable tar, ends before its end-of-archive marker
    (truncated) or holds no sample is refused at once as a ShardError naming it and the reason. Nothing
    is skipped and retried: a reader that skipped a broken shard and drew again would loop forever on a
    split of broken shards. Members are grouped into samples by WebDataset's rule: consecutive members
    with the same name up to the first dot of their base name; members without an extension are ignored.
    """
    shard = Path(shard)
    samples = 0
    current: dict | None = None
    try:
        size = shard.stat().st_size
        with tarfile.open(shard, mode="r:") as tar:  # shards are plain tars
            for info in tar:
                check_member(info, shard)
                if not info.isreg():
                    continue
                folder, _, base = info.name.rpartition("/")
                stem, dot, ext = base.partition(".")
                if not dot or not stem or not ext:
                    continue
                key = f"{folder}/{stem}" if folder else stem
                if current is not None and current["__key__"] != key:
                    samples += 1
                    yield current
                    current = None
                if current is None:
                    current = {"__key__": key, "__url__": str(shard)}
                ext = ext.lower()
                if ext in current:
                    raise _refuse(shard, f"sample {key!r} holds two {ext!r} members (member {info.name!r})")
                current[ext] = tar.extractfile(info).read() if payloads else info.size
            # A tar ends with zero blocks; a file that ends at (or inside) a header lost its tail.
            if tar.offset + tarfile.BLOCKSIZE > size:
                raise _refuse(shard, "the tar ends before its end-of-archive marker (the file is truncated)")
    except (tarfile.TarError, EOFError) as exc:
        raise _refuse(shard, f"not a readable tar shard ({type(exc).__name__}: {exc})") from None
    except FileNotFoundError:
        raise ShardError(f"{shard}: no such shard; it was moved or deleted: run `ffbench prepare` (it "
                         "resumes) to rebuild the split") from None
    if current is not None:
        samples += 1
        yield current
    if samples == 0:
        raise _refuse(shard, "the tar holds no sample (no member named <key>.<ext>)")


def iter_split_entries(split_dir: str | Path, extension: str) -> Iterator[tuple[str, bytes]]:
    """Yield (sample key, bytes) of every `<key>.<extension>` member of a split's shards, in shard order.

    Every shard is read by `iter_shard`'s rule: member names are checked (no absolute paths, `..` or
    links) before anything is read, and an unreadable, truncated or empty shard is refused.
    """
    shards = sorted(Path(split_dir).glob("*.tar"))
    if not shards:
        raise ShardError(f"{split_dir}: no .tar shards here; pass a split folder written by "
                         "`ffbench prepare`")
    for shard in shards:
        for sample in iter_shard(shard):
            if extension in sample:
                yield sample["__key__"], sample[extension]
