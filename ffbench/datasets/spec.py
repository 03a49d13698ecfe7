"""What a dataset is made of: its splits, each split's URL list, and which split trains and which tests.

`prepare` reads the split names and the list file names from a `DatasetSpec` rather than from
constants, so a dataset with its own splits (train/val/test) and its own list files is a spec, not a
change to the code. UBC Fashion (DESIGN.md section 2) is the default registered spec:

    DatasetSpec("ubc-fashion", splits=(SplitSpec("train", "fashion_train.txt", url=..., videos=500),
                                       SplitSpec("test", "fashion_test.txt", url=..., videos=100)))

A spec reaches `ffbench prepare --dataset` by its registered name (`register_dataset`) or as a JSON
file (`DatasetSpec.to_dict` / `from_dict` spell it). A prepared DATA folder of any other spec than the
default holds it in `DATA/dataset.json`; `dataset_of(DATA)` reads it back (the default when absent,
so the datasets prepared before specs existed read as UBC Fashion).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffbench.errors import UserError
from ffbench.fileio import write_json_atomic

DATASET_NAME = "dataset.json"  # DATA/dataset.json: the spec of a dataset other than the default
DEFAULT_DATASET = "ubc-fashion"
_SPLIT_RE = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
_LIST_RE = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,99}\.txt$")


class DatasetSpecError(UserError, ValueError):
    """A dataset spec that cannot be used (bad names, unknown split, unreadable file); the message names
    the value and the fix."""


def check_split(split: str) -> str:
    """Return `split` if it is a plain split name (letters, digits, `_`, `-`), else raise."""
    if not isinstance(split, str) or not _SPLIT_RE.match(split):
        raise DatasetSpecError(f"split {split!r} is not a plain name; use letters, digits, '_' and '-' "
                               "(e.g. 'train', 'val', 'test')")
    return split


@dataclass(frozen=True)
class SplitSpec:
    """One split: its name, the file name of its URL list (one URL or relative path a line), where the
    published list is downloaded from (None: the dataset has no published list, use --source or --urls),
    and how many videos the published list holds, if known."""

    name: str
    list_file: str
    url: str | None = None
    videos: int | None = None

    def __post_init__(self) -> None:
        check_split(self.name)
        if not isinstance(self.list_file, str) or not _LIST_RE.match(self.list_file):
            raise DatasetSpecError(f"split {self.name!r}: list file {self.list_file!r} is not a plain .txt "
                                   "file name (no folder, e.g. 'train.txt')")
        if self.videos is not None and (not isinstance(self.videos, int) or self.videos < 0):
            raise DatasetSpecError(f"split {self.name!r}: videos must be a count >= 0 or null, "
                                   f"got {self.videos!r}")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its name, its splits in order, and the split models train on and the one eval scores
    against by default (both among `splits`)."""

    name: str
    splits: tuple[SplitSpec, ...]
    train_split: str = "train"
    test_split: str = "test"
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _SPLIT_RE.match(self.name):
            raise DatasetSpecError(f"dataset name {self.name!r} is not a plain name (letters, digits, '_', "
                                   "'-')")
        object.__setattr__(self, "splits", tuple(self.splits))  # a list given in Python or JSON
        names = [s.name for s in self.splits]
        if not names:
            raise DatasetSpecError(f"dataset {self.name!r} has no splits; give at least a train split")
        for what, values in (("split names", names), ("list files", [s.list_file for s in self.splits])):
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise DatasetSpecError(f"dataset {self.name!r}: {what} appear twice: {', '.join(twice)}")
        for role in ("train_split", "test_split"):
            if getattr(self, role) not in names:
                raise DatasetSpecError(f"dataset {self.name!r}: {role} {getattr(self, role)!r} is not one "
                                       f"of its splits ({', '.join(names)})")

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.splits)

    def split(self, name: str) -> SplitSpec:
        """The spec of split `name`; DatasetSpecError naming the splits there are."""
        for s in self.splits:
            if s.name == name:
                return s
        raise DatasetSpecError(f"dataset {self.name!r} has no split {name!r}; its splits are "
                               f"{', '.join(self.split_names)}")

    def list_file(self, split: str) -> str:
        return self.split(split).list_file

    @property
    def list_urls(self) -> dict[str, str]:
        """{split: URL of its published list} for the splits that have one."""
        return {s.name: s.url for s in self.splits if s.url}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "train_split": self.train_split,
                "test_split": self.test_split,
                "splits": [{"name": s.name, "list_file": s.list_file, "url": s.url, "videos": s.videos}
                           for s in self.splits]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "the dataset spec") -> DatasetSpec:
        """A spec from its `to_dict` form; DatasetSpecError naming `where` and the problem."""
        try:
            if not isinstance(data, dict) or not isinstance(data.get("splits"), list):
                raise TypeError("expected an object with a list of 'splits'")
            known = {"name", "description", "train_split", "test_split", "splits"}
            unknown = sorted(set(data) - known)
            if unknown:
                raise TypeError(f"unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})")
            splits = tuple(SplitSpec(**s) for s in data["splits"])
            rest = {k: v for k, v in data.items() if k not in ("splits",)}
            return cls(splits=splits, **rest)
        except DatasetSpecError as exc:
            raise DatasetSpecError(f"{where}: {exc}") from None
        except TypeError as exc:
            raise DatasetSpecError(f"{where}: {exc}; see `DatasetSpec` in docs/extending.md") from None

    @classmethod
    def from_json(cls, path: str | Path) -> DatasetSpec:
        """A spec from a JSON file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetSpecError(f"{path}: not a readable JSON dataset spec ({exc})") from None
        return cls.from_dict(data, str(path))


_UBC_LISTS = "https://vision.cs.ubc.ca/datasets/fashion/resources/fashion_dataset"
UBC_FASHION = DatasetSpec(
    DEFAULT_DATASET,
    splits=(SplitSpec("train", "fashion_train.txt", url=f"{_UBC_LISTS}/fashion_train.txt", videos=500),
            SplitSpec("test", "fashion_test.txt", url=f"{_UBC_LISTS}/fashion_test.txt", videos=100)),
    description="UBC Fashion (DwNet, Zablotskaia et al. 2019): models posing in dresses",
)
DATASETS: dict[str, DatasetSpec] = {UBC_FASHION.name: UBC_FASHION}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Make `spec` known by its name to `get_dataset` and `ffbench prepare --dataset NAME`."""
    DATASETS[spec.name] = spec
    return spec


