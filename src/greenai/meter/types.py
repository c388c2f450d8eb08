"""The meter's records: plain, immutable values with their units in their names.

This module is the contract between the meter (which produces these), its sinks (CSV files, the run
store, MLflow, the dashboard) and the experiments (which read them). Energies are joules, powers
watts, times seconds (durations) or Unix epoch seconds (timestamps), CO2 kilograms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from greenai.units import COMPONENTS, JOULES_PER_KWH, CarbonIntensity, Method, kwh

__all__ = [
    "COMPONENTS",
    "JOULES_PER_KWH",
    "CarbonIntensity",
    "Measurement",
    "Method",
    "PhaseResult",
    "Sample",
    "Sink",
    "kwh",
]


@dataclass(frozen=True)
class Sample:
    """One reading of the sampling thread. Energies are cumulative since the tracker started."""

    run_id: str
    timestamp: float
    elapsed_s: float
    phase: str | None  # innermost open phase path, e.g. "train/epoch", or None
    power_w: dict[str, float]  # mean power per component over the last interval
    energy_j: dict[str, float]  # cumulative energy per component (before PUE)
    co2_kg: float  # cumulative, PUE and intensity applied


@dataclass(frozen=True)
class PhaseResult:
    """A named measurement window inside a run. ``path`` joins nested names with '/'."""

    run_id: str
    name: str
    path: str
    start_time: float
    duration_s: float
    energy_j: dict[str, float]  # per component, before PUE
    co2_kg: float

    @property
    def energy_kwh(self) -> float:
        return kwh(sum(self.energy_j.values()))


@dataclass(frozen=True)
class Measurement:
    """A finished (or live, when taken from a running tracker) measurement of a whole run."""

    run_id: str
    name: str
    start_time: float
    duration_s: float
    energy_j: dict[str, float]  # per component, before PUE
    methods: dict[str, Method]  # per component
    intensity: CarbonIntensity
    pue: float
    co2_kg: float  # sum(energy) * pue * intensity
    phases: tuple[PhaseResult, ...] = field(default_factory=tuple)

    @property
    def energy_total_j(self) -> float:
        return sum(self.energy_j.values())

    @property
    def energy_kwh(self) -> float:
        """Energy drawn from the grid, PUE included."""
        return kwh(self.energy_total_j) * self.pue

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["energy_kwh"] = self.energy_kwh
        d["methods"] = {c: m.label() for c, m in self.methods.items()}
        return d


class Sink(Protocol):
    """Receives the meter's records as they happen. Must not raise for I/O hiccups silently:
    a sink that cannot write raises, and the tracker reports it once and drops that sink."""

    def on_start(self, run_id: str, name: str, start_time: float) -> None: ...

    def on_sample(self, sample: Sample) -> None: ...

    def on_phase(self, phase: PhaseResult) -> None: ...

    def on_stop(self, measurement: Measurement) -> None: ...
