"""Models from outside the package: ``MODULE:NAME``, ``path/to/file.py:NAME`` and plugins.

A model name is one of:

- a built-in name, e.g. ``seed_cnn`` (``available()`` lists them);
- an installed plugin's name: an entry point in the group ``greenai.models`` (name -> factory),
  e.g. in the plugin's ``pyproject.toml``: ``[project.entry-points."greenai.models"]``
  ``mynet = "mypkg.nets:make"``;
- ``MODULE:NAME``: an importable module and an attribute of it;
- ``path/to/file.py:NAME``: a Python file anywhere. A relative path is taken against the current
  folder when the name is parsed, and ``model_reference`` records it absolute, so a later process
  in another folder (evaluate, prune, quantize) rebuilds the same model. The file is loaded under
  a module name of its own (reloaded when it changes); its folder is not put on ``sys.path``.

The factory contract, for every kind (NAME may also be an ``nn.Module`` class)::

    factory(num_classes=int, input_shape=(channels, height, width), **kwargs) -> torch.nn.Module

A factory whose signature does not take ``input_shape`` or ``num_classes`` is called without
them; ``**kwargs`` accepts both. ``create_model`` then checks the result: an ``nn.Module`` whose
forward pass maps a ``(2, *input_shape)`` batch to ``(2, num_classes)`` logits.

Everything the user's code raises while importing becomes one ``UsageError`` line.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from greenai.errors import UsageError

ENTRY_POINT_GROUP = "greenai.models"
FORMS = "MODULE:NAME or path/to/file.py:NAME"

# absolute path -> ((mtime_ns, size), module): a file is executed once until it changes
_FILE_MODULES: dict[str, tuple[tuple[int, int], ModuleType]] = {}


@dataclass(frozen=True)
class Ref:
    """A parsed reference: ``kind`` "module" (target is a module name) or "file" (absolute path)."""

    kind: str
    target: str
    attr: str

    def __str__(self) -> str:
        return f"{self.target}:{self.attr}"


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, cut to ``limit`` characters."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse(name: str, label: str) -> Ref | None:
    """The reference in ``name``, or None for a plain (built-in or plugin) name.

    The last ``:`` splits target from attribute (a Windows drive letter keeps its colon). A
    target ending in ``.py`` or holding a path separator is a file, anything else a module."""
    if ":" not in name:
        return None
    target, _, attr = name.rpartition(":")
    if not target.strip() or not attr:
        raise UsageError(f"{label}: expected {FORMS}")
    if not all(part.isidentifier() for part in attr.split(".")):
        raise UsageError(f"{label}: {attr!r} is not a Python attribute name")
    if target.endswith(".py") or "/" in target or os.sep in target:
        return Ref("file", os.path.abspath(os.path.expanduser(target)), attr)
    if not all(part.isidentifier() for part in target.split(".")):
        raise UsageError(f"{label}: {target!r} is neither a module name nor a .py file")
    return Ref("module", target, attr)


def resolve(ref: Ref, label: str) -> Callable[..., Any]:
    """Import ``ref``'s module or file and return its callable attribute."""
    if ref.kind == "file":
        module = _load_file(ref.target, label)
    else:
        try:
            module = importlib.import_module(ref.target)
        except (Exception, SystemExit) as exc:  # the user's code: any failure is one line
            raise UsageError(
                f"{label}: cannot import module {ref.target!r} ({one_line(exc)})"
            ) from None
    obj: Any = module
    for part in ref.attr.split("."):
        try:
            obj = getattr(obj, part)
        except Exception:  # AttributeError, or whatever a module __getattr__ raises
            raise UsageError(f"{label}: module has no attribute {ref.attr!r}") from None
    return _callable(obj, label)


def plugins() -> dict[str, importlib.metadata.EntryPoint]:
    """Installed plugins' entry points in ``greenai.models`` by name (the first of duplicates)."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def load_plugin(ep: importlib.metadata.EntryPoint, label: str) -> Callable[..., Any]:
    """The factory an entry point names; a failing import is one UsageError line."""
    try:
        obj = ep.load()
    except (Exception, SystemExit) as exc:
        raise UsageError(
            f"{label}: cannot load plugin entry point {ep.value!r} ({one_line(exc)})"
        ) from None
    return _callable(obj, label)


def _callable(obj: Any, label: str) -> Callable[..., Any]:
    if not callable(obj):
        raise UsageError(
            f"{label}: {type(obj).__name__} is not callable "
            "(expected a factory function or an nn.Module class)"
        )
    return obj


def _load_file(path: str, label: str) -> ModuleType:
    """Execute the file at ``path`` as a module of its own (cached until its mtime or size change)."""
    if not os.path.exists(path):
        raise UsageError(f"{label}: no such file: {path}")
    if not os.path.isfile(path):
        raise UsageError(f"{label}: not a file: {path}")
    st = os.stat(path)
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _FILE_MODULES.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    module_name = "greenai_user_model_" + hashlib.sha1(path.encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{label}: cannot load {path} as Python source (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses, pickle and tracers look classes up here
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # SyntaxError, ImportError, anything: one line
        sys.modules.pop(module_name, None)
        raise UsageError(f"{label}: cannot import {path} ({one_line(exc)})") from None
    _FILE_MODULES[path] = (stamp, module)
    return module
