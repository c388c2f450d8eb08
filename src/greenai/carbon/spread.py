"""The grid intensity's own spread: the (low, high) gCO2e/kWh band set beside each figure.

* **No country configured** (the world average): the run happened on some grid, not on the world
  mean. The band is the 10th to 90th percentile of the shipped table's country figures, each country
  weighted by its electricity generation (``total_twh``), computed from ``grid_carbon_intensity.csv``
  itself (``world_band``), so it changes with the table and needs no other source.
* **A country's figure**: an annual average of generation stands for the unknown hours of a run; on
  grids with much wind and solar the hourly figure swings 20 % or more around it within a day (e.g.
  Great Britain 2020: the max/min ratio exceeded 1.2 in a quarter of all 3-hour windows, from the
  National Grid ESO intensity series). ``COUNTRY_REL`` = ±20 % is that stated allowance: an
  assumption, not a measured figure per country.
* **An intensity given by the user** (``--intensity``, ``GREENAI_INTENSITY``): taken as exact (the
  user's own figure; no band is invented for it).
"""

from __future__ import annotations

import functools

from greenai.carbon.intensity import TABLE_NAME, _rows

COUNTRY_REL = 0.20
WORLD_PERCENTILES = (0.10, 0.90)


def _weighted_percentile(pairs: list[tuple[float, float]], q: float) -> float:
    """The ``q`` quantile of (value, weight) pairs: the first value whose cumulative weight reaches q."""
    pairs = sorted(pairs)
    total = sum(w for _, w in pairs)
    acc = 0.0
    for value, weight in pairs:
        acc += weight
        if acc >= q * total:
            return value
    return pairs[-1][0]


@functools.lru_cache(maxsize=1)
def world_band() -> tuple[float, float]:
    """(10th, 90th) generation-weighted percentile of the table's country intensities, g/kWh."""
    pairs = []
    for row in _rows(TABLE_NAME):
        try:
            g, twh = float(row["g_co2e_per_kwh"]), float(row["total_twh"])
        except (KeyError, ValueError):
            continue
        if twh > 0:
            pairs.append((g, twh))
    lo_q, hi_q = WORLD_PERCENTILES
    return _weighted_percentile(pairs, lo_q), _weighted_percentile(pairs, hi_q)


def country_band(g_per_kwh: float) -> tuple[float, float]:
    """±``COUNTRY_REL`` around a country's annual figure."""
    return g_per_kwh * (1 - COUNTRY_REL), g_per_kwh * (1 + COUNTRY_REL)


WORLD_NOTE = "band: 10th-90th generation-weighted percentile of the table's countries"
COUNTRY_NOTE = f"band ±{COUNTRY_REL:.0%}: annual average vs the run's hours (an assumption)"
