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

**Comparing two figures ("not distinguishable").** Each band has a systematic part (the method's
error above, the grid intensity's spread) and a small independent part: what differs from one run to
the next however it is measured. Two runs measured the same way share the systematic part, which
scales both figures alike (a ratio error: it cannot turn a lower figure into a higher one), so it
cancels in their difference. The rule (``difference``/``distinguishable``): when both figures were
converted with the same grid figure (source, spread and PUE), that common factor is left out; each
method (a component's method label, which names the sensor and, for estimates, the CPU model and its
figures) has one systematic factor, the same for both runs, somewhere in its band: per method, the
two figures' difference widened by both runs' independent parts is multiplied by that factor's range,
and the methods' terms are added (interval arithmetic). With one method, as on most machines, the
factor cannot change the sign and only the independent parts decide; a different mix of methods
(more of the RAM estimate in one run) keeps its share of the systematic error. Otherwise (different
grids, or a result without per-component figures) the full bands decide, i.e. whether they overlap.
The difference is distinguishable when its interval excludes zero. The independent parts, as
half-widths relative to the figure (our stated allowances, not measured figures):

* **counters** (RAPL, NVML's energy counter): ``INDEPENDENT_COUNTER`` = ±2 %: the counter is read
  at the run's start and stop; the allowance covers the reads' misalignment with the run's edges
  and the machine's run-to-run drift.
* **NVML power readings** integrated over time: ``INDEPENDENT_SAMPLED`` = ±20 % of the ±25 %: which
  part of a run the readings cover changes from run to run (Yang et al., SC'24); the other ±5 % is
  the sensor's accuracy, shared.
* **estimate models**: ``INDEPENDENT_ESTIMATE`` = ±3 %: the model's inputs are read per run (CPU
  seconds in kernel ticks, resident memory and machine load sampled every interval); the model's
  own ±40 % is shared. Limitation: a same-model comparison assumes the model errs by the same
  factor for both runs; a workload that changes the power per busy CPU is not covered.

The result JSON does not record the host name: two machines of the same CPU and GPU models with the
same labels count as one method. The systematic factor taken is the method's whole default band (a
calibrated curve's own, narrower band is not in the label): conservative.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from greenai.units import JOULES_PER_KWH, CarbonIntensity, Method

Band = tuple[float, float]

ESTIMATE_BAND: Band = (0.6, 1.4)
RAPL_BAND: Band = (0.95, 1.4)
NVML_COUNTER_BAND: Band = (0.95, 1.05)
NVML_SAMPLED_BAND: Band = (0.75, 1.25)
NO_BAND: Band = (1.0, 1.0)
INDEPENDENT_COUNTER = 0.02
INDEPENDENT_SAMPLED = 0.20
INDEPENDENT_ESTIMATE = 0.03


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


def label_band(label: str) -> Band:
    """The default band of a component measured as ``label`` says (``Method.label()``, as the
    result JSON keeps it; a sensor's own band, e.g. a calibrated curve's, is not in the label)."""
    kind, _sep, rest = label.partition(":")
    return method_band(Method(kind.strip(), rest, rest))


def independent_share(label: str) -> float:
    """The independent half-width (relative) of a component measured as ``label`` says
    (``Method.label()``, as the result JSON keeps it): what does not cancel between two runs."""
    kind = label.split(":", 1)[0].strip()
    if kind == "none":
        return 0.0
    if kind == "measured" and "NVML" in label and "power readings" in label:
        return INDEPENDENT_SAMPLED
    if kind == "measured" and ("RAPL" in label or "NVML" in label):
        return INDEPENDENT_COUNTER
    return INDEPENDENT_ESTIMATE


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


Part = tuple[str, float, float, float, float]


@dataclass(frozen=True)
class Figure:
    """A CO2 figure to compare with another: ``central`` with its full band (``low``, ``high``),
    and its parts, one per component and method: ``(key, kg, independent kg, systematic low,
    systematic high)``, the key naming the component and its method label, the factors that
    method's band. ``grids``: the grid figures it was converted with (one key per grid and PUE;
    ``None`` in it: unknown, so its parts are never compared on their own). Plain values only, so a
    report row holding figures stays JSON-ready."""

    central: float
    low: float
    high: float
    parts: tuple[Part, ...] = ()
    grids: tuple[str | None, ...] = ()

    def scaled(self, total: float) -> Figure:
        """The same relative band and parts around ``total`` (a lifecycle plus inferences served)."""
        c = self.central
        if c <= 0:
            return Figure(total, total, total, (), self.grids)
        f = total / c
        parts = tuple((k, kg * f, ind * f, lo, hi) for k, kg, ind, lo, hi in self.parts)
        return Figure(total, self.low * f, self.high * f, parts, self.grids)


ZERO = Figure(0.0, 0.0, 0.0)


def sum_figures(figures: Iterable[Figure]) -> Figure:
    """Interval sum of ``figures``: parts of one key added (one method: one band), grids together;
    ``ZERO`` for none."""
    central = low = high = 0.0
    parts: dict[str, list[float]] = {}
    grids: tuple[str | None, ...] = ()
    for f in figures:
        central, low, high = central + f.central, low + f.low, high + f.high
        for key, kg, ind, lo, hi in f.parts:
            part = parts.setdefault(key, [0.0, 0.0, lo, hi])
            part[0], part[1] = part[0] + kg, part[1] + ind
        grids = _union(grids, f.grids)
    out = tuple((k, kg, ind, lo, hi) for k, (kg, ind, lo, hi) in sorted(parts.items()))
    return Figure(central, low, high, out, grids)


def _union(a: tuple[str | None, ...], b: tuple[str | None, ...]) -> tuple[str | None, ...]:
    return tuple(sorted(set(a) | set(b), key=lambda k: (k is not None, k or "")))


def shared_grid(a: Figure, b: Figure) -> bool:
    """Whether every run in ``a`` and ``b`` was converted with one known grid figure (its spread
    and the PUE too): that factor is then common to both and cannot change their difference's sign."""
    grids = _union(a.grids, b.grids)
    return len(grids) <= 1 and None not in grids


def difference(a: Figure, b: Figure) -> tuple[float, float, float]:
    """``b - a`` and the interval (low, high) that decides its sign (module docstring).

    On a shared grid, per method (parts of one key): the two figures' difference widened by both
    independent parts, times that method's systematic factor, which is the same for both (interval
    arithmetic over the factor's range); the methods' terms added. With a single method this is the
    difference of the independent intervals, scaled by the factor. Otherwise: the full bands."""
    d = b.central - a.central
    if not shared_grid(a, b):
        return d, b.low - a.high, b.high - a.low
    low = high = 0.0
    a_parts = {k: (kg, ind, lo, hi) for k, kg, ind, lo, hi in a.parts}
    b_parts = {k: (kg, ind, lo, hi) for k, kg, ind, lo, hi in b.parts}
    for key in set(a_parts) | set(b_parts):
        a_kg, a_ind, lo, hi = a_parts.get(key) or (0.0, 0.0, *b_parts[key][2:])
        b_kg, b_ind, _lo, _hi = b_parts.get(key) or (0.0, 0.0, lo, hi)
        x_lo, x_hi = b_kg - a_kg - (a_ind + b_ind), b_kg - a_kg + (a_ind + b_ind)
        low += min(x_lo * lo, x_lo * hi)
        high += max(x_hi * lo, x_hi * hi)
    return d, low, high


def distinguishable(a: Figure | None, b: Figure | None) -> bool | None:
    """Whether ``a`` and ``b`` differ beyond their uncertainty: the interval of their difference
    excludes zero. None when either figure has no band (a result that predates bands)."""
    if a is None or b is None:
        return None
    _d, low, high = difference(a, b)
    return low > 0 or high < 0


Chain = Sequence[tuple[str | None, Figure | None]]


def lineages_distinguishable(a: Chain, a_extra: Figure, b: Chain, b_extra: Figure) -> bool | None:
    """Whether two lifecycles differ beyond their uncertainty. ``a``/``b``: each run's step figure
    by run id (the run, then its ancestors); ``*_extra``: what is added on top (inferences served;
    ``ZERO`` for none). Runs in both lineages (a shared baseline) are the same figures on both
    sides and cancel exactly: only the others are compared. None when a figure has no band."""
    common = {rid for rid, _f in a} & {rid for rid, _f in b} - {None}
    sides = []
    for chain, extra in ((a, a_extra), (b, b_extra)):
        figures = [f for rid, f in chain if rid not in common]
        if any(f is None for f in figures):
            return None
        sides.append(sum_figures([*figures, extra]))  # type: ignore[list-item]
    return distinguishable(sides[0], sides[1])
