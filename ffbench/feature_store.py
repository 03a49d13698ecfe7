"""Per-unit features beside a leaderboard, so distribution metrics are judged by their paired difference.

`ffbench eval` keeps, for every distribution-metric row (FVD and its variants, KVD, VFID, FID, IS), the
features the paired difference needs (`ffbench.metrics.comparison.compare_distributions`), in
`<leaderboard-dir>/per_video/features/`:

- `row-<hash>.npz`, one per leaderboard row, named by the sha256 of its key (dataset, time, method,
  metric, protocol, extractor sha256, the key of the per-video store): `features` (n, D) float32, one row
  per unit (clip, video or frame) of the generated set, `ids` the test id of every row, and what the
  statistic needs (`distance`, `ddof`, `splits`, `seed`, `real_fingerprint`, `real_file`);
- `real-<hash>.npz`, the real set's `features` and `video` (0..R-1 per row), named by the sha256 of its
  content, so it is written once per real set, protocol, extractor and clip seed however many methods
  are scored against it, and two rows share a real file exactly when their real units are the same.

The first seed's units are kept (the ones the row's interval was drawn from). Files are written through
a temporary name (`cache.save_npz_atomic`) before the per-video store and the leaderboard rows; a row
without its file (older leaderboards, `--no-leaderboard` runs) is judged by the interval rule.

Size: float32, D per unit: 400 (FVD logits, KVD), 1024 (VFID), 2048 (FID, per frame), 1008 (IS
probabilities, per frame); on the demo (16 test videos of 16 frames) FID keeps 16 x 16 x 2048 x 4 B =
2.1 MB per method and the real set as much again; on UBC Fashion (100 test videos, 70 generated frames)
57 MB per method for FID and 28 MB for IS (the real set's FID frames once more), fvd-cdfvd 3.3 MB
(2048 clips), the rest under 1 MB (`kept_bytes` gives the figure). Measured on demo-shaped features
(five methods, every network metric): 35 MB on disk.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

FOLDER = Path("per_video") / "features"
ROW_KEY = ("dataset", "time", "method", "metric", "protocol", "extractor_sha256")


def folder(directory: str | Path) -> Path:
    return Path(directory) / FOLDER


def row_file(directory: str | Path, row) -> Path:
    """`row-<sha256 of the row key>.npz` for a leaderboard row (a dict or a pandas Series)."""
    key = "\x1f".join(str(row[k]) for k in ROW_KEY)
    return folder(directory) / f"row-{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def _real_name(features: np.ndarray, video: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(features).tobytes())
    digest.update(np.ascontiguousarray(video, np.int64).tobytes())
    digest.update(str(features.shape).encode())
    return f"real-{digest.hexdigest()[:32]}.npz"


def write_features(directory: str | Path, results, rows, real_fingerprint: str) -> list[Path]:
    """Write the kept features of every result that has them (results and their leaderboard rows in one
    order); the real file only when it is not there yet. Returns the files written."""
    from ffbench.metrics.cache import save_npz_atomic

    written = []
    for result, row in zip(results, rows, strict=True):
        kept = result.unit_features
        if kept is None:
            continue
        real_file = ""
        if kept.real_features is not None:
            real_file = _real_name(kept.real_features, kept.real_video)
            path = folder(directory) / real_file
            if not path.is_file():
                written.append(save_npz_atomic(path, {"features": kept.real_features,
                                                      "video": np.asarray(kept.real_video, np.int64)}))
        written.append(save_npz_atomic(row_file(directory, row), {
            "features": kept.features, "ids": kept.ids, "distance": np.array(kept.distance),
            "ddof": np.array(kept.ddof), "splits": np.array(kept.splits), "seed": np.array(kept.seed),
            "real_fingerprint": np.array(real_fingerprint), "real_file": np.array(real_file)}))
    return written


class FeatureStore:
    """Reads the kept features of leaderboard rows from `<directory>/per_video/features/`."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._real: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}

    def load(self, row):
        """`comparison.Features` of a leaderboard row, or None when eval kept none for it (or a file is
        missing or torn)."""
        from ffbench.metrics.cache import load_npz
        from ffbench.metrics.comparison import Features

        arrays = load_npz(row_file(self.directory, row))
        needed = {"features", "ids", "distance", "ddof", "splits", "seed", "real_fingerprint", "real_file"}
        if arrays is None or not needed <= set(arrays) or len(arrays["ids"]) != len(arrays["features"]):
            return None
        distance, real_file = str(arrays["distance"]), str(arrays["real_file"])
        real = video = None
        if distance != "inception_score":
            if real_file not in self._real:
                got = load_npz(folder(self.directory) / real_file) if real_file else None
                self._real[real_file] = None if got is None or {"features", "video"} - set(got) else \
                    (got["features"], got["video"].astype(np.int64))
            if self._real[real_file] is None:
                return None
            real, video = self._real[real_file]
        return Features(str(row["method"]), str(row["metric"]), arrays["features"], arrays["ids"].astype(str),
                        f"{arrays['real_fingerprint']}:{real_file}", str(row["protocol"]),
                        str(row["extractor_sha256"]), distance, real, video, int(arrays["ddof"]),
                        int(arrays["splits"]), int(arrays["seed"]))


def kept_bytes(results) -> int:
    """Bytes of float32 features the results keep (the real set counted with each row)."""
    return sum(r.unit_features.nbytes() for r in results if r.unit_features is not None)