def get_dataset(name_or_spec: str | Path | DatasetSpec | None = None) -> DatasetSpec:
    """A registered spec by name, a spec read from a JSON file, or the spec given (None: the default)."""
    if isinstance(name_or_spec, DatasetSpec):
        return name_or_spec
    name = DEFAULT_DATASET if name_or_spec is None else str(name_or_spec)
    if name in DATASETS:
        return DATASETS[name]
    if name.endswith(".json") or Path(name).is_file():
        return DatasetSpec.from_json(name)
    known = ", ".join(sorted(DATASETS))
    raise DatasetSpecError(f"--dataset {name!r} is neither a registered dataset ({known}) nor a JSON spec "
                           "file; see docs/extending.md, 'Add a dataset'")


def is_default(spec: DatasetSpec) -> bool:
    """Whether `spec` is the default dataset's (whose DATA folders carry no dataset.json)."""
    return spec == DATASETS.get(DEFAULT_DATASET, UBC_FASHION) or spec == UBC_FASHION


def dataset_of(data_dir: str | Path) -> DatasetSpec:
    """The spec a DATA folder was prepared with: DATA/dataset.json, or the default when it has none."""
    path = Path(data_dir) / DATASET_NAME
    return DatasetSpec.from_json(path) if path.is_file() else get_dataset(DEFAULT_DATASET)


def write_dataset(data_dir: str | Path, spec: DatasetSpec) -> None:
    """Record `spec` in DATA/dataset.json (atomically)."""
    write_json_atomic(Path(data_dir) / DATASET_NAME, spec.to_dict())
