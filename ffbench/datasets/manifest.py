"""The per-split manifest: which shards exist, what is in them, and how they were made.

`DATA/shards/<split>/manifest.json` holds only facts that depend on the inputs and settings (no
timestamps, no absolute paths), so an interrupted-and-resumed prepare writes the same bytes as an
uninterrupted one. Readers check it and refuse shards it does not vouch for.

A prepare that ends with a verdict against the dataset (`--strict` with a skipped video, or a split
with no usable video) writes, in place of each split's manifest, a marker that says why and what to do
(`{"version": 1, "split": ..., "failed": {"reason": ..., "fix": ...}}`), and removes the split's
shards: `read_manifest`, which every reader goes through, refuses it with that reason, so no later
command uses a dataset its prepare rejected. The next successful prepare replaces it.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from ffbench.datasets.safety import UnsafeTarError, check_member
from ffbench.errors import UserError
from ffbench.fileio import sha256_file, write_json_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
FAILED_KEY = "failed"  # a marker in place of a manifest: the last prepare rejected this dataset


class ManifestError(UserError, ValueError):
    """A manifest is missing, unreadable, or disagrees with what the caller expects."""


def fingerprint(data: object) -> str:
    """Short sha256 of JSON data (sorted keys): names a set of settings in file and folder names."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def read_manifest(split_dir: str | Path) -> dict:
    """Load `split_dir/manifest.json`, raising ManifestError with the fix when it is absent or broken."""
    path = Path(split_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"no manifest at {path}: these shards were not finished by `ffbench prepare`; "
                            "run `ffbench prepare` (it resumes) before reading them")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest {path} is unreadable ({exc}); rerun `ffbench prepare`") from exc
    if data.get("version") != MANIFEST_VERSION:
        raise ManifestError(f"manifest {path} has version {data.get('version')!r}, this ffbench reads "
                            f"{MANIFEST_VERSION}; rerun `ffbench prepare`")
    failed = data.get(FAILED_KEY)
    if failed is not None:
        reason = failed.get("reason", "?") if isinstance(failed, dict) else failed
        fix = failed.get("fix", "") if isinstance(failed, dict) else ""
        fix = fix if not fix or fix.endswith(".") else fix + "."
        raise ManifestError(f"{path}: the last `ffbench prepare` of this dataset failed, so its shards "
                            f"are not usable: {reason}. {fix}".rstrip())
    return data


def mark_failed(split_dir: str | Path, split: str, reason: str, fix: str) -> None:
    """Put a failure marker in place of `split_dir`'s manifest and remove the split's shards (see the
    module docstring): every reader then refuses the split, saying `reason` and `fix`."""
    split_dir = Path(split_dir)
    split_dir.mkdir(parents=True, exist_ok=True)
    (split_dir / MANIFEST_NAME).unlink(missing_ok=True)  # the marker replaces it; never a stale manifest
    for shard in split_dir.glob("shard-*.tar"):
        shard.unlink()
    write_json_atomic(split_dir / MANIFEST_NAME, {"version": MANIFEST_VERSION, "split": split,
                                                  FAILED_KEY: {"reason": reason, "fix": fix}})


def count_tar_samples(path: str | Path) -> int:
    """Read a tar to its end, checking member names, and count distinct sample keys.

    Raises tarfile.TarError / EOFError for a truncated or corrupt archive and UnsafeTarError for
    forbidden member names.
    """
    keys: set[str] = set()
    with tarfile.open(path, mode="r|") as tar:
        for info in tar:
            check_member(info, path)
            if info.isreg():
                tar.extractfile(info).read()  # read the payload: truncation shows up here
                keys.add(info.name.split("/")[-1].split(".", 1)[0])
    return len(keys)


def verify_split(split_dir: str | Path) -> list[str]:
    """Check every shard of a split against its manifest; return one message per problem (empty = OK).

    Checks: the file exists, has the recorded size and sha256, reads to the end as a tar with safe
    member names, and holds the recorded number of samples.
    """
    split_dir = Path(split_dir)
    try:
        manifest = read_manifest(split_dir)
    except ManifestError as exc:
        return [str(exc)]
    problems = []
    for shard in manifest["shards"]:
        path = split_dir / shard["name"]
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        size = path.stat().st_size
        if size != shard["bytes"]:
            kind = "truncated" if size < shard["bytes"] else "larger than recorded"
            problems.append(f"{path}: {kind} ({size} bytes, manifest says {shard['bytes']})")
            continue
        if sha256_file(path) != shard["sha256"]:
            problems.append(f"{path}: sha256 differs from the manifest (content changed)")
            continue
        try:
            n = count_tar_samples(path)
        except UnsafeTarError as exc:
            problems.append(f"{path}: unsafe member: {exc}")
            continue
        except (tarfile.TarError, EOFError, OSError) as exc:
            problems.append(f"{path}: unreadable tar ({type(exc).__name__}: {exc})")
            continue
        if n != shard["samples"]:
            problems.append(f"{path}: {n} samples, manifest says {shard['samples']}")
    return problems
