"""An honest interval for a training run's predicted total: the Student-t interval of
``results/prediction.py`` widened by the drift the run has shown, the machine's load and a floor for
few epochs.

Why: the Student-t interval is built from the spread of quarter-epoch segments, which on a shared
CPU says little about what comes next: there, the time (and energy) of an epoch drifts by up to 3x
within seconds as other work comes and goes, and an interval from the first one or two epochs alone
under-covers. How (for energy and duration alike, each from its own per-batch rates):

- **Drift seen**: each epoch's rate (the mean of its segments' per-batch figures; warm-up
  excluded). The rest of the run may go on from the latest epoch's rate and move as far as the
  rates have moved so far, either way: future rates in [last / D, last x D], D = max / min of the
  epoch rates. As factors of the mean rate behind the point prediction: ``drift_low``,
  ``drift_high``.
- **Machine load** (when the epochs record it, ``sensors/machine_load.py``'s 1-minute load average
  per CPU): on a machine with more runnable work than CPUs (load per CPU L > 1) the run's share of
  the CPUs may change by that ratio when the other work goes or grows: the future rates may be L
  times faster or slower (the highest L of the epochs).
- **Floor for few epochs**: ``FLOOR_REL`` / sqrt(epochs seen) either way (±50 % of the remaining
  work after one epoch, ±25 % after four): between-epoch changes the first epochs cannot show. A
  stated allowance, not a measured figure: every prediction's coverage is measured (the actual is
  recorded beside it).

The remaining part of the prediction (point less spent) is scaled by
``max(drift_high, L) x (1 + floor)`` for the high end and by ``min(drift_low, 1 / L) / (1 + floor)``
for the low end; the interval is the union of that and the Student-t one. A steady run's interval
narrows as epochs accrue (the floor shrinks, the t-interval too); one that slowed down keeps its
slowest rate inside. CO2: as the point's (the intensity expected over the remaining time).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from typing import Any

from greenai.results.prediction import METHOD as T_METHOD
from greenai.results.prediction import EpochPredictor, Prediction

FLOOR_REL = 0.5
METHOD = (
    f"{T_METHOD}; widened (results/prediction_drift.py) to cover the remaining work at rates "
    "from the latest epoch's / D to its x D (D: max/min of the epoch rates seen), at the machine "
    "load's ratio L (1-minute load average per CPU, when above 1) faster or slower, and by a floor "
    f"of +-{FLOOR_REL:.0%}/sqrt(epochs seen); the interval is the union with the Student-t one"
)


@dataclass
class EpochRates:
    """Each epoch's per-batch energy (kWh) and time (s) rates seen by this process, and the
    machine load per CPU at each epoch's end (when read)."""

    energy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    _used: int = 0  # the predictor's segments already assigned to an epoch

    def add_epoch(self, predictor: EpochPredictor, load_per_cpu: float | None = None) -> None:
        """Take the segments the predictor gathered since the last epoch as this epoch's."""
        e, s = predictor.seg_energy[self._used :], predictor.seg_seconds[self._used :]
        self._used = len(predictor.seg_energy)
        if e:
            self.energy.append(statistics.fmean(e))
            self.seconds.append(statistics.fmean(s))
        if load_per_cpu is not None and math.isfinite(load_per_cpu) and load_per_cpu >= 0:
            self.loads.append(load_per_cpu)


def drift_factors(rates: list[float], mean: float) -> tuple[float, float]:
    """(low, high) factors of ``mean`` between which the future rate may lie: the latest rate
    divided and multiplied by the drift D (max/min of ``rates``); (1, 1) with nothing to go on."""
    positive = [r for r in rates if r > 0]
    if not positive or mean <= 0 or len(positive) != len(rates):
        return 1.0, 1.0
    drift = max(positive) / min(positive)
    last = positive[-1]
    return min(1.0, last / drift / mean), max(1.0, last * drift / mean)


def floor_and_load(epochs_seen: int, loads: list[float]) -> tuple[float, float]:
    """(floor, load factor): ``FLOOR_REL`` / sqrt(epochs seen, at least 1) and the highest load per
    CPU above 1 (1 without one); also what ``greenai estimate`` widens its interval by."""
    return FLOOR_REL / math.sqrt(max(1, epochs_seen)), max([1.0, *loads])


def widen(
    p: Prediction, predictor: EpochPredictor, rates: EpochRates, spent: dict[str, float]
) -> tuple[Prediction, dict[str, Any]]:
    """``p`` with its energy, duration and CO2 intervals widened (module docstring), and what
    widened them (the record's ``interval``). ``spent``: cumulative energy_kwh, duration_s and
    co2_kg at the prediction."""
    floor, load = floor_and_load(len(rates.energy), rates.loads)

    def bounds(point: float, done: float, lo: float | None, hi: float | None,
               per_batch: list[float], epoch_rates: list[float]) -> tuple[float, float, list]:  # fmt: skip
        d_lo, d_hi = drift_factors(epoch_rates, statistics.fmean(per_batch) if per_batch else 0.0)
        rest = max(0.0, point - done)
        low = done + rest * min(d_lo, 1.0 / load) / (1.0 + floor)
        high = done + rest * max(d_hi, load) * (1.0 + floor)
        if lo is not None and hi is not None:
            low, high = min(low, lo), max(high, hi)
        return low, high, [d_lo, d_hi]

    e_lo, e_hi, e_drift = bounds(p.energy_kwh, spent["energy_kwh"], p.energy_low_kwh,
                                 p.energy_high_kwh, predictor.seg_energy, rates.energy)  # fmt: skip
    d_lo, d_hi, s_drift = bounds(p.duration_s, spent["duration_s"], p.duration_low_s,
                                 p.duration_high_s, predictor.seg_seconds, rates.seconds)  # fmt: skip
    rest_kwh = p.energy_kwh - spent["energy_kwh"]
    g = (p.co2_kg - spent["co2_kg"]) / rest_kwh if rest_kwh > 0 else 0.0  # the point's kg/kWh

    def co2(kwh: float) -> float:
        return spent["co2_kg"] + max(0.0, kwh - spent["energy_kwh"]) * g

    low_c, high_c = co2(e_lo), co2(e_hi)
    if p.co2_low_kg is not None and p.co2_high_kg is not None:
        low_c, high_c = min(low_c, p.co2_low_kg), max(high_c, p.co2_high_kg)
    wide = replace(
        p, energy_low_kwh=e_lo, energy_high_kwh=e_hi, duration_low_s=d_lo, duration_high_s=d_hi,
        co2_low_kg=low_c, co2_high_kg=high_c,
    )  # fmt: skip
    info = {
        "method": "drift, machine load and few-epoch floor over the Student-t interval",
        "epochs_seen": len(rates.energy),
        "floor_rel": floor,
        "energy_drift_factors": e_drift,
        "duration_drift_factors": s_drift,
        "load_per_cpu_max": max(rates.loads) if rates.loads else None,
        "load_factor": load,
    }
    return wide, info
