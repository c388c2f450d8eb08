"""The model registry: ``@register_model("name")`` on a factory, ``create_model(name, ...)`` to build.

Every module in this package is imported on first use, so a new model is one new file with a
decorated factory; nothing here needs editing.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from greenai.errors import UsageError

_REGISTRY: dict[str, Callable[..., Any]] = {}
_discovered = False


def register_model(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``factory(num_classes=10, **kw) -> torch.nn.Module`` under ``name``."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return deco


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _discovered = True


def available() -> list[str]:
    """Names of all registered models, sorted."""
    _discover()
    return sorted(_REGISTRY)


def check_model_name(name: str) -> None:
    if name not in available():
        raise UsageError(f"unknown model {name!r}; available: {', '.join(available())}")


def create_model(name: str, num_classes: int = 10, **kw: Any) -> Any:
    """Build a registered model. Unknown names and bad keyword arguments raise UsageError."""
    check_model_name(name)
    try:
        return _REGISTRY[name](num_classes=num_classes, **kw)
    except TypeError as exc:
        raise UsageError(f"model {name!r}: bad arguments {sorted(kw)}: {exc}") from None


def count_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
