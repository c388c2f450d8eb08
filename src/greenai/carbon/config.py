"""Carbon configuration: grid intensity and PUE, resolved from flags, environment and defaults.

Precedence, per setting, highest first:

1. Arguments (the CLI's flags): ``intensity_g_per_kwh`` gives the figure directly; ``country`` picks it
   from the table. A flag beats any environment variable.
2. Environment: ``GREENAI_INTENSITY`` (gCO2e/kWh), then ``GREENAI_COUNTRY`` (ISO-3 or ISO-2);
   ``GREENAI_PUE``.
3. Defaults: the world average 475 gCO2e/kWh (IEA), said so in the source; PUE 1.0.

When both an intensity and a country are known, the intensity is the figure used and the country is kept
for its name (the source says both).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from greenai.carbon.embodied import check_env as check_embodied_env
from greenai.carbon.intensity import WORLD_AVERAGE_G_PER_KWH, WORLD_AVERAGE_SOURCE, lookup_country
from greenai.carbon.spread import country_band, world_band
from greenai.errors import UsageError
from greenai.meter.types import JOULES_PER_KWH, CarbonIntensity

DEFAULT_PUE = 1.0


def _number(value: Any, what: str, *, minimum: float, inclusive: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < minimum or (not inclusive and number == minimum):
        bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
        raise UsageError(f"{what} must be {bound}, got {value!r}")
    return number


@dataclass(frozen=True)
class CarbonConfig:
    """Grid intensity (with its source) and the data centre's PUE (>= 1.0)."""

    intensity: CarbonIntensity
    pue: float = DEFAULT_PUE

    @property
    def g_per_kwh(self) -> float:
        return self.intensity.g_per_kwh

    def co2_kg(self, energy_j: float) -> float:
        """CO2e in kg for ``energy_j`` joules drawn by the hardware (PUE applied here)."""
        return energy_j / JOULES_PER_KWH * self.pue * self.intensity.g_per_kwh / 1000.0

    @property
    def series(self) -> Any:
        """The time-varying intensity (``IntensitySeries``), or None for one constant figure."""
        return self.intensity.series

    def co2_kg_between(self, energy_j: float, t0: float, t1: float) -> float:
        """CO2e in kg for ``energy_j`` joules drawn evenly over Unix times [t0, t1]: with a series,
        at the series' exact mean over that interval; otherwise ``co2_kg(energy_j)``."""
        if self.series is None:
            return self.co2_kg(energy_j)
        g = self.series.mean_between(t0, t1)
        return energy_j / JOULES_PER_KWH * self.pue * g / 1000.0

    @classmethod
    def resolve(
        cls,
        country: str | None = None,
        pue: float | str | None = None,
        intensity_g_per_kwh: float | str | None = None,
        env: Mapping[str, str] = os.environ,
        intensity_series: str | os.PathLike[str] | None = None,
    ) -> CarbonConfig:
        """Build the configuration from flags > environment > defaults (see the module docstring).

        Raises ``UsageError`` for an unknown country, a negative or non-numeric intensity, or a PUE
        below 1.0. ``intensity_series`` (flag > ``GREENAI_INTENSITY_SERIES``): a CSV of intensity
        over time (``carbon/series.py``), which beats a constant figure; a country is kept for its
        name.
        """
        env_intensity = env.get("GREENAI_INTENSITY") or None
        env_country = env.get("GREENAI_COUNTRY") or None
        env_pue = env.get("GREENAI_PUE") or None
        check_embodied_env(env)  # GREENAI_EMBODIED_*: refused now, before a run writes anything

        if pue is not None:
            pue_value = _number(pue, "PUE (--pue)", minimum=1.0, inclusive=True)
        elif env_pue is not None:
            pue_value = _number(env_pue, "PUE (GREENAI_PUE)", minimum=1.0, inclusive=True)
        else:
            pue_value = DEFAULT_PUE

        # The figure: a flag beats the environment; within a level, a direct intensity beats a country.
        if intensity_g_per_kwh is not None or country is not None:
            raw_intensity, raw_country, origin = intensity_g_per_kwh, country, "flag"
        else:
            raw_intensity, raw_country, origin = env_intensity, env_country, "env"

        entry = None
        if raw_country is not None:
            entry = lookup_country(raw_country)
        if raw_intensity is not None:
            what = "carbon intensity (--intensity)" if origin == "flag" else "GREENAI_INTENSITY"
            g = _number(raw_intensity, what, minimum=0.0, inclusive=True)
            given_by = "--intensity" if origin == "flag" else "GREENAI_INTENSITY"
            source = f"given by {given_by}: {g:g} gCO2e/kWh"
            if entry is not None:
                source += f" (country {entry.iso3}, {entry.name}, table figure not used)"
            intensity = CarbonIntensity(
                g, source, entry.iso3 if entry else None, entry.name if entry else None
            )
        elif entry is not None:
            lo, hi = country_band(entry.g_per_kwh)  # the figure's own spread: carbon/spread.py
            intensity = CarbonIntensity(
                entry.g_per_kwh, entry.source, entry.iso3, entry.name,
                low_g_per_kwh=lo, high_g_per_kwh=hi,
            )  # fmt: skip
        else:
            lo, hi = world_band()
            intensity = CarbonIntensity(
                WORLD_AVERAGE_G_PER_KWH, WORLD_AVERAGE_SOURCE, low_g_per_kwh=lo, high_g_per_kwh=hi
            )
        series_path = intensity_series or env.get("GREENAI_INTENSITY_SERIES") or None
        if series_path is not None:
            intensity = _series_intensity(series_path, intensity)
        return cls(intensity=intensity, pue=pue_value)


def _series_intensity(path: Any, constant: CarbonIntensity) -> CarbonIntensity:
    """The intensity for a series file: its span mean as the time-less figure, the series kept."""
    from greenai.carbon.series import load_series

    series = load_series(path)
    mean = series.mean_between(series.begin, series.end)
    source = (
        f"{series.kind} intensity series {series.path} ({series.layout}, column "
        f"'{series.column}', times {series.timezone}), integrated {series.step_s:g}-s step-wise"
    )
    lo, hi = series.band_g_per_kwh()  # the series' own spread, else carbon/spread.py's allowance
    return CarbonIntensity(
        mean, source, constant.country_iso3, constant.country_name, series=series,
        low_g_per_kwh=lo, high_g_per_kwh=hi,
    )  # fmt: skip
