"""Utilisation-aware CPU energy estimate: the machine's power curve, the tracked tree's share of it.

Where no CPU sensor can be read, the machine's CPU power at a busy fraction ``u`` (busy CPU time over
all CPU time of all CPUs, from ``/proc/stat`` between two reads) follows a power curve:

* **server curve × TDP** (default): 0.12 / 0.32 / 0.75 / 1.02 × TDP at 0 / 10 / 50 / 100 % load,
  linearly interpolated. These are the SPECpower-derived server points that Cloud Carbon Footprint
  (``MIN_WATTS``/``MAX_WATTS`` per vCPU and its linear interpolation) and Boavizta's BoaviztAPI
  (``cpu_profile.csv``, the default CPU consumption profile fitted to SPECpower_ssj2008 results) use.
  "TDP" is the watts per logical CPU (``cpu_model.cpu_power``: matched TDP / logical CPUs per package,
  or the documented default) × the logical CPUs this system shows.
* **calibrated** (``greenai calibrate``): this machine's own curve, fitted to RAPL or a wall meter
  under a load ladder, with the fit's own error as its band (``sensors.calibration``).

The tracked process tree's share: the curve's **dynamic** part (power above the idle floor) is split
by busy CPU time (the tree's CPU seconds / all CPUs' busy seconds); the **floor** (power at 0 % load)
by capacity (the tree's CPU seconds / all CPUs' seconds, busy or idle), so a tree that keeps one of
two CPUs busy carries half the floor. Both shares are in the method label. Where ``/proc/stat`` cannot
be read, the tree is taken as the machine's only load.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from greenai.sensors.base import Sensor
from greenai.sensors.cpu_model import CpuPower
from greenai.sensors.proctree import ProcessTree
from greenai.units import Method

#: (busy fraction, × TDP): the server curve of Boavizta and Cloud Carbon Footprint (module docstring)
SERVER_CURVE = ((0.0, 0.12), (0.10, 0.32), (0.50, 0.75), (1.00, 1.02))
_TICKS_S = os.sysconf("SC_CLK_TCK")
_BUSY = (0, 1, 2, 5, 6, 7)  # user, nice, system, irq, softirq, steal (idle=3, iowait=4)


def interpolate(points: Sequence[tuple[float, float]], u: float) -> float:
    """Piecewise-linear value of ``points`` (sorted by x) at ``u``, held flat beyond the ends."""
    if u <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if u <= x1:
            return y0 + (y1 - y0) * (u - x0) / (x1 - x0) if x1 > x0 else y1
    return points[-1][1]


@dataclass(frozen=True)
class PowerCurve:
    """The machine's CPU power in watts at each busy fraction, and where the curve comes from."""

    points: tuple[tuple[float, float], ...]  # (busy fraction 0..1, machine watts)
    source: str  # the method's source, e.g. "calibrated on host at 2026-12-01"
    detail: str
    band: tuple[float, float] | None = None  # None: the estimate models' documented default

    def watts(self, u: float) -> float:
        return interpolate(self.points, u)

    @property
    def floor_w(self) -> float:
        return self.watts(0.0)


def tdp_curve(power: CpuPower, logical_cpus: int) -> PowerCurve:
    """The server curve scaled to ``power.w_per_cpu`` × ``logical_cpus`` (the machine's TDP)."""
    tdp_w = power.w_per_cpu * logical_cpus
    points = tuple((u, f * tdp_w) for u, f in SERVER_CURVE)
    detail = (
        f"{power.detail}; machine TDP {tdp_w:.3g} W ({logical_cpus} logical CPUs); server curve "
        "0.12/0.32/0.75/1.02 x TDP at 0/10/50/100 % load (Boavizta, Cloud Carbon Footprint), "
        f"idle floor {points[0][1]:.3g} W"
    )
    return PowerCurve(points, "CPU load x server power curve (TDP)", detail)


@dataclass(frozen=True)
class ProcStat:
    busy_s: float  # all CPUs' busy seconds since boot
    total_s: float  # all CPUs' seconds since boot (busy, idle, iowait)
    cpus: int


def read_proc_stat(path: str | os.PathLike[str] = "/proc/stat") -> ProcStat | None:
    """The aggregate ``cpu`` line of /proc/stat in seconds, or None when it cannot be read."""
    try:
        lines = Path(path).read_text().splitlines()
        fields = [int(x) for x in lines[0].split()[1:9]]
    except (OSError, IndexError, ValueError):
        return None
    fields += [0] * (8 - len(fields))
    cpus = sum(1 for ln in lines[1:] if ln.startswith("cpu") and ln[3:4].isdigit())
    busy = sum(fields[i] for i in _BUSY)
    return ProcStat(busy / _TICKS_S, (busy + fields[3] + fields[4]) / _TICKS_S, max(1, cpus))


class CpuLoadEstimate(Sensor):
    """``cpu`` energy: the machine's curve power between reads, the tree's share of it (see above)."""

    components = ("cpu",)

    def __init__(
        self,
        tree: ProcessTree,
        curve: PowerCurve,
        stat_path: str | os.PathLike[str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tree, self.curve = tree, curve
        self.stat_path = Path(stat_path) if stat_path is not None else tree.proc / "stat"
        self._monotonic = monotonic
        self.energy_j = 0.0  # the tree's share
        self.machine_j = 0.0  # the whole machine's CPU energy by the curve
        self._last = (tree.read()[0], read_proc_stat(self.stat_path), monotonic())

    def read_j(self) -> dict[str, float]:
        cpu_s, stat, now = self.tree.read()[0], read_proc_stat(self.stat_path), self._monotonic()
        last_cpu, last_stat, last_t = self._last
        d_tree = max(0.0, cpu_s - last_cpu)
        if stat is not None and last_stat is not None:
            d_busy = max(0.0, stat.busy_s - last_stat.busy_s)
            d_total = max(0.0, stat.total_s - last_stat.total_s)
            wall = d_total / stat.cpus
        else:  # no /proc/stat: the tree is the only load
            wall, cpus = max(0.0, now - last_t), os.cpu_count() or 1
            d_busy, d_total = d_tree, wall * cpus
        if wall <= 0 or d_total <= 0:  # too short a window for the kernel's ticks: wait
            return {"cpu": self.energy_j}
        u = min(1.0, d_busy / d_total)
        machine = self.curve.watts(u) * wall
        floor = self.curve.floor_w * wall
        dyn_share = min(1.0, d_tree / d_busy) if d_busy > 0 else 0.0
        self.machine_j += machine
        self.energy_j += (machine - floor) * dyn_share + floor * min(1.0, d_tree / d_total)
        self._last = (cpu_s, stat, now)
        return {"cpu": self.energy_j}

    def methods(self) -> dict[str, Method]:
        detail = (
            f"{self.curve.detail}; share of {self.tree.label}: its CPU seconds over all CPUs' "
            "busy seconds of the power above the floor, over all CPUs' seconds of the idle floor"
        )
        return {"cpu": Method("estimated", self.curve.source, detail, band=self.curve.band)}
