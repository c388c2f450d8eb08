"""A study under an energy/CO2 budget: which steps it can still afford.

The study's spending is the sum of its steps' own figures (``energy.step``: reused steps count,
they are part of the study's cost). Before a step runs, its cost is estimated from the baseline's
measured energy and CO2 per training epoch times the step's epochs (a fine-tuning, QAT or
distillation epoch counted as one baseline epoch; a step without epochs, such as PTQ or dynamic
quantization, as a tenth of one epoch for its calibration and evaluation). A step whose estimate
does not fit in what is left is skipped, with the figures in its record; its children are skipped
too (they have no parent). Before the baseline has run nothing can be estimated: it runs unless
the budget is already spent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from greenai.lifecycle.budget import Budget
from greenai.study.plan import Step

NO_EPOCH_FRACTION = 0.1


def spent(results: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Grid energy (kWh) and CO2 (kg) of the study's finished steps."""
    steps = [r["energy"]["step"] for r in results.values()]
    return {
        "energy_kwh": sum(s["energy_kwh"] for s in steps),
        "co2_kg": sum(s["co2_kg"] for s in steps),
    }


def estimate(step: Step, results: Mapping[str, Mapping[str, Any]]) -> dict[str, float] | None:
    """The step's estimated energy and CO2, or None before a baseline result exists."""
    from greenai.study.estimate import step_epochs

    base = next((r for r in results.values() if r.get("variant") == "baseline"), None)
    if base is None:
        return None
    epochs = max(1, int((base.get("hyperparameters") or {}).get("epochs") or 1))
    own = base["energy"]["step"]
    units = step_epochs(step) or NO_EPOCH_FRACTION
    return {
        "energy_kwh": own["energy_kwh"] / epochs * units,
        "co2_kg": own["co2_kg"] / epochs * units,
    }


def unaffordable(
    budget: Budget | None, step: Step, results: Mapping[str, Mapping[str, Any]]
) -> str | None:
    """Why ``step`` must be skipped under ``budget`` (one line with the figures), or None."""
    if budget is None:
        return None
    so_far = spent(results)
    left = budget.remaining(so_far)
    cost = estimate(step, results)
    for key, unit in (("energy_kwh", "kWh"), ("co2_kg", "kg")):
        if left[key] is None:
            continue
        name = key.split("_")[0]
        if left[key] <= 0:
            return f"not run: budget spent ({name} {so_far[key]:.4g} {unit} used)"
        if cost is not None and cost[key] > left[key]:
            return (
                f"not run: budget: estimated {name} {cost[key]:.4g} {unit} (baseline per epoch x "
                f"epochs) > {left[key]:.4g} {unit} left"
            )
    return None
