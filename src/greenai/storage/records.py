"""What the run store returns: frozen snapshots, detached from the database.

Samples and phases come back as the meter's own records (``greenai.meter.types``); runs and epochs
have their own types here. Dict fields are fresh copies: changing them changes nothing stored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

RUNNING = "running"
DONE = "done"
FAILED = "failed"
INTERRUPTED = "interrupted"
# a training run stopped by its energy/CO2 budget (lifecycle/budget.py): its checkpoint is kept and
# ``--resume`` with a larger budget continues it
BUDGET_STOPPED = "stopped: budget"
PRUNED = "pruned"  # a search trial dominated at the same epoch on (accuracy, energy)
STATUSES = (RUNNING, DONE, FAILED, INTERRUPTED, BUDGET_STOPPED, PRUNED)
FINAL_STATUSES = (DONE, FAILED, INTERRUPTED, BUDGET_STOPPED, PRUNED)


@dataclass(frozen=True)
class RunRecord:
    """One run as stored. Times are Unix epoch seconds; ``accuracy`` is test accuracy in percent;
    ``energy_kwh`` and ``co2_kg`` are the run's own (step) figures, PUE included."""

    run_id: str
    name: str
    variant: str | None
    model: str | None
    dataset: str | None
    device: str | None
    group: str | None
    parent_run_id: str | None
    status: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    finished_at: float | None
    duration_s: float | None
    accuracy: float | None
    energy_kwh: float | None
    co2_kg: float | None
    config: dict[str, Any]
    result: dict[str, Any] | None
    measurement: dict[str, Any] | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch's metrics (e.g. ``train_loss``, ``test_acc``) as the trainer reported them."""

    run_id: str
    epoch: int
    metrics: dict[str, Any]
    recorded_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
