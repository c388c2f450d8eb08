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
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from greenai.errors import DataError, UsageError

LBS_PER_MWH_TO_G_PER_KWH = 0.45359237  # 1 lb = 453.59237 g; 1 MWh = 1000 kWh
INTERPOLATION = "step-wise (each value holds until the next timestamp)"

_EM_TIME = "datetime (utc)"
_EM_VALUES = (
    "carbon intensity gco₂eq/kwh (life cycle)",
    "carbon intensity gco₂eq/kwh (lca)",
    "carbon intensity gco2eq/kwh (life cycle)",
    "carbon intensity gco2eq/kwh (lca)",
    "carbon intensity gco₂eq/kwh (direct)",
    "carbon intensity gco2eq/kwh (direct)",
)


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
        }
        if t0 is not None and t1 is not None:
            d["run_mean_g_per_kwh"] = self.mean_between(t0, t1)
            d["run_outside_span_s"] = self.outside_s(t0, t1)
        return d


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str, where: str) -> tuple[float, str]:
    """Unix seconds and the zone label of one timestamp (naive ISO times are taken as UTC)."""
    text = text.strip()
    try:
        return float(text), "UTC (Unix seconds)"
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" UTC", "+00:00"))
    except ValueError:
        raise DataError(f"{where}: {text!r} is not a timestamp (ISO 8601 or Unix s)") from None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc).timestamp(), "UTC (no offset given; assumed)"
    offset = dt.utcoffset()
    label = "UTC" if not offset else dt.strftime("%z")[:3] + ":" + dt.strftime("%z")[3:]
    return dt.timestamp(), label


def _pick(header: list[str]) -> tuple[str, int, int, str, float]:
    """(layout, time column, value column, kind, factor to g/kWh) from a header row."""
    low = [h.strip().lower() for h in header]
    if _EM_TIME in low:
        for name in _EM_VALUES:
            if name in low:
                return "Electricity Maps", low.index(_EM_TIME), low.index(name), "average", 1.0
        raise DataError("Electricity Maps CSV without a 'Carbon intensity gCO₂eq/kWh' column")
    if "point_time" in low and "value" in low:
        return (
            "WattTime",
            low.index("point_time"),
            low.index("value"),
            "marginal",
            (LBS_PER_MWH_TO_G_PER_KWH),
        )
    if "timestamp" in low:
        for name in ("g_co2e_per_kwh", "gco2e_per_kwh", "g_per_kwh", "intensity"):
            if name in low:
                return "greenai", low.index("timestamp"), low.index(name), "average", 1.0
    raise DataError(
        "intensity series: unknown CSV layout (want timestamp,g_co2e_per_kwh; Electricity Maps' "
        "'Datetime (UTC)'; or WattTime's point_time,value)"
    )


def load_series(path: str | Path) -> IntensitySeries:
    """Read a series CSV (see the module docstring). Bad files raise ``DataError`` (one line)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"intensity series {p}: {exc.strerror or exc}") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise DataError(f"intensity series {p}: needs a header and at least one row")
    layout, ti, vi, kind, factor = _pick(rows[0])
    low = [h.strip().lower() for h in rows[0]]
    if layout == "greenai" and "kind" in low:
        kinds = {r[low.index("kind")].strip().lower() for r in rows[1:]}
        kind = "marginal" if kinds == {"marginal"} else kind
    points: list[tuple[float, float]] = []
    zones: set[str] = set()
    for n, row in enumerate(rows[1:], start=2):
        where = f"intensity series {p} line {n}"
        if max(ti, vi) >= len(row):
            raise DataError(f"{where}: too few columns")
        t, zone = _parse_time(row[ti], where)
        try:
            g = float(row[vi]) * factor
        except ValueError:
            raise DataError(f"{where}: {row[vi]!r} is not a number") from None
        if not g >= 0 or g == float("inf"):
            raise DataError(f"{where}: intensity must be a finite number >= 0, got {row[vi]!r}")
        points.append((t, g))
        zones.add(zone)
    points.sort()
    times = tuple(t for t, _ in points)
    if len(set(times)) != len(times):
        raise DataError(f"intensity series {p}: repeated timestamps")
    return IntensitySeries(
        times=times,
        values=tuple(g for _, g in points),
        path=str(p),
        layout=layout,
        kind=kind,
        timezone=", ".join(sorted(zones)),
        column=rows[0][vi].strip(),
    )
