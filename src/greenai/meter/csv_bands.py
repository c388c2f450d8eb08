"""The uncertainty columns of ``emissions.csv`` and its sample log, after CodeCarbon's 38.

``energy_consumed_low``/``energy_consumed_high`` (kWh from the grid, PUE included) and
``emissions_low``/``emissions_high`` (kg CO2e): the band of ``energy_consumed`` and ``emissions``
(``greenai.uncertainty``: each component's method, the grid intensity's spread). A file written
before these columns existed is upgraded in place once (the columns added, empty for its old rows),
atomically, so its rows are kept.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from greenai.fsutil import atomic_write_text
from greenai.uncertainty import figure_bands
from greenai.units import CarbonIntensity, Method, kwh

BAND_COLUMNS = ("energy_consumed_low", "energy_consumed_high", "emissions_low", "emissions_high")


def band_cells(
    energy_j: Mapping[str, float],
    methods: Mapping[str, Method],
    pue: float,
    intensity: CarbonIntensity,
    co2_kg: float,
) -> dict[str, float]:
    """The four band cells of one row (CO2's band as factors around the row's own ``co2_kg``)."""
    b = figure_bands(energy_j, methods, pue, intensity)
    central = kwh(sum(energy_j.values())) * pue * intensity.g_per_kwh / 1000.0
    scale = co2_kg / central if central > 0 and co2_kg > 0 else 1.0
    return {
        "energy_consumed_low": b["energy_kwh_low"],
        "energy_consumed_high": b["energy_kwh_high"],
        "emissions_low": b["co2_kg_low"] * scale,
        "emissions_high": b["co2_kg_high"] * scale,
    }


def upgrade(path: str | os.PathLike[str], old: Sequence[str], new: Sequence[str]) -> None:
    """Rewrite ``path`` (header ``old``) with header ``new``: same rows, new columns empty."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, fieldnames=list(old)))[1:]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(new), restval="", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(path), buf.getvalue())
