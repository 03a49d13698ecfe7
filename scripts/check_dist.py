"""Check the wheel and the sdist that `python -m build` wrote into a folder (used by `make wheel-check`).

The wheel must hold every module of the package as git tracks it, the package data read at run time
(ffbench/data/*.csv, read through importlib.resources), the console script and metadata with ranges (no
exact pins: an exact torch pin would make pip replace a researcher's own torch), and nothing else: no tests,
no benchmark scripts, no caches. The sdist must hold what a wheel is rebuilt from (pyproject.toml, README,
the package and its data). Prints the sizes and the file counts; exits non-zero with every problem listed.

Example:
    python scripts/check_dist.py dist
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
# Files the package reads relative to itself at run time (grep for resources.files / __file__ in ffbench/).
PACKAGE_DATA = ["ffbench/data/published_ubc_fashion.csv"]
SDIST_EXTRA = ["pyproject.toml", "README.md"]


def tracked_package_files() -> list[str]:
    """The package's files as git tracks them: what the wheel must carry."""
    out = subprocess.run(["git", "ls-files", "ffbench"], cwd=ROOT, check=True, capture_output=True, text=True)
    return sorted(line for line in out.stdout.splitlines() if line)


def one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        names = [p.name for p in found]
        raise SystemExit(f"{folder}: expected one {pattern}, found {names}; run `make wheel-check`")
    return found[0]


def check_wheel(path: Path, expected: list[str]) -> list[str]:
    problems = []
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        meta_name = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        entry_name = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        metadata = zf.read(meta_name).decode() if meta_name else ""
        entry_points = zf.read(entry_name).decode() if entry_name else ""
    content = sorted(n for n in names if ".dist-info/" not in n)
    missing = sorted(set(expected) - set(content))
    extra = sorted(set(content) - set(expected))
    if missing:
        problems.append(f"wheel lacks {missing}")
    if extra:
        problems.append(f"wheel holds files git does not track in ffbench/: {extra}")
    if "ffbench = ffbench.cli:main" not in entry_points:
        problems.append("wheel has no `ffbench = ffbench.cli:main` console script")
    fields = Parser().parsestr(metadata)
    requires = fields.get_all("Requires-Dist") or []
    pinned = [r for r in requires if any(s.operator in ("==", "===") for s in Requirement(r).specifier)]
    if pinned:
        problems.append(f"wheel metadata pins exact versions (use ranges in pyproject.toml): {pinned}")
    if not any(r.startswith("torch") for r in requires):
        problems.append("wheel metadata does not require torch")
    if fields.get("Requires-Python") != ">=3.10":
        problems.append(f"Requires-Python is {fields.get('Requires-Python')!r}, expected '>=3.10'")
    return problems


def check_sdist(path: Path, expected: list[str]) -> list[str]:
    with tarfile.open(path) as tf:
        names = tf.getnames()
    prefix = names[0].split("/")[0] + "/"
    content = {n[len(prefix):] for n in names if n.startswith(prefix)}
    missing = sorted(set(expected + SDIST_EXTRA) - content)
    return [f"sdist lacks {missing}"] if missing else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the folder `python -m build --outdir` wrote (dist)")
    folder = parser.parse_args().folder
    expected = tracked_package_files()
    absent = [p for p in PACKAGE_DATA if p not in expected]
    if absent:
        raise SystemExit(f"package data {absent} is not tracked by git; update PACKAGE_DATA in {__file__}")
    wheel, sdist = one(folder, "ffbench-*.whl"), one(folder, "ffbench-*.tar.gz")
    problems = check_wheel(wheel, expected) + check_sdist(sdist, expected)
    for p in (wheel, sdist):
        print(f"{p.name}: {p.stat().st_size / 1024:.1f} KiB")
    data = ", ".join(PACKAGE_DATA)
    print(f"wheel: {len(expected)} package files, data {data}, console script ffbench; sdist: the same + "
          f"{', '.join(SDIST_EXTRA)}")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
