"""pyproject.toml, constraints-lowest.txt and requirements.lock agree with each other.

Ranges in pyproject.toml let `pip install .` sit beside a researcher's own torch; the lowest versions they
claim are the ones `make test-pythons` runs the suite with (constraints-lowest.txt); the lock is the exact
set that `make test`, `make demo` and CI install. A bound raised in one file and not the others breaks
one of those promises, so these tests read all three.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli is installed there (huggingface-hub needs it)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return [Requirement(r) for r in reqs]


def _pins(path: Path) -> dict[str, Version]:
    """name -> version of every `name==version` line (continuation lines with hashes skipped)."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = Version(m.group(2))
    return pins


def _lower_bound(req: Requirement) -> Version:
    lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
    assert len(lows) == 1, f"{req}: needs exactly one >= lower bound"
    return lows[0]


def test_dependencies_are_ranges_with_a_lower_bound():
    for req in _pyproject_requirements():
        assert not any(s.operator in ("==", "===", "~=") for s in req.specifier), (
            f"{req}: an exact pin makes pip replace a user's own {req.name}; use a range (the lock pins)")
        _lower_bound(req)


def test_lowest_constraints_are_the_lower_bounds():
    lowest = _pins(ROOT / "constraints-lowest.txt")
    reqs = _pyproject_requirements()
    assert set(lowest) == {canonicalize_name(r.name) for r in reqs}
    for req in reqs:
        assert lowest[canonicalize_name(req.name)] == _lower_bound(req), (
            f"{req}: constraints-lowest.txt says {lowest[canonicalize_name(req.name)]}")


@pytest.mark.parametrize("name", ["torch", "torchvision", "numpy", "pytest"])
def test_lock_pins_each_dependency_inside_its_range_with_hashes(name):
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins = _pins(ROOT / "requirements.lock")
    for req in _pyproject_requirements():
        key = canonicalize_name(req.name)
        assert key in pins, f"requirements.lock lacks {req.name}: run `make lock`"
        assert req.specifier.contains(pins[key], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[key]} outside {req.specifier}: run `make lock`")
    block = re.search(rf"^{name}==[^\n]*\n((?:\s+--hash=sha256:[0-9a-f]{{64}}.*\n)+)", text, re.M)
    assert block, f"requirements.lock has no hashes for {name}"
    assert not re.search(r"^-e |^ffbench", text, re.M), "the lock must not hold ffbench itself"
