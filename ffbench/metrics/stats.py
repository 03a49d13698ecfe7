"""Streaming feature statistics: float64 sums of x and x x^T and a count.

`update` only adds to the state, `compute` only reads it, and two accumulators (or all ranks of a
torch.distributed job) combine by summing their state, so the result does not depend on how the data
was split. Optionally the raw features are kept as well (KVD and IS need them, FVD/FID do not).

Covariance: `cov(unbiased=True)` divides by N - 1 like `numpy.cov` (the default everywhere in
ffbench, as in pytorch-fid); `unbiased=False` divides by N.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class FeatureStats:
    """Running mean/covariance of D-dimensional feature vectors.

    Example:
        >>> stats = FeatureStats(dim=3)
        >>> stats.update(np.random.rand(10, 3))
        >>> mu, sigma = stats.compute()
    """

    def __init__(self, dim: int, keep_features: bool = False) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.keep_features = keep_features
        self.count = 0
        self.sum = np.zeros(dim, dtype=np.float64)
        self.sum_outer = np.zeros((dim, dim), dtype=np.float64)
        self._chunks: list[np.ndarray] = []

    def update(self, feats: np.ndarray) -> None:
        """Add a batch of features, shape (N, D) (a torch tensor or anything array-like)."""
        if hasattr(feats, "detach"):
            feats = feats.detach().cpu().numpy()
        x = np.asarray(feats, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"feats must have shape (N, {self.dim}), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("feats contain NaN or infinite values; the feature extractor diverged")
        self.count += x.shape[0]
        self.sum += x.sum(0)
        self.sum_outer += x.T @ x
        if self.keep_features:
            self._chunks.append(x.astype(np.float32))

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Add another accumulator's state into this one (in place); returns self."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge stats of dimension {other.dim} into dimension {self.dim}")
        self.count += other.count
        self.sum += other.sum
        self.sum_outer += other.sum_outer
        if self.keep_features:
            if not other.keep_features:
                raise ValueError("cannot merge stats without kept features into stats that keep them")
            self._chunks.extend(other._chunks)
        return self

    def all_reduce(self) -> None:
        """Sum the state over all ranks when torch.distributed is initialised; no-op otherwise.

        Kept features are not gathered: KVD/IS under DDP must gather them separately.
        """
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        flat = torch.from_numpy(np.concatenate([[float(self.count)], self.sum, self.sum_outer.ravel()]))
        dist.all_reduce(flat)
        out = flat.numpy()
        self.count = int(round(out[0]))
        self.sum = out[1:1 + self.dim].copy()
        self.sum_outer = out[1 + self.dim:].reshape(self.dim, self.dim).copy()

    @property
    def features(self) -> np.ndarray:
        """All kept features, shape (N, D) float32; only with keep_features=True."""
        if not self.keep_features:
            raise ValueError("features were not kept; build FeatureStats(..., keep_features=True)")
        if not self._chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0]

    def mean(self) -> np.ndarray:
        if self.count < 1:
            raise ValueError("no features were added; the video source was empty")
        return self.sum / self.count

    def cov(self, unbiased: bool = True) -> np.ndarray:
        """Covariance (D, D): sum((x - mu)(x - mu)^T) / (N - 1) if unbiased else / N."""
        n = self.count
        if n < 2:
            raise ValueError(f"a covariance needs at least 2 feature vectors, got {n}")
        mu = self.mean()
        scatter = self.sum_outer - n * np.outer(mu, mu)
        scatter = (scatter + scatter.T) / 2
        return scatter / (n - 1 if unbiased else n)

    def compute(self, unbiased: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Return (mu (D,), sigma (D, D)) in float64."""
        return self.mean(), self.cov(unbiased)

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"count": np.array(self.count, dtype=np.int64), "sum": self.sum, "sum_outer": self.sum_outer}
        if self.keep_features:
            out["features"] = self.features
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> FeatureStats:
        total = np.asarray(arrays["sum"], dtype=np.float64)
        stats = cls(total.shape[0], keep_features="features" in arrays)
        stats.count = int(arrays["count"])
        stats.sum = total.copy()
        stats.sum_outer = np.asarray(arrays["sum_outer"], dtype=np.float64).copy()
        if stats.keep_features:
            stats._chunks = [np.asarray(arrays["features"], dtype=np.float32)]
        return stats

    def save(self, path: str | Path) -> None:
        """Write the state to an .npz file atomically (temporary name, then os.replace)."""
        from ffbench.metrics.cache import save_npz_atomic

        save_npz_atomic(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | Path) -> FeatureStats:
        with np.load(path) as data:
            return cls.from_arrays({k: data[k] for k in data.files})
