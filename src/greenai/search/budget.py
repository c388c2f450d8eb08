"""A search under an energy/CO2 budget: no more trials once the search has spent it.

The search's spending is the sum of its runs' own figures in the run store (every trial of the
search's group, earlier processes' too, failed and pruned ones with what they recorded). It is
checked before the first trial and after each one; a trial is never cut short by it (a trial's own
training has no budget here), so a search spends at most its budget plus the one trial that was
running when the budget was crossed, per worker process: with W workers sharing a study, up to W
trials' worth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from greenai.lifecycle.budget import Budget


def search_spent(store: Any, group: str) -> dict[str, float]:
    """Grid energy (kWh) and CO2 (kg) the search's runs have recorded so far."""
    runs = store.list_runs(group=group)
    return {
        "energy_kwh": sum(r.energy_kwh or 0.0 for r in runs),
        "co2_kg": sum(r.co2_kg or 0.0 for r in runs),
    }


class BudgetCallback:
    """An Optuna callback (after each trial) that stops this worker once the budget is spent."""

    def __init__(
        self, store: Any, group: str, budget: Budget, log: Callable[[str], None] = print
    ) -> None:
        self.store, self.group, self.budget, self.log = store, group, budget, log
        self.stopped_because: str | None = None

    def exhausted(self) -> str | None:
        """Why no trial may start now (the budget is spent), or None."""
        return self.budget.exceeded(search_spent(self.store, self.group), None)

    def __call__(self, study: Any, _trial: Any) -> None:
        why = self.exhausted()
        if why is not None:
            self.stopped_because = why
            self.log(f"search: budget reached ({why}): no more trials are launched")
            study.stop()
