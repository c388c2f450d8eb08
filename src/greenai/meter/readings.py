"""How a ``Tracker`` reads: the sensors' summed energy, its CO2, samples, and their fan-out to sinks.

``Readings`` is ``Tracker``'s base class (the state it uses is set up by ``Tracker.__init__``):
sensor reads happen under ``_lock`` (a sensor that fails mid-run keeps its last good reading),
CO2 is accumulated per read when the carbon config has an intensity series, and sinks are called
under ``_sink_lock``, one record at a time; a failing sink is dropped with a warning.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from greenai.meter.types import COMPONENTS, Method, Sample, Sink

if TYPE_CHECKING:  # pragma: no cover
    from greenai.carbon import CarbonConfig
    from greenai.sensors.base import Sensor


def sync_accelerator() -> None:
    """Wait for queued GPU work before reading a window's edge, so it is counted in that window.

    Only when the program already uses CUDA through torch: never imports torch itself."""
    torch = sys.modules.get("torch")
    if torch is not None:
        cuda = getattr(torch, "cuda", None)
        if cuda is not None and cuda.is_initialized():
            cuda.synchronize()


class Readings:
    """The reading, sampling and sink side of ``Tracker`` (see ``greenai.meter.tracker``)."""

    run_id: str
    carbon: CarbonConfig
    interval_s: float | None
    samples: list[Sample]
    _sinks: list[Sink]
    _sensors: list[Sensor]
    _monotonic: Callable[[], float]
    _lock: Any  # a threading.RLock
    _sink_lock: threading.Lock
    _stack: list[str]
    _origin_j: dict[str, float]
    _last_good: dict[int, dict[str, float]]
    _failed: set[int]
    _methods: dict[str, Method]
    _start_time: float
    _t0: float
    _last_sample: tuple[float, dict[str, float]]
    _co2_mark: tuple[float, float, float]
    _stop_event: threading.Event

    # -- reading -------------------------------------------------------------------------------
    def _raw_j(self) -> dict[str, float]:
        """Sum of the sensors' cumulative readings. A sensor that fails mid-run keeps its last good
        reading (its energy stops growing) and the failure is reported once on stderr."""
        from greenai.sensors.base import SensorUnavailable

        totals = dict.fromkeys(COMPONENTS, 0.0)
        for index, sensor in enumerate(self._sensors):
            try:
                reading = sensor.read_j()
                self._last_good[index] = reading
            except SensorUnavailable as exc:
                reading = self._last_good.get(index, dict.fromkeys(sensor.components, 0.0))
                if index not in self._failed:
                    self._failed.add(index)
                    print(
                        f"greenai: warning: {exc.reason}; its energy is frozen at the last reading",
                        file=sys.stderr,
                    )
            for component, joules in reading.items():
                totals[component] = totals.get(component, 0.0) + joules
        return totals

    def _read(self) -> tuple[float, dict[str, float]]:
        """(seconds since start, energy in J per component since start), read now."""
        elapsed, energy, _co2 = self._read_co2()
        return elapsed, energy

    def _read_co2(self) -> tuple[float, dict[str, float], float]:
        """``_read`` plus the cumulative CO2 kg. With an intensity series the energy since the
        previous read is taken as drawn evenly over that interval, at the series' mean there."""
        with self._lock:
            raw = self._raw_j()
            elapsed = self._monotonic() - self._t0
            energy = {c: max(0.0, raw[c] - self._origin_j.get(c, 0.0)) for c in raw}
            if getattr(self.carbon, "series", None) is None:
                return elapsed, energy, self._co2_kg(energy)
            last_s, last_j, co2 = self._co2_mark
            total = sum(energy.values())
            if elapsed > last_s or total != last_j:
                t0 = self._start_time + last_s
                co2 += self.carbon.co2_kg_between(
                    max(0.0, total - last_j), t0, self._start_time + max(elapsed, last_s)
                )
                self._co2_mark = (max(elapsed, last_s), total, co2)
            return elapsed, energy, co2

    def _co2_kg(self, energy_j: dict[str, float]) -> float:
        """CO2 of a constant intensity (no series): the one place it is computed for the meter."""
        return self.carbon.co2_kg(sum(energy_j.values()))

    # -- sinks ---------------------------------------------------------------------------------
    def _emit(self, method: str, *args: Any) -> None:
        with self._sink_lock:  # the sampling thread and phases must not interleave a sink's writes
            self._emit_locked(method, *args)

    def _emit_locked(self, method: str, *args: Any) -> None:
        for sink in list(self._sinks):
            try:
                getattr(sink, method)(*args)
            except Exception as exc:
                self._sinks.remove(sink)
                print(
                    f"greenai: warning: sink {type(sink).__name__} failed in {method} "
                    f"({type(exc).__name__}: {exc}); it receives no more records",
                    file=sys.stderr,
                )

    # -- hardware and sampling -----------------------------------------------------------------
    def hardware(self) -> dict[str, Any]:
        """The CPU model and the GPUs the sensors read (``gpu_count``, ``gpu_model``), e.g. for
        the run's embodied carbon."""
        return self._hardware()

    def _hardware(self) -> dict[str, Any]:
        from greenai.sensors.cpu_model import read_cpuinfo

        hw: dict[str, Any] = {"cpu_model": read_cpuinfo().model_name, "gpu_count": 0}
        for sensor in self._sensors:
            names = getattr(sensor, "gpu_names", None)
            if callable(names):
                hw["gpu_model"] = ", ".join(names())
                hw["gpu_count"] = len(names())
        return hw

    def _loop(self) -> None:
        assert self.interval_s is not None
        k = 1
        while not self._stop_event.wait(
            max(0.0, self._t0 + k * self.interval_s - self._monotonic())
        ):
            self.sample()
            k = max(k + 1, int((self._monotonic() - self._t0) / self.interval_s) + 1)

    def sample(self) -> Sample:
        """Take one sample now (the thread calls this every ``interval_s``) and pass it to sinks."""
        elapsed, energy, co2 = self._read_co2()
        with self._lock:
            last_elapsed, last_energy = self._last_sample
            self._last_sample = (elapsed, energy)
            phase = self._stack[-1] if self._stack else None
        dt_s = elapsed - last_elapsed
        power = {
            c: (energy[c] - last_energy.get(c, 0.0)) / dt_s if dt_s > 0 else 0.0 for c in energy
        }
        sample = Sample(
            run_id=self.run_id,
            timestamp=self._start_time + elapsed,
            elapsed_s=elapsed,
            phase=phase,
            power_w=power,
            energy_j=energy,
            co2_kg=co2,
        )
        self.samples.append(sample)
        self._emit("on_sample", sample)
        return sample
