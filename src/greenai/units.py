"""Units and provenance shared by every layer: joules to kWh, the metered components, and the
``Method`` that says how a figure was obtained. The bottom of the package: imports nothing of greenai,
so sensors, the meter and the results can all use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

JOULES_PER_KWH = 3.6e6

# The components the meter accounts for, in this order everywhere.
COMPONENTS = ("cpu", "gpu", "ram")


def kwh(joules: float) -> float:
    """Joules to kilowatt-hours."""
    return joules / JOULES_PER_KWH


@dataclass(frozen=True)
class Method:
    """How one component's energy was obtained.

    ``kind`` is ``"measured"`` (a hardware counter or power sensor), ``"estimated"`` (a model), or
    ``"none"`` (no such device here, e.g. no GPU: its energy is 0 J by absence, not by measurement);
    ``source`` names the sensor or model, ``detail`` its inputs (e.g. "AMD EPYC 7B13 matched
    'AMD EPYC 7B13' in cpu_tdp_watts.csv: 240 W / 64 cores = 3.75 W per busy core").
    """

    kind: str
    source: str
    detail: str = ""
    #: (low, high) factors around the figure, when the sensor knows its own error (a calibrated
    #: curve's fit); None: ``greenai.uncertainty`` applies the documented default for the kind
    band: tuple[float, float] | None = None

    def label(self) -> str:
        return f"{self.kind}: {self.source}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class CarbonIntensity:
    """Grid carbon intensity in gCO2e/kWh and where the figure came from."""

    g_per_kwh: float
    source: str  # e.g. "country NZL (New Zealand, 2022) from Our World in Data via grid_carbon_intensity.csv"
    country_iso3: str | None = None
    country_name: str | None = None
    # an IntensitySeries (greenai.carbon.series) when the figure varies over time; g_per_kwh is then
    # the series' mean over its span, used only where no time is known
    series: object = field(default=None, compare=False)
    #: the figure's own spread (``greenai.carbon.spread``); None: no spread known
    low_g_per_kwh: float | None = None
    high_g_per_kwh: float | None = None
