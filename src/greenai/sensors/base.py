"""What every sensor provides: cumulative energy in joules per component, and how it was obtained.

A sensor covers one or more of the meter's components (``cpu``, ``gpu``, ``ram``). ``read_j()`` returns
the energy used since the sensor was created, per component it covers, in joules; it never decreases.
Sensors are not thread-safe: the tracker calls them under its own lock. Vendor errors are translated to
``SensorUnavailable`` inside each sensor; nothing above this layer sees pynvml or OS error codes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from greenai.units import Method


class SensorUnavailable(Exception):
    """The hardware or interface a sensor needs is absent or unreadable. ``fix`` says what would help."""

    def __init__(self, reason: str, fix: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


class SensorCorrupt(SensorUnavailable):
    """A sensor file is there but holds garbage (not what the kernel writes), e.g. a non-number."""


class Sensor(ABC):
    """A source of cumulative energy figures for some components."""

    #: the components this sensor reports, a subset of ``greenai.units.COMPONENTS``
    components: tuple[str, ...] = ()

    @abstractmethod
    def read_j(self) -> dict[str, float]:
        """Energy in joules per component since this sensor was created (monotone, never negative)."""

    @abstractmethod
    def methods(self) -> dict[str, Method]:
        """How each component's energy is obtained (``measured``/``estimated``, source and inputs)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles (NVML). Safe to call twice."""


class NullSensor(Sensor):
    """Reports zero joules for components with no hardware (e.g. ``gpu`` on a machine without one)."""

    def __init__(self, components: tuple[str, ...], reason: str) -> None:
        self.components = tuple(components)
        self.reason = reason

    def read_j(self) -> dict[str, float]:
        return dict.fromkeys(self.components, 0.0)

    def methods(self) -> dict[str, Method]:
        return {c: Method("none", "no device", self.reason) for c in self.components}
