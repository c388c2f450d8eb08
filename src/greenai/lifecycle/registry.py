"""The lifecycle's steps by name: what the study's plan, the reports and the CLI read.

Each module of ``greenai.lifecycle.steps`` registers its kinds of run at import (module level imports
no torch), so a new compression method is one new file there: its variant name, display name, what
kind of parent it needs, and — for a step the study can run — the study settings it depends on and
the function the study calls. Nothing here imports torch.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from greenai.errors import UsageError

#: parent kinds: no parent (a root of a lineage), or a trained FP32 model
ROOT, FP32 = None, "fp32"


@dataclass(frozen=True)
class StepKind:
    variant: str  # the name in the store, result JSON and file names, e.g. "pruned_structured"
    display: str  # the name in tables and charts, e.g. "Pruned (structured)"
    parent: str | None  # ROOT or FP32
    order: int  # position in study plans, tables and charts
    # For a step the study can run: the study settings it depends on (its hash covers them) and
    # ``run(ctx) -> result`` (``ctx``: the study's StepContext). None: not a study step.
    study_settings: tuple[str, ...] | None = None
    run: Callable[[Any], Mapping[str, Any]] | None = None

    @property
    def in_study(self) -> bool:
        return self.run is not None


_KINDS: dict[str, StepKind] = {}
_discovered = False


def register_step(kind: StepKind) -> StepKind:
    if kind.variant in _KINDS and _KINDS[kind.variant] != kind:
        raise ValueError(f"step {kind.variant!r} is registered twice")
    _KINDS[kind.variant] = kind
    return kind


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    from greenai.lifecycle import steps

    for info in pkgutil.iter_modules(steps.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{steps.__name__}.{info.name}")
    _discovered = True


def kinds() -> list[StepKind]:
    """Every registered kind, in display order."""
    _discover()
    return sorted(_KINDS.values(), key=lambda k: (k.order, k.variant))


def get(variant: str) -> StepKind:
    _discover()
    if variant not in _KINDS:
        raise UsageError(f"unknown variant {variant!r}; known: {', '.join(_KINDS)}")
    return _KINDS[variant]


def display_name(variant: str) -> str:
    _discover()
    kind = _KINDS.get(variant)
    return kind.display if kind else variant


def study_variants() -> tuple[str, ...]:
    """The variants the study can run, baseline first."""
    return tuple(k.variant for k in kinds() if k.in_study)


def display_order() -> tuple[str, ...]:
    return tuple(k.variant for k in kinds())
