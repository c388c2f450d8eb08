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

from greenai.carbon.intensity import WORLD_AVERAGE_G_PER_KWH, WORLD_AVERAGE_SOURCE, lookup_country
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

    @classmethod
    def resolve(
        cls,
        country: str | None = None,
        pue: float | str | None = None,
        intensity_g_per_kwh: float | str | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> CarbonConfig:
        """Build the configuration from flags > environment > defaults (see the module docstring).

        Raises ``UsageError`` for an unknown country, a negative or non-numeric intensity, or a PUE
        below 1.0.
        """
        env_intensity = env.get("GREENAI_INTENSITY") or None
        env_country = env.get("GREENAI_COUNTRY") or None
        env_pue = env.get("GREENAI_PUE") or None

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
            intensity = CarbonIntensity(entry.g_per_kwh, entry.source, entry.iso3, entry.name)
        else:
            intensity = CarbonIntensity(WORLD_AVERAGE_G_PER_KWH, WORLD_AVERAGE_SOURCE)
        return cls(intensity=intensity, pue=pue_value)
