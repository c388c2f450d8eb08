"""Energy sensors: RAPL (powercap), NVML, and the CPU-time/RSS estimate where neither can be read.

``default_sensors()`` picks, per component, the best sensor this machine offers and says once why it
fell back. Importing this package touches no hardware.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from greenai.errors import DataError
from greenai.sensors.base import NullSensor, Sensor, SensorCorrupt, SensorUnavailable
from greenai.sensors.calibration import stored_curve
from greenai.sensors.cpu_load import CpuLoadEstimate, tdp_curve
from greenai.sensors.cpu_model import cpu_power, read_cpuinfo
from greenai.sensors.estimate import CPU_WATTS_ENV, CpuTimeEstimate, RamEstimate, user_cpu_power
from greenai.sensors.nvml import NvmlSensor
from greenai.sensors.proctree import ProcessTree
from greenai.sensors.rapl import Opener, RaplSensor

__all__ = [
    "CpuLoadEstimate",
    "CpuTimeEstimate",
    "NullSensor",
    "NvmlSensor",
    "ProcessTree",
    "RamEstimate",
    "RaplSensor",
    "Sensor",
    "SensorCorrupt",
    "SensorUnavailable",
    "check_sensors",
    "default_sensors",
]

_said: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        print(f"greenai: warning: {message}", file=sys.stderr)


def default_sensors(
    pid: int | None = None,
    powercap_root: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] = os.environ,
    cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo",
    warn: Callable[[str], None] = _warn_once,
    tree: ProcessTree | None = None,
    nvidia_driver: str | os.PathLike[str] | None = "/proc/driver/nvidia",
    opener: Opener = open,
) -> list[Sensor]:
    """Sensors covering cpu, gpu and ram: RAPL, else the estimate; NVML, else a null GPU.

    The estimate's watts per busy CPU come from ``$GREENAI_CPU_WATTS`` when set (user-given, see
    ``estimate.user_cpu_power``; a malformed value is ``UsageError``), else from the TDP table.

    ``pid`` is the process tree the estimate follows (None: this process). An unreadable RAPL counter
    is reported through ``warn`` with its fix; a machine without powercap falls back quietly (the
    method labels say so). Without ``nvidia_driver`` (a path the NVIDIA driver creates; None skips the
    check) pynvml is not even imported. ``opener`` opens the powercap files (the hardware boundary).
    A counter holding garbage under a configured root (``powercap_root`` or $GREENAI_POWERCAP_ROOT)
    is bad input: ``DataError``; under the default /sys root it warns once and falls back.
    """
    sensors: list[Sensor] = []
    tree = tree or ProcessTree(pid)
    covered: set[str] = set()
    configured = powercap_root or env.get("GREENAI_POWERCAP_ROOT")
    try:
        rapl = RaplSensor(configured, opener=opener)
        sensors.append(rapl)
        covered.update(rapl.components)
    except SensorCorrupt as exc:
        if configured:  # a powercap tree the user pointed us at, holding garbage: bad input
            raise DataError(
                f"{exc.reason} (powercap root {configured}: fix it or unset it)"
            ) from None
        warn(f"{exc.reason}; falling back to the CPU-time estimate")
    except SensorUnavailable as exc:
        if exc.fix:
            warn(f"{exc.reason}; falling back to the CPU-time estimate. Fix: {exc.fix}")
    user_watts = env.get(CPU_WATTS_ENV, "").strip()
    if "cpu" not in covered:
        info = read_cpuinfo(cpuinfo)
        if user_watts:  # the user's own flat watts per busy CPU
            sensors.append(CpuTimeEstimate(tree, user_cpu_power(user_watts, info)))
        else:  # this machine's calibrated curve, else the server curve x TDP (sensors/cpu_load.py)
            curve = stored_curve(info.model_name, env) or tdp_curve(
                cpu_power(info), info.logical_per_package * info.packages
            )
            sensors.append(CpuLoadEstimate(tree, curve))
    elif user_watts:
        user_cpu_power(user_watts, read_cpuinfo(cpuinfo))  # still bad input when malformed
        warn(f"{CPU_WATTS_ENV} not used: RAPL measures the CPU's energy on this machine")
    if "ram" not in covered:
        sensors.append(RamEstimate(tree))
    try:
        if nvidia_driver is not None and not os.path.exists(nvidia_driver):
            raise SensorUnavailable(f"no NVIDIA driver ({os.fspath(nvidia_driver)} absent)")
        sensors.append(NvmlSensor(env))
    except SensorUnavailable as exc:
        sensors.append(NullSensor(("gpu",), f"no NVIDIA GPU readable: {exc.reason}"))
    return sensors


def check_sensors(env: Mapping[str, str] = os.environ) -> None:
    """Raise ``DataError`` now, before a command writes anything, when the configured powercap
    tree holds garbage, or ``UsageError`` for a malformed ``$GREENAI_CPU_WATTS`` (what
    ``default_sensors`` would raise once the meter starts)."""
    for sensor in default_sensors(env=env, nvidia_driver=None, warn=lambda _m: None):
        sensor.close()
