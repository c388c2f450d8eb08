"""Estimated CPU and RAM energy, where no sensor can be read.

* CPU: CPU seconds of the tracked process tree × watts per busy logical CPU (``cpu_model.cpu_power``:
  the matched TDP / logical CPUs per package, or the documented default; or the user's own figure,
  ``--cpu-watts`` / ``$GREENAI_CPU_WATTS``, labelled user-given). Counts the tree's own busy
  time only: no idle or other processes' power.
* RAM: resident memory of the tree (RSS, GB = 1e9 bytes) × ``RAM_W_PER_GB``, integrated over time
  with the trapezoid rule between reads (so read at least at each window's edges).

``RAM_W_PER_GB = 0.375``: CodeCarbon's RAM model before 3.0 (3 W per 8 GB of memory; CodeCarbon 3.x
counts 5 W per DIMM instead, which needs the DIMM count that /proc does not give).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from greenai.sensors.base import Sensor
from greenai.sensors.cpu_model import CpuInfo, CpuPower
from greenai.sensors.proctree import ProcessTree
from greenai.units import Method

RAM_W_PER_GB = 3.0 / 8.0
_BYTES_PER_GB = 1e9


class CpuTimeEstimate(Sensor):
    """``cpu`` energy = (CPU seconds of ``tree`` since creation) × ``power.w_per_cpu``."""

    components = ("cpu",)

    def __init__(self, tree: ProcessTree, power: CpuPower) -> None:
        self.tree = tree
        self.power = power
        self._cpu0_s = tree.read()[0]

    def read_j(self) -> dict[str, float]:
        return {"cpu": max(0.0, self.tree.read()[0] - self._cpu0_s) * self.power.w_per_cpu}

    def methods(self) -> dict[str, Method]:
        source = (
            "CPU time × user-given W per CPU" if self.power.user_given else "CPU time × TDP per CPU"
        )
        return {
            "cpu": Method(
                "estimated", source, f"CPU seconds of {self.tree.label}; {self.power.detail}"
            )
        }


CPU_WATTS_ENV = "GREENAI_CPU_WATTS"
TDP_SUFFIX = "tdp"  # "125tdp": the package's TDP, shared by its logical CPUs


def user_cpu_power(text: str, info: CpuInfo, origin: str = CPU_WATTS_ENV) -> CpuPower:
    """The CPU power a user gave (``--cpu-watts`` / ``$GREENAI_CPU_WATTS``), for the estimate.

    ``"6"`` (or ``"6w"``): watts per busy logical CPU. ``"125tdp"``: the package's TDP in watts,
    divided by its logical CPUs (``info.logical_per_package``). Anything else, zero, negative or
    above 2,000 W: ``UsageError`` naming ``origin``. The label says the figure is user-given."""
    from greenai.errors import UsageError

    raw = text.strip().lower().replace(" ", "")
    tdp = raw.endswith(TDP_SUFFIX)
    number = raw[: -len(TDP_SUFFIX)] if tdp else raw.removesuffix("w")
    try:
        watts = float(number.removesuffix("w"))
    except ValueError:
        watts = math.nan
    if not (0 < watts <= 2000):
        raise UsageError(
            f"{origin} must be watts per busy CPU (e.g. 6) or the package TDP with the suffix "
            f"'{TDP_SUFFIX}' (e.g. 125tdp), in (0, 2000]: {text!r}"
        )
    if not tdp:
        return CpuPower(watts, f"user-given ({origin}={text.strip()}): {watts:g} W per busy CPU",
                        None, user_given=True)  # fmt: skip
    w = watts / info.logical_per_package
    detail = (
        f"user-given ({origin}={text.strip()}): package TDP {watts:g} W / "
        f"{info.logical_per_package} logical CPUs per package = {w:.3g} W per busy CPU"
    )
    return CpuPower(w, detail, None, user_given=True)


class RamEstimate(Sensor):
    """``ram`` energy = ∫ RSS of ``tree`` (GB) × ``w_per_gb`` dt, trapezoid between reads."""

    components = ("ram",)

    def __init__(
        self,
        tree: ProcessTree,
        w_per_gb: float = RAM_W_PER_GB,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tree = tree
        self.w_per_gb = w_per_gb
        self._clock = clock
        self._last_t = clock()
        self._last_gb = tree.read()[1] / _BYTES_PER_GB
        self._energy_j = 0.0

    def read_j(self) -> dict[str, float]:
        now, gb = self._clock(), self.tree.read()[1] / _BYTES_PER_GB
        self._energy_j += 0.5 * (self._last_gb + gb) * self.w_per_gb * max(0.0, now - self._last_t)
        self._last_t, self._last_gb = now, gb
        return {"ram": self._energy_j}

    def methods(self) -> dict[str, Method]:
        return {
            "ram": Method(
                "estimated",
                "RSS × W per GB",
                f"resident memory of {self.tree.label} × {self.w_per_gb:g} W/GB "
                "(CodeCarbon's 3 W per 8 GB)",
            )
        }
