"""Energy and CO2 budgets: ``--energy-budget 50Wh`` / ``--co2-budget 20g``, parsed with their units,
and the decision whether a run (or a study, or a search) can still afford its work.

A training run stops after an epoch when the predicted total (the point prediction, see
``results/prediction.py``) or the energy already spent passes the budget; its status becomes
``stopped: budget`` and its checkpoint is kept. Budgets count grid energy (PUE included), the
figure every result reports. No torch here: the CLI parses flags with it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from greenai.errors import GreenAIError, UsageError

ENERGY_UNITS_KWH = {"j": 1 / 3.6e6, "kj": 1 / 3.6e3, "wh": 1e-3, "kwh": 1.0, "mwh": 1e3}
CO2_UNITS_KG = {"g": 1e-3, "kg": 1.0, "t": 1e3}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]+)\s*$", re.IGNORECASE)


class StopRun(GreenAIError):
    """A graceful stop of a training run after an epoch's checkpoint; ``run_status`` is the
    store's status for it (``lifecycle/run.py`` records it instead of "failed")."""

    exit_code = 3
    run_status = "stopped: budget"


class BudgetExceeded(StopRun):
    """A run stopped because its budget would be exceeded: status ``stopped: budget``, exit 3."""


class TrialDominated(StopRun):
    """A search trial stopped because another trial was better on accuracy and energy at the
    same epoch (``search/dominance.py``): status ``pruned``."""

    run_status = "pruned"


def _parse(text: str, units: dict[str, float], what: str, example: str) -> float:
    m = _NUMBER.match(str(text))
    factor = units.get(m.group(2).lower()) if m else None
    value = float(m.group(1)) * factor if m and factor is not None else math.nan
    if not math.isfinite(value) or value <= 0:
        raise UsageError(
            f"{what} must be a positive number with a unit ({', '.join(units)}), e.g. {example}; "
            f"got {text!r}"
        )
    return value


def parse_energy_kwh(text: str) -> float:
    """``"50Wh"`` -> 0.05 (kWh). Units: J, kJ, Wh, kWh, MWh."""
    return _parse(text, ENERGY_UNITS_KWH, "--energy-budget", "50Wh")


def parse_co2_kg(text: str) -> float:
    """``"20g"`` -> 0.02 (kg). Units: g, kg, t."""
    return _parse(text, CO2_UNITS_KG, "--co2-budget", "20g")


@dataclass(frozen=True)
class Budget:
    """Limits on grid energy (kWh, PUE included) and CO2 (kg); None: no limit on that figure."""

    energy_kwh: float | None = None
    co2_kg: float | None = None

    @classmethod
    def from_flags(cls, energy: str | None, co2: str | None) -> Budget | None:
        """From the flags' text (None when neither is given). Bad text: one UsageError line."""
        if energy is None and co2 is None:
            return None
        return cls(
            None if energy is None else parse_energy_kwh(energy),
            None if co2 is None else parse_co2_kg(co2),
        )

    def exceeded(self, spent: dict[str, float], prediction: dict[str, Any] | None) -> str | None:
        """Why the work must stop (spent or predicted total over a limit), or None."""
        for key, limit, unit in (
            ("energy_kwh", self.energy_kwh, "kWh"),
            ("co2_kg", self.co2_kg, "kg"),
        ):
            if limit is None:
                continue
            if spent[key] >= limit:
                return f"{key.split('_')[0]} spent {spent[key]:.4g} {unit} >= budget {limit:.4g} {unit}"
            if prediction is not None and prediction[key] > limit:
                return (
                    f"predicted total {key.split('_')[0]} {prediction[key]:.4g} {unit} > budget "
                    f"{limit:.4g} {unit}"
                )
        return None

    def remaining(self, spent: dict[str, float]) -> dict[str, float | None]:
        """What is left of each limit after ``spent`` (None: no limit)."""
        return {
            "energy_kwh": None
            if self.energy_kwh is None
            else self.energy_kwh - spent["energy_kwh"],
            "co2_kg": None if self.co2_kg is None else self.co2_kg - spent["co2_kg"],
        }

    def to_dict(self) -> dict[str, float | None]:
        return {"energy_kwh": self.energy_kwh, "co2_kg": self.co2_kg}
