"""Uncertainty bands: how far off each energy and CO2 figure can be, and how bands add up.

A band is a pair of factors ``(low, high)`` around a central figure (``(0.6, 1.4)``: the truth may lie
40 % below or above). Each component's band comes from how its energy was obtained (its ``Method``;
a sensor may set ``Method.band`` itself, e.g. a calibrated curve's own fit error); otherwise these
documented defaults apply:

* **estimate models** (CPU time × power model, RSS × W per GB): ``ESTIMATE_BAND`` = ±40 %. Fischer et
  al. 2025 (arXiv 2509.22092) found software energy estimators off by up to 40 % against a wall meter.
* **RAPL** (``RAPL_BAND`` = -5 % / +40 %): the counter itself tracks the package's power within a few
  percent (Khan et al., "RAPL in Action", ACM TOMPECS 2018), hence -5 %; but it misses the platform's
  floor (board, fans, power supply losses: CodeCarbon's own profiling shows a Threadripper at idle
  reading 1.4 W in RAPL and 115 W at the wall), and RAPL-based trackers err by up to +40 % against a
  wall meter (Fischer 2025), hence +40 %.
* **NVML** energy counter (``NVML_COUNTER_BAND``, ±5 %): NVML's documented power accuracy (±5 % of the
  reading, ``nvmlDeviceGetPowerUsage``). NVML power *samples* integrated over time
  (``NVML_SAMPLED_BAND``, ±25 %): on A100/H100 the power reading covers only 25 % of the runtime
  (Yang et al., SC'24, "Part-time power measurements"), so short bursts between readings are missed
  or counted twice; ±25 % is our stated allowance for that, not a measured figure.
* **no device** (``kind == "none"``): 0 J, no band.

Grid intensity has its own band (``CarbonIntensity.low_g_per_kwh``/``high_g_per_kwh``, set by
``greenai.carbon``; see ``greenai/carbon/spread.py`` for its sources). CO2 low = energy low ×
intensity low, high = energy high × intensity high.

**Propagation: interval arithmetic.** Lows add to lows and highs to highs: across components, phases,
pieces of a run, a lifecycle's ancestors and a study's runs. The errors above are systematic (the same
model or sensor on the same machine, the same grid figure for every run), not independent noise, so
they do not cancel in a sum; root-sum-square (an independence assumption) would understate them.
Interval sums are the conservative choice and can be checked by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from greenai.units import JOULES_PER_KWH, CarbonIntensity, Method

Band = tuple[float, float]

ESTIMATE_BAND: Band = (0.6, 1.4)
RAPL_BAND: Band = (0.95, 1.4)
NVML_COUNTER_BAND: Band = (0.95, 1.05)
NVML_SAMPLED_BAND: Band = (0.75, 1.25)
NO_BAND: Band = (1.0, 1.0)


def method_band(method: Method | None) -> Band:
    """The band of one component's figure: the method's own, else the default for its kind."""
    if method is None:
        return ESTIMATE_BAND
    if method.band is not None:
        return method.band
    if method.kind == "none":
        return NO_BAND
    if method.kind == "measured" and "RAPL" in method.source:
        return RAPL_BAND
    if method.kind == "measured" and "NVML" in method.source:
        return NVML_SAMPLED_BAND if "power readings" in method.detail else NVML_COUNTER_BAND
    return ESTIMATE_BAND


def energy_band_j(
    energy_j: Mapping[str, float], methods: Mapping[str, Method | None]
) -> tuple[float, float]:
    """(low, high) joules of a per-component energy, each component scaled by its own band."""
    low = high = 0.0
    for component, joules in energy_j.items():
        lo, hi = method_band(methods.get(component))
        low += joules * lo
        high += joules * hi
    return low, high


def intensity_band(intensity: CarbonIntensity) -> tuple[float, float]:
    """(low, high) gCO2e/kWh; the central figure twice when no spread is known."""
    g = intensity.g_per_kwh
    low = intensity.low_g_per_kwh
    high = intensity.high_g_per_kwh
    return (g if low is None else low, g if high is None else high)


def co2_band_kg(
    low_j: float, high_j: float, pue: float, intensity: CarbonIntensity
) -> tuple[float, float]:
    """(low, high) kg CO2e of an energy band drawn through ``pue`` on a grid of ``intensity``."""
    g_lo, g_hi = intensity_band(intensity)
    factor = pue / JOULES_PER_KWH / 1000.0
    return low_j * factor * g_lo, high_j * factor * g_hi


def figure_bands(
    energy_j: Mapping[str, float],
    methods: Mapping[str, Method | None],
    pue: float,
    intensity: CarbonIntensity,
) -> dict[str, float]:
    """``energy_kwh_low/high`` (PUE included) and ``co2_kg_low/high`` of one window's energy."""
    low_j, high_j = energy_band_j(energy_j, methods)
    co2_lo, co2_hi = co2_band_kg(low_j, high_j, pue, intensity)
    return {
        "energy_kwh_low": low_j / JOULES_PER_KWH * pue,
        "energy_kwh_high": high_j / JOULES_PER_KWH * pue,
        "co2_kg_low": co2_lo,
        "co2_kg_high": co2_hi,
    }


BAND_KEYS = ("energy_kwh", "co2_kg")


def band_of(record: Mapping[str, object], key: str) -> tuple[float, float]:
    """(low, high) of ``record[key]`` (``key_low``/``key_high``); the central value when a record
    predates bands (an old result JSON), so sums stay defined."""
    central = float(record.get(key) or 0.0)  # type: ignore[arg-type]
    low = record.get(f"{key}_low")
    high = record.get(f"{key}_high")
    return (
        central if low is None else float(low),  # type: ignore[arg-type]
        central if high is None else float(high),  # type: ignore[arg-type]
    )


def sum_bands(records: Iterable[Mapping[str, object]], keys: Iterable[str] = BAND_KEYS) -> dict:
    """Interval sum of ``records``' figures: ``{key: central, key_low: ..., key_high: ...}``."""
    records = list(records)
    out: dict[str, float] = {}
    for key in keys:
        out[key] = sum(float(r.get(key) or 0.0) for r in records)  # type: ignore[arg-type]
        bands = [band_of(r, key) for r in records]
        out[f"{key}_low"] = sum(b[0] for b in bands)
        out[f"{key}_high"] = sum(b[1] for b in bands)
    return out


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two (low, high) intervals overlap: their difference is then not distinguishable."""
    return a[0] <= b[1] and b[0] <= a[1]


def plus_minus(central: float, low: float, high: float, fmt: str = ".3g") -> str:
    """``"0.0123 (-0.00492/+0.00492)"``: a figure with its band as distances below and above."""
    return f"{central:{fmt}} (-{max(0.0, central - low):{fmt}}/+{max(0.0, high - central):{fmt}})"
