"""What a report is built from: one ``RunInput`` per run, whatever its source (result JSON or store).

A run that failed, was interrupted or was never run (its parent failed) is still a ``RunInput``,
with ``result=None`` and ``status``/``error`` saying why: reports show such runs, they never drop them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EpochPoint:
    """One epoch's metrics, e.g. ``{"train_loss": 1.2, "test_acc": 55.0}`` (accuracy in percent)."""

    epoch: int
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class PhaseSpan:
    """A phase of a run, in seconds since the run started."""

    path: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class PowerTrace:
    """The meter's samples of one run: mean power per component (W) at each elapsed time (s)."""

    elapsed_s: tuple[float, ...]
    power_w: Mapping[str, tuple[float, ...]]
    phases: tuple[PhaseSpan, ...] = ()


@dataclass(frozen=True)
class RunInput:
    """One run to report on. ``result`` is the result JSON dict (schema_version 1) when it finished."""

    run_id: str
    variant: str
    device: str
    status: str  # "done", "failed", "interrupted", "running", "skipped"
    result: Mapping[str, Any] | None = None
    error: str | None = None
    model: str | None = None
    parent_run_id: str | None = None
    epochs: tuple[EpochPoint, ...] = ()
    power: PowerTrace | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Mapping[str, Any], **kw: Any) -> RunInput:
        """A finished run from its result JSON dict."""
        return cls(
            run_id=str(result.get("run_id", "?")),
            variant=str(result.get("variant", "?")),
            device=str(result.get("device", "?")),
            status="done",
            result=result,
            model=result.get("model"),
            parent_run_id=result.get("parent_run_id"),
            **kw,
        )
