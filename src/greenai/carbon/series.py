"""Grid carbon intensity over time: a CSV series read offline, integrated step-wise.

Three layouts are read as they are, recognised by their header:

- greenai's own: ``timestamp,g_co2e_per_kwh`` (any step; ISO 8601 times with or without an offset,
  or Unix seconds). Average intensity unless a ``kind`` column says ``marginal``.
- Electricity Maps' CSV export: ``Datetime (UTC)`` and ``Carbon intensity gCO₂eq/kWh (Life cycle)``
  (older files: ``... (LCA)``), else ``... (direct)``. Average (consumption-based) intensity.
- WattTime's CSV export: ``point_time`` and ``value``, the MOER in lbs CO2/MWh, converted to
  g/kWh (x 0.45359237). Marginal intensity.

How it is integrated: the series is a step function. Each value holds from its timestamp until the
next one; the last holds for one more median step. Energy drawn between two meter readings is taken
as drawn evenly over that interval, so its CO2 is the energy times the exact mean of the step
function over the interval. A run that outlasts the series (or starts before it) keeps the nearest
edge value for the time outside, and the record says how many seconds were outside; a run whose
whole expected span is outside is refused before it starts (``check_span``).

Its band (the CO2's uncertainty from the intensity; ``greenai.uncertainty`` combines it with the
energy's): a greenai-layout file may give each value's own spread in ``g_co2e_per_kwh_low`` and
``g_co2e_per_kwh_high`` columns (e.g. a forecast's interval); the band is then the step-wise mean of
those over the same interval as the value's. A file without them (and Electricity Maps' and
WattTime's exports, which carry none) gets the allowance a country's figure gets,
``carbon/spread.py``'s ±``COUNTRY_REL`` around each value: a published hourly figure is itself
modelled (a forecast more so), and no better-founded figure is known; an assumption, not a
measurement. Bands are relative: a run's CO2 low/high = its time-integrated CO2 times the band's
factors over the run's window (mean low / mean value, mean high / mean value: ``band_factors``,
``over_run``); the carbon section records the run's band beside its mean intensity.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from greenai.carbon.series_csv import LBS_PER_MWH_TO_G_PER_KWH, read_series
from greenai.carbon.spread import COUNTRY_REL, country_band
from greenai.errors import UsageError

INTERPOLATION = "step-wise (each value holds until the next timestamp)"

__all__ = [
    "INTERPOLATION",
    "LBS_PER_MWH_TO_G_PER_KWH",
    "IntensitySeries",
    "iso",
    "load_series",
    "over_run",
]


@dataclass(frozen=True)
class IntensitySeries:
    """Timestamps (Unix s, ascending) and gCO2e/kWh, with where they came from."""

    times: tuple[float, ...]
    values: tuple[float, ...]
    path: str
    layout: str  # "greenai", "Electricity Maps", "WattTime"
    kind: str  # "average" or "marginal"
    timezone: str  # as the file gave it, e.g. "UTC" or "+02:00"
    column: str  # the value column used
    lows: tuple[float, ...] | None = None  # each value's own spread, when the file gives one
    highs: tuple[float, ...] | None = None

    @property
    def step_s(self) -> float:
        gaps = [b - a for a, b in itertools.pairwise(self.times)]
        return statistics.median(gaps) if gaps else 3600.0

    @property
    def begin(self) -> float:
        return self.times[0]

    @property
    def end(self) -> float:
        return self.times[-1] + self.step_s

    def at(self, t: float) -> float:
        """The intensity (g/kWh) in force at Unix time ``t`` (nearest edge value outside the span)."""
        i = bisect.bisect_right(self.times, t) - 1
        return self.values[max(0, min(i, len(self.values) - 1))]

    def mean_between(self, t0: float, t1: float) -> float:
        """The exact mean of the step function over [t0, t1] (g/kWh); ``at(t0)`` when t1 <= t0."""
        if t1 <= t0:
            return self.at(t0)
        lo, hi = bisect.bisect_right(self.times, t0), bisect.bisect_left(self.times, t1)
        edges = [t0, *self.times[lo:hi], t1]
        total = sum(self.at(a) * (b - a) for a, b in itertools.pairwise(edges))
        return total / (t1 - t0)

    @property
    def band_source(self) -> str:
        """Where the band comes from (recorded with the run)."""
        if self.lows is not None:
            return "the series' own low/high columns, step-wise like its values"
        return (
            f"no spread in the file: ±{COUNTRY_REL:.0%} around each value, the allowance a "
            "country's figure gets (carbon/spread.py; an assumption)"
        )

    def _mean_of(self, values: tuple[float, ...], t0: float, t1: float) -> float:
        """The step-wise mean of a column that shares the series' times."""
        return IntensitySeries(self.times, values, self.path, self.layout, self.kind,
                               self.timezone, self.column).mean_between(t0, t1)  # fmt: skip

    def band_between(self, t0: float, t1: float) -> tuple[float, float]:
        """(low, high) g/kWh over [t0, t1]: the means of the own low/high columns, else
        ±``COUNTRY_REL`` around ``mean_between`` (``carbon/spread.py``'s ``country_band``)."""
        if self.lows is None or self.highs is None:
            return country_band(self.mean_between(t0, t1))
        return self._mean_of(self.lows, t0, t1), self._mean_of(self.highs, t0, t1)

    def band_factors(self, t0: float | None = None, t1: float | None = None) -> tuple[float, float]:
        """(low, high) as factors of the mean over [t0, t1] (default: the whole span): what CO2
        integrated over that time is multiplied by for its band. (1, 1) when the mean is 0."""
        t0 = self.begin if t0 is None else t0
        t1 = self.end if t1 is None else t1
        mean = self.mean_between(t0, t1)
        if mean <= 0:
            return 1.0, 1.0
        lo, hi = self.band_between(t0, t1)
        return lo / mean, hi / mean

    def band_g_per_kwh(self) -> tuple[float, float]:
        """(low, high) of the span's mean: the ``CarbonIntensity`` band of a series, whose factors
        ``greenai.uncertainty`` applies to the time-integrated CO2."""
        return self.band_between(self.begin, self.end)

    def co2_band_kg(self, co2_kg: float, t0: float, t1: float) -> tuple[float, float]:
        """(low, high) of ``co2_kg`` integrated over [t0, t1] (the intensity's part of its band)."""
        lo, hi = self.band_factors(t0, t1)
        return co2_kg * lo, co2_kg * hi

    def outside_s(self, t0: float, t1: float) -> float:
        """Seconds of [t0, t1] outside the series' span."""
        before = max(0.0, min(t1, self.begin) - t0)
        after = max(0.0, t1 - max(t0, self.end))
        return before + after

    def check_span(self, start: float, duration_s: float = 0.0) -> None:
        """Refuse (one line) a run whose whole expected span [start, start + duration] is outside."""
        if start + duration_s < self.begin or start >= self.end:
            raise UsageError(
                f"intensity series {self.path} covers {iso(self.begin)} to {iso(self.end)}; "
                f"the run ({iso(start)}, expected {duration_s:.0f} s) lies wholly outside it"
            )

    def describe(self, t0: float | None = None, t1: float | None = None) -> dict[str, Any]:
        """The record's ``intensity_series`` section (with the run's own figures when given)."""
        d: dict[str, Any] = {
            "path": self.path,
            "layout": self.layout,
            "kind": self.kind,
            "timezone": self.timezone,
            "column": self.column,
            "points": len(self.times),
            "span_utc": [iso(self.begin), iso(self.end)],
            "interpolation": INTERPOLATION,
            "outside_span": "nearest edge value held; seconds outside recorded",
            "band": self.band_source,
        }
        if t0 is not None and t1 is not None:
            d["run_mean_g_per_kwh"] = self.mean_between(t0, t1)
            d["run_outside_span_s"] = self.outside_s(t0, t1)
            d["run_band_g_per_kwh"] = list(self.band_between(t0, t1))
        return d


def over_run(intensity: Any, t0: float, t1: float) -> Any:
    """A series-backed ``CarbonIntensity`` with its band over [t0, t1] as factors of its
    ``g_per_kwh``, so ``greenai.uncertainty`` gives a run's time-integrated CO2 the run's own band;
    any other intensity as it is."""
    series = getattr(intensity, "series", None)
    if series is None:
        return intensity
    lo, hi = series.band_factors(t0, t1)
    g = intensity.g_per_kwh
    return dataclasses.replace(intensity, low_g_per_kwh=g * lo, high_g_per_kwh=g * hi)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_series(path: str | Path) -> IntensitySeries:
    """Read a series CSV (see the module docstring; the reading: ``series_csv.py``). Bad files
    raise ``DataError`` (one line)."""
    return IntensitySeries(**read_series(path))
