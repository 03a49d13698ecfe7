"""Checking the config files of a saved pipeline or model before a library builds anything from them.

diffusers and transformers read `config.json` and pass its fields to a constructor; a damaged file then
fails deep inside with messages such as "not all arguments converted during string formatting" that
name neither the file nor the field. `check_pipeline_dir` reads every component's config first and
names the file and the field: JSON that does not parse, a file that is not a JSON object, and a field
whose type differs from its constructor default's (a string where an int belongs, a list for a number).
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any

from ffbench.errors import UserError

# The file each kind of component keeps its settings in (diffusers / transformers conventions).
_CONFIG_FILES = ("config.json", "scheduler_config.json", "preprocessor_config.json")


class ConfigFileError(UserError, ValueError):
    """A config file of a saved pipeline or model is damaged; the message names the file and the field."""


def read_config(path: str | Path) -> dict[str, Any]:
    """The JSON object in `path`, or ConfigFileError naming the file and where the JSON breaks."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigFileError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); the file is "
                              "damaged: restore it or export the pipeline again") from None
    except json.JSONDecodeError as err:
        where = f"{err.msg} at line {err.lineno} column {err.colno}"
        raise ConfigFileError(f"{path}: not valid JSON ({where}); the file is damaged or truncated: "
                              "restore it or export the pipeline again") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: holds a JSON {type(data).__name__}, not an object of settings; "
                              "restore it or export the pipeline again")
    return data


def _type_problem(value: Any, default: Any) -> str | None:
    """Why `value` cannot stand where the constructor default `default` stands (None if it can)."""
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "an object", tuple: "a list"}

    def kind(v: Any) -> str:
        return "null" if v is None else names.get(type(v), type(v).__name__)

    if default is None or default is inspect.Parameter.empty:
        return None
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, list)
    elif isinstance(default, dict):
        ok = isinstance(value, dict)
    else:
        return None
    if ok:
        return None
    return f"is {kind(value)} ({json.dumps(value)[:40]}), expected {kind(default)} like {default!r}"


def check_config(path: str | Path, cls: type | None) -> dict[str, Any]:
    """Read `path` and check each field against `cls.__init__`'s defaults; ConfigFileError names the
    first field of the wrong type. Returns the config."""
    path = Path(path)
    data = read_config(path)
    if cls is None:
        return data
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return data
    for key, value in data.items():
        if key.startswith("_") or key not in params:
            continue
        problem = _type_problem(value, params[key].default)
        if problem:
            raise ConfigFileError(f"{path}: field {key!r} {problem}; the file is damaged: restore it or "
                                  "export the pipeline again")
    return data


def _component_class(library: Any, name: Any) -> type | None:
    if not (isinstance(library, str) and isinstance(name, str)):
        return None
    try:
        return getattr(importlib.import_module(library), name, None)
    except ImportError:
        return None


def check_pipeline_dir(path: str | Path) -> None:
    """Check `model_index.json` and every component's config file of a saved diffusers pipeline.

    The field check uses the component class named in model_index.json (its constructor defaults, or
    for a transformers model those of its config class).
    """
    path = Path(path)
    index = read_config(path / "model_index.json")
    for component, spec in sorted(index.items()):
        if component.startswith("_") or not isinstance(spec, list) or len(spec) != 2 or spec[0] is None:
            continue
        folder = path / component
        cls = _component_class(*spec)
        cls = getattr(cls, "config_class", None) or cls  # transformers: the fields are the config class's
        for name in _CONFIG_FILES:
            if (folder / name).is_file():
                check_config(folder / name, cls if isinstance(cls, type) else None)
