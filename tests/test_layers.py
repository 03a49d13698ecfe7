"""Imports run one way: no module of ffbench imports a module of a higher layer.

The layers, from low to high (a module may import its own layer and any lower one):

0. base: the package root, errors, fileio, video, threads, devices, hashing, presets, interrupts,
   config_files, images, seeding, flow, published, progress, distributed: small helpers that know no model,
   dataset or metric.
1. encoders (the frozen VAE and CLIP, and the pixel conversion), synthetic (the embedded data generator).
2. datasets: prepare, shards, manifests, loaders, the flow cache of the Poke data.
3. metrics: features, distances, paired and diagnostic scores; they read shards and videos, never a model.
4. training: the engine (loop, phases, checkpoints, EMA, DDP); it imports no model.
5. models: each model's networks, losses, training recipe (`models/<name>/training.py`, which hands its
   phases to the engine) and sampler, plus the model registry.
6. generation: one `generate` for every registered model.
7. leaderboard, its per-video store and the kept features (feature_store), 8. report, 9. commands (the
   click commands), 10. cli.

Every import is read with `ast` (module level, function level and under TYPE_CHECKING alike, relative ones
resolved), so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS: list[tuple[str, ...]] = [
    ("ffbench", "errors", "fileio", "video", "threads", "devices", "hashing", "presets", "interrupts",
     "config_files", "images", "seeding", "flow", "published", "progress", "distributed"),
    ("encoders", "synthetic"),
    ("datasets",),
    ("metrics",),
    ("training",),
    ("models",),
    ("generation",),
    ("leaderboard", "per_video_store", "feature_store"),
    ("report",),
    ("commands",),
    ("cli",),
]
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}


def module_name(path: Path, package_root: Path) -> str:
    parts = list(path.relative_to(package_root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int | None:
    """The layer of `ffbench.X...` (X a top-level module or package); None for a name LAYERS lacks."""
    parts = module.split(".")
    return LAYER_OF.get(parts[1] if len(parts) > 1 else parts[0])


def imports(path: Path, module: str, package_root: Path) -> list[tuple[str, int]]:
    """(imported ffbench module, line) for every import statement of `path`. `from A import b` counts as
    an import of A.b when A/b is a module or package, else of A."""
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = package_root.parent.joinpath(*f"{target}.{alias.name}".split("."))
                full = sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file()
                out.append((f"{target}.{alias.name}" if full else target, node.lineno))
    return [(name, line) for name, line in out if name == "ffbench" or name.startswith("ffbench.")]


def upward_arrows(package_root: Path) -> list[str]:
    """Every import from a lower layer to a higher one under `package_root` (the ffbench folder), and every
    module that LAYERS does not place, as readable lines."""
    problems = []
    for path in sorted(package_root.rglob("*.py")):
        module = module_name(path, package_root)
        here = layer(module)
        if here is None:
            problems.append(f"{path.relative_to(package_root.parent)}: {module} has no layer; add it to "
                            "LAYERS in tests/test_layers.py (and to the map in its docstring and "
                            "docs/extending.md)")
            continue
        for target, line in sorted(set(imports(path, module, package_root)), key=lambda t: (t[1], t[0])):
            there = layer(target)
            if there is not None and there > here:
                problems.append(f"{path.relative_to(package_root.parent)}:{line}: {module} (layer {here}) "
                                f"imports {target} (layer {there})")
    return problems


def test_no_import_runs_up_a_layer():
    problems = upward_arrows(ROOT / "ffbench")
    assert not problems, "imports from a lower layer to a higher one:\n" + "\n".join(problems)


def test_the_library_never_imports_bench_or_tests():
    found = []
    for path in sorted((ROOT / "ffbench").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found += [f"{path}:{node.lineno}: {n}" for n in names if n.split(".")[0] in ("bench", "tests")]
    assert not found, "\n".join(found)


def test_the_check_finds_an_upward_import(tmp_path):
    """The checker itself: a function-level import of a higher layer, relative or absolute, is found and
    named with its file and line; a downward one is not."""
    pkg = tmp_path / "ffbench"
    for folder in ("datasets", "metrics", "models"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "metrics" / "cache.py").write_text("def cache_key():\n    return 1\n")
    (pkg / "datasets" / "pokes.py").write_text(
        "from ffbench.errors import UserError\n\n\ndef key():\n    from ..metrics.cache import cache_key\n"
        "    return cache_key()\n")
    (pkg / "models" / "m.py").write_text("from ffbench.metrics import cache\n")
    (pkg / "errors.py").write_text("class UserError(Exception):\n    pass\n")
    assert upward_arrows(pkg) == ["ffbench/datasets/pokes.py:5: ffbench.datasets.pokes (layer 2) imports "
                                  "ffbench.metrics.cache (layer 3)"]
