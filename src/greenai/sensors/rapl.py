"""CPU package and DRAM energy from Linux powercap RAPL counters (Intel, and AMD's ``intel-rapl`` zones).

Layout read (root defaults to ``$GREENAI_POWERCAP_ROOT`` or ``/sys/class/powercap``)::

    <root>/intel-rapl:N/{name,energy_uj,max_energy_range_uj}        # one package zone per socket -> cpu
    <root>/intel-rapl:N/intel-rapl:N:M/{name=dram,energy_uj,...}    # DRAM subzone -> ram

Other subzones (``core``, ``uncore``) are part of their package and not added again; ``psys`` (the whole
platform) and ``intel-rapl-mmio`` (a second view of the same package) are skipped. Counters are in
microjoules and wrap at ``max_energy_range_uj``; one wrap between two reads is undone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO

from greenai.sensors.base import Sensor, SensorCorrupt, SensorUnavailable
from greenai.units import Method

DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"
PERMISSION_FIX = (
    "make the counters readable: sudo chmod -R a+r /sys/class/powercap "
    '(lasting: a udev rule such as ACTION=="add", SUBSYSTEM=="powercap", '
    'RUN+="/bin/chmod -R a+r /sys/class/powercap")'
)
_PACKAGE = re.compile(r"^intel-rapl:(\d+)$")
_SUBZONE = re.compile(r"^intel-rapl:(\d+):(\d+)$")

Opener = Callable[..., IO[str]]


def powercap_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The powercap folder: the argument, else ``$GREENAI_POWERCAP_ROOT``, else /sys/class/powercap."""
    return Path(root or os.environ.get("GREENAI_POWERCAP_ROOT") or DEFAULT_POWERCAP_ROOT)


class _Zone:
    def __init__(
        self, path: Path, name: str, component: str, max_range_uj: int, last_uj: int
    ) -> None:
        self.path, self.name, self.component = path, name, component
        self.max_range_uj = max_range_uj
        self.last_uj = last_uj
        self.total_uj = 0


class RaplSensor(Sensor):
    """Measured CPU (package) and RAM (dram) energy, summed over sockets.

    ``opener`` is how files are opened (``open``); it is the hardware boundary and tests may pass their
    own. Raises ``SensorUnavailable`` when there is no package zone or a counter cannot be read.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, opener: Opener = open) -> None:
        self.root = powercap_root(root)
        self._open = opener
        self._zones = self._discover()
        self.components = tuple(
            c for c in ("cpu", "ram") if any(z.component == c for z in self._zones)
        )

    def _read(self, path: Path) -> str:
        try:
            with self._open(path) as handle:
                return handle.read().strip()
        except PermissionError:
            raise SensorUnavailable(
                f"RAPL counter {path} is not readable (permission denied)", PERMISSION_FIX
            ) from None
        except OSError as exc:
            raise SensorUnavailable(
                f"RAPL counter {path} cannot be read: {exc.strerror or exc}"
            ) from None

    def _read_int(self, path: Path) -> int:
        text = self._read(path)
        try:
            return int(text)
        except ValueError:
            raise SensorCorrupt(
                f"RAPL file {path} does not hold an integer: {text[:40]!r}"
            ) from None

    def _zone(self, path: Path, component: str) -> _Zone:
        name = self._read(path / "name")
        return _Zone(
            path,
            name,
            component,
            self._read_int(path / "max_energy_range_uj"),
            self._read_int(path / "energy_uj"),
        )

    def _discover(self) -> list[_Zone]:
        if not self.root.is_dir():
            raise SensorUnavailable(f"no powercap folder at {self.root}")
        zones: list[_Zone] = []
        for package in sorted(self.root.iterdir(), key=lambda p: p.name):
            if not _PACKAGE.match(package.name) or not package.is_dir():
                continue
            if self._read(package / "name") == "psys":
                continue
            zones.append(self._zone(package, "cpu"))
            for sub in sorted(package.iterdir(), key=lambda p: p.name):
                if _SUBZONE.match(sub.name) and sub.is_dir() and self._read(sub / "name") == "dram":
                    zones.append(self._zone(sub, "ram"))
        if not any(z.component == "cpu" for z in zones):
            raise SensorUnavailable(f"no RAPL package zone (intel-rapl:N) under {self.root}")
        return zones

    def read_j(self) -> dict[str, float]:
        totals = dict.fromkeys(self.components, 0.0)
        for zone in self._zones:
            now_uj = self._read_int(zone.path / "energy_uj")
            delta_uj = now_uj - zone.last_uj
            if delta_uj < 0:  # the counter wrapped at max_energy_range_uj
                delta_uj += zone.max_range_uj
            zone.total_uj += delta_uj
            zone.last_uj = now_uj
            totals[zone.component] += zone.total_uj / 1e6
        return totals

    def zone_names(self) -> list[str]:
        return [f"{z.path.name}={z.name}" for z in self._zones]

    def methods(self) -> dict[str, Method]:
        out = {}
        for component in self.components:
            zones = [f"{z.path.name} ({z.name})" for z in self._zones if z.component == component]
            out[component] = Method(
                "measured",
                "RAPL powercap",
                f"{', '.join(zones)} under {self.root}; whole package: every process on it counts",
            )
        return out
