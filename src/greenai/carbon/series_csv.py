"""Reading a grid carbon intensity CSV (its three layouts: ``series.py``'s docstring) into the
fields of an ``IntensitySeries``: the layout recognised by its header, each timestamp parsed (ISO
8601 with or without an offset, or Unix seconds), WattTime's lbs/MWh converted to g/kWh, a
greenai-layout file's own low/high columns checked, the points sorted. ``series.load_series`` builds
the series from them.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from greenai.errors import DataError

LBS_PER_MWH_TO_G_PER_KWH = 0.45359237  # 1 lb = 453.59237 g; 1 MWh = 1000 kWh

_EM_TIME = "datetime (utc)"
_EM_VALUES = (
    "carbon intensity gco₂eq/kwh (life cycle)",
    "carbon intensity gco₂eq/kwh (lca)",
    "carbon intensity gco2eq/kwh (life cycle)",
    "carbon intensity gco2eq/kwh (lca)",
    "carbon intensity gco₂eq/kwh (direct)",
    "carbon intensity gco2eq/kwh (direct)",
)


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


def read_series(path: str | Path) -> dict[str, Any]:
    """Read a series CSV: the keyword arguments of its ``IntensitySeries``. Bad files raise
    ``DataError`` (one line)."""
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
    spread = _spread_columns(low, p) if layout == "greenai" else None
    points: list[tuple[float, float, float, float]] = []
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
        lo, hi = (g, g) if spread is None else _spread_values(row, spread, g, where)
        points.append((t, g, lo, hi))
        zones.add(zone)
    points.sort()
    times = tuple(t for t, *_ in points)
    if len(set(times)) != len(times):
        raise DataError(f"intensity series {p}: repeated timestamps")
    return dict(
        times=times,
        values=tuple(pt[1] for pt in points),
        path=str(p),
        layout=layout,
        kind=kind,
        timezone=", ".join(sorted(zones)),
        column=rows[0][vi].strip(),
        lows=None if spread is None else tuple(pt[2] for pt in points),
        highs=None if spread is None else tuple(pt[3] for pt in points),
    )


_LOW_HIGH = (("g_co2e_per_kwh_low", "g_co2e_per_kwh_high"), ("low", "high"))


def _spread_columns(header: list[str], path: Path) -> tuple[int, int] | None:
    """The (low, high) column indexes of a greenai-layout file, or None; one without the other is
    refused."""
    for lo, hi in _LOW_HIGH:
        if lo in header and hi in header:
            return header.index(lo), header.index(hi)
        if lo in header or hi in header:
            raise DataError(f"intensity series {path}: columns {lo} and {hi} go together")
    return None


def _spread_values(
    row: list[str], cols: tuple[int, int], g: float, where: str
) -> tuple[float, float]:
    """A row's (low, high) g/kWh: finite, with low <= value <= high."""
    if max(cols) >= len(row):
        raise DataError(f"{where}: too few columns")
    try:
        lo, hi = float(row[cols[0]]), float(row[cols[1]])
    except ValueError:
        raise DataError(f"{where}: the low/high intensity must be numbers") from None
    if not (0 <= lo <= g <= hi < float("inf")):
        raise DataError(f"{where}: want 0 <= low <= value <= high, got {lo:g}, {g:g}, {hi:g}")
    return lo, hi
