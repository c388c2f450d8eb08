"""Energy as an extra objective of a user's own Optuna study: ``metered(objective)``.

```python
import optuna
from greenai.integrations.optuna import metered

def objective(trial):                      # the user's, unchanged
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    return train_and_score(lr)             # e.g. accuracy

study = optuna.create_study(directions=["maximize", "minimize"])   # accuracy up, energy down
study.optimize(metered(objective, cost="energy_kwh", store="greenai.db"), n_trials=20)
```

Each trial runs under ``greenai.track`` (one recorded run per trial, grouped by the study's name) and
returns the objective's value(s) followed by the trial's cost: its energy in kWh drawn from the grid
(PUE included) or its CO2 in kg — what ``greenai search`` minimises for its own trials. The trial's
user attributes hold the figures (``greenai_run_id``, ``energy_kwh``, ``co2_kg``, ``duration_s``,
``energy_<component>_j`` and ``energy_methods``), so they stay with the study in any Optuna storage.
A trial that raises is recorded as a failed run and the exception goes on to Optuna (trial FAIL).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from greenai.errors import UsageError

COSTS = ("energy_kwh", "co2_kg")


def trial_figures(m: Any) -> dict[str, Any]:
    """The user attributes a metered trial gets from its ``Measurement``."""
    figures: dict[str, Any] = {
        "greenai_run_id": m.run_id,
        "energy_kwh": m.energy_kwh,
        "co2_kg": m.co2_kg,
        "duration_s": m.duration_s,
        "energy_methods": {c: meth.label() for c, meth in m.methods.items()},
    }
    figures.update({f"energy_{c}_j": j for c, j in m.energy_j.items()})
    return figures


def metered(
    objective: Callable[[Any], Any], *, cost: str = "energy_kwh", **track_kwargs: Any
) -> Callable[[Any], tuple[float, ...]]:
    """``objective`` metered per trial, returning ``(*its values, cost)``. ``cost``: "energy_kwh"
    or "co2_kg". Other keyword arguments are ``greenai.track``'s (``store``, ``country``, ...);
    the run's group defaults to the study's name."""
    if cost not in COSTS:
        raise UsageError(f"cost must be one of {', '.join(COSTS)}, got {cost!r}")
    from greenai.lifecycle.recorded import track

    @functools.wraps(objective)
    def wrapper(trial: Any) -> tuple[float, ...]:
        kwargs = dict(track_kwargs)
        kwargs.setdefault("group", getattr(getattr(trial, "study", None), "study_name", None))
        with track(f"trial-{trial.number}", **kwargs) as tracker:
            value = objective(trial)
        m = tracker.measurement
        for key, figure in trial_figures(m).items():
            trial.set_user_attr(key, figure)
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        return (*values, float(getattr(m, cost)))

    return wrapper
