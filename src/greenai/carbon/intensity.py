"""The offline grid carbon-intensity table (package data) and country-code lookup.

No network: the figures ship with greenai (see ``greenai/reference/PROVENANCE.txt``).
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from pathlib import Path

from greenai.errors import UsageError

TABLE_NAME = "grid_carbon_intensity.csv"
WORLD_AVERAGE_G_PER_KWH = 475.0
WORLD_AVERAGE_SOURCE = "world average 475 gCO2e/kWh (IEA) — no country configured"


@dataclass(frozen=True)
class CountryIntensity:
    iso3: str
    iso2: str | None
    name: str
    year: int
    g_per_kwh: float

    @property
    def source(self) -> str:
        return (
            f"country {self.iso3} ({self.name}, {self.year}) from Our World in Data "
            f"via {TABLE_NAME}"
        )


# Package data sits beside the code (greenai/reference); a plain path avoids importing importlib.resources
# and zipfile on every first start.
DATA_DIR = Path(__file__).resolve().parent.parent / "reference"


def _read_data(name: str) -> str:
    return (DATA_DIR / name).read_text(encoding="utf-8")


def _rows(name: str) -> list[dict[str, str]]:
    lines = _read_data(name).splitlines()
    if any('"' in line for line in lines):  # quoted fields: let csv handle them
        return list(csv.DictReader(io.StringIO("\n".join(lines))))
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, CountryIntensity]:
    iso2_of = {r["iso3"]: r["iso2"] for r in _rows("country_codes.csv")}
    table: dict[str, CountryIntensity] = {}
    for row in _rows(TABLE_NAME):
        iso3 = row["iso3"].upper()
        table[iso3] = CountryIntensity(
            iso3=iso3,
            iso2=iso2_of.get(iso3),
            name=row["country"],
            year=int(row["year"]),
            g_per_kwh=float(row["g_co2e_per_kwh"]),
        )
    for entry in list(table.values()):
        if entry.iso2:
            table[entry.iso2] = entry
    return table


def lookup_country(code: str) -> CountryIntensity:
    """The intensity row for an ISO 3166-1 alpha-3 or alpha-2 code (any case).

    Raises ``UsageError`` naming the code when the table does not know it.
    """
    key = code.strip().upper()
    if len(key) not in (2, 3) or not key.isalpha():
        raise UsageError(
            f"country code {code!r} is not an ISO 3166 alpha-3 or alpha-2 code (e.g. NZL or NZ)"
        )
    try:
        return _table()[key]
    except KeyError:
        raise UsageError(
            f"unknown country code {code!r}: not in greenai's grid intensity table "
            f"(use an ISO 3166 code such as NZL, or give --intensity G_PER_KWH)"
        ) from None
