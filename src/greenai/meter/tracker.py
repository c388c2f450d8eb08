"""``Tracker``: one measured run with nested phases, a sampling thread and sinks; ``track`` wraps it.

Energy is read from the sensors (``greenai.sensors``) at start, at every sample, at each phase's edges
and at stop; a window's energy is the cumulative reading at its end minus that at its start, so short
windows are exact to the sensors' resolution, not to the sampling interval. At those edges (not at
samples) queued CUDA work is waited for when the program uses torch.cuda. Sensor reads happen under
one lock, so phases, ``snapshot()`` and the sampling thread may run concurrently; sinks are called
under another, one record at a time (a sink needs no locking of its own).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from greenai.errors import UsageError
from greenai.meter.types import COMPONENTS, Measurement, Method, PhaseResult, Sample, Sink

if TYPE_CHECKING:  # pragma: no cover
    from greenai.carbon import CarbonConfig
    from greenai.sensors.base import Sensor

F = TypeVar("F", bound=Callable[..., Any])


def make_run_id(now: float | None = None) -> str:
    """A sortable, unique run id such as ``20261125-043012-a1b2c3`` (UTC)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{os.urandom(3).hex()}"


def _sync_accelerator() -> None:
    """Wait for queued GPU work before reading a window's edge, so it is counted in that window.

    Only when the program already uses CUDA through torch: never imports torch itself."""
    torch = sys.modules.get("torch")
    if torch is not None:
        cuda = getattr(torch, "cuda", None)
        if cuda is not None and cuda.is_initialized():
            cuda.synchronize()


def _check_interval(interval_s: float) -> float:
    try:
        value = float(interval_s)
    except (TypeError, ValueError):
        raise UsageError(
            f"sampling interval must be a number of seconds, got {interval_s!r}"
        ) from None
    if not value > 0 or value != value or value == float("inf"):
        raise UsageError(f"sampling interval must be > 0 seconds, got {interval_s!r}")
    return value


INTERVAL_ENV = "GREENAI_INTERVAL"
DEFAULT_INTERVAL_S = 1.0


def sampling_interval(flag: float | str | None = None) -> float:
    """The sampling period: ``flag`` > ``$GREENAI_INTERVAL`` > 1 s. Bad values are a UsageError."""
    if flag is not None:
        return _check_interval(flag)
    env = os.environ.get(INTERVAL_ENV) or None
    if env is None:
        return DEFAULT_INTERVAL_S
    try:
        return _check_interval(env)
    except UsageError as exc:
        raise UsageError(f"{INTERVAL_ENV}: {exc}") from None


class Tracker:
    """Measure the energy and CO2 of a run.

    ``carbon`` defaults to ``CarbonConfig.resolve(country, pue, intensity_g_per_kwh)``; ``sensors`` to
    ``greenai.sensors.default_sensors(pid)`` (``pid``: a process tree to follow instead of this
    process). ``interval_s`` is the sampling period (``None``: no thread, edges only). ``sinks`` get
    every record; ``emissions_csv`` adds the CSV sink for that file (one row per run, updated at each
    sample) and its sample log beside it (``*_samples.csv``). Bad input raises ``UsageError``
    here, before anything is written.
    """

    def __init__(
        self,
        name: str = "run",
        *,
        run_id: str | None = None,
        carbon: CarbonConfig | None = None,
        interval_s: float | None = 1.0,
        sinks: Sequence[Sink] = (),
        emissions_csv: str | Path | None = None,
        sensors: Sequence[Sensor] | None = None,
        pid: int | None = None,
        country: str | None = None,
        pue: float | None = None,
        intensity_g_per_kwh: float | None = None,
        intensity_series: str | Path | None = None,
        project_name: str = "greenai",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.run_id = run_id or make_run_id()
        self.interval_s = None if interval_s is None else _check_interval(interval_s)
        if carbon is None:
            from greenai.carbon import CarbonConfig

            carbon = CarbonConfig.resolve(
                country, pue, intensity_g_per_kwh, intensity_series=intensity_series
            )
        self.carbon = carbon
        if emissions_csv is not None:
            from greenai.meter.emissions_csv import check_header

            check_header(emissions_csv)
        self.emissions_csv = None if emissions_csv is None else Path(emissions_csv)
        self.project_name = project_name
        self.pid = pid
        self.samples: list[Sample] = []
        self._sinks: list[Sink] = list(sinks)
        self._given_sensors = None if sensors is None else list(sensors)
        self._sensors: list[Sensor] = []
        self._clock, self._monotonic = clock, monotonic
        self._lock = threading.RLock()
        self._sink_lock = threading.Lock()
        self._stack: list[str] = []
        self._phases: list[PhaseResult] = []
        self._origin_j: dict[str, float] = {}
        self._last_good: dict[int, dict[str, float]] = {}
        self._failed: set[int] = set()
        self._methods: dict[str, Method] = {}
        self._start_time = 0.0
        self._t0 = 0.0
        self._last_sample = (0.0, dict.fromkeys(COMPONENTS, 0.0))
        self._co2_mark = (0.0, 0.0, 0.0)  # (elapsed s, total J, CO2 kg) at the last read: series
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = "new"
        self._final: Measurement | None = None

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

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Tracker:
        """Read the sensors' origin, notify sinks, start sampling. Returns ``self``."""
        if self._state != "new":
            raise RuntimeError(f"tracker {self.name!r} was already started")
        if self._given_sensors is not None:
            self._sensors = self._given_sensors
        else:
            from greenai.sensors.ranks import rank_sensors

            self._sensors = rank_sensors(pid=self.pid)  # this rank's share under torchrun/SLURM
        for sensor in self._sensors:
            self._methods.update(sensor.methods())
        if self.emissions_csv is not None:
            from greenai.meter.emissions_csv import EmissionsCsvSink

            self._sinks.append(
                EmissionsCsvSink(
                    self.emissions_csv,
                    intensity=self.carbon.intensity,
                    pue=self.carbon.pue,
                    methods=self._methods,
                    project_name=self.project_name,
                    hardware=self._hardware(),
                )
            )
        _sync_accelerator()
        with self._lock:
            self._origin_j = self._raw_j()
            self._t0 = self._monotonic()
            self._start_time = self._clock()
        self._state = "running"
        self._emit("on_start", self.run_id, self.name, self._start_time)
        if self.interval_s is not None:
            self._thread = threading.Thread(target=self._loop, name="greenai-sampler", daemon=True)
            self._thread.start()
        return self

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

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """A named window inside the run; nests (path ``outer/inner``). Its record goes to sinks."""
        if self._state != "running":
            raise RuntimeError(f"phase {name!r} needs a running tracker (call start() first)")
        if not name or "/" in name:
            raise UsageError(f"phase name must be non-empty and without '/', got {name!r}")
        _sync_accelerator()
        with self._lock:
            path = "/".join([*self._stack[-1:], name]) if self._stack else name
            elapsed0, energy0, co2_0 = self._read_co2()
            self._stack.append(path)
        try:
            yield
        finally:
            _sync_accelerator()
            with self._lock:
                elapsed1, energy1, co2_1 = self._read_co2()
                if path in self._stack:
                    self._stack.remove(path)
            own = {c: max(0.0, energy1[c] - energy0.get(c, 0.0)) for c in energy1}
            result = PhaseResult(
                run_id=self.run_id,
                name=name,
                path=path,
                start_time=self._start_time + elapsed0,
                duration_s=elapsed1 - elapsed0,
                energy_j=own,
                co2_kg=self._co2_kg(own)
                if getattr(self.carbon, "series", None) is None
                else co2_1 - co2_0,
            )
            self._phases.append(result)
            self._emit("on_phase", result)

    def _measurement(
        self, elapsed: float, energy: dict[str, float], co2_kg: float | None = None
    ) -> Measurement:
        return Measurement(
            run_id=self.run_id,
            name=self.name,
            start_time=self._start_time,
            duration_s=elapsed,
            energy_j=energy,
            methods=dict(self._methods),
            intensity=self.carbon.intensity,
            pue=self.carbon.pue,
            co2_kg=self._co2_kg(energy) if co2_kg is None else co2_kg,
            phases=tuple(self._phases),
        )

    def snapshot(self) -> Measurement:
        """The run so far (live figures), read now. After ``stop()``: the final measurement."""
        if self._final is not None:
            return self._final
        if self._state != "running":
            raise RuntimeError(f"tracker {self.name!r} is not running")
        return self._measurement(*self._read_co2())

    @property
    def energy(self) -> Measurement:
        """Same as ``snapshot()``."""
        return self.snapshot()

    @property
    def running(self) -> bool:
        return self._state == "running"

    def stop(self) -> Measurement:
        """Stop sampling, read the sensors a last time, notify sinks. Calling it again is harmless."""
        if self._final is not None:
            return self._final
        if self._state != "running":
            raise RuntimeError(f"tracker {self.name!r} was never started")
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join()
        _sync_accelerator()
        if self._thread is not None:  # the window's edge: the series ends where the run does,
            edge = self.sample()  # and its last cumulative figures are the final ones
            final = self._measurement(edge.elapsed_s, dict(edge.energy_j), edge.co2_kg)
        else:
            final = self._measurement(*self._read_co2())
        self._final = final
        self._state = "stopped"
        self._emit("on_stop", final)
        for sensor in self._sensors:
            sensor.close()
        return final

    def restate(self, final: Measurement) -> None:
        """Replace the final figures with ``final`` (a distributed job's total formed from this
        rank's share, ``meter.gather``) and send it to the sinks again, so the emissions CSV and
        the store hold the job's figures, not this rank's share. Only after ``stop()``."""
        if self._final is None:
            raise RuntimeError(
                f"tracker {self.name!r} must be stopped before its total is restated"
            )
        self._final = final
        self._emit("on_stop", final)

    def __enter__(self) -> Tracker:
        return self.start() if self._state == "new" else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class track:
    """``with track("x", country="NZL") as t:`` or ``@track("x")``: a fresh ``Tracker`` per use.

    Keyword arguments are those of ``Tracker``. As a decorator, each call of the function is one run;
    the last finished run's measurement is kept as ``wrapper.last_measurement``.
    """

    def __init__(self, name: str = "run", **kwargs: Any) -> None:
        self.name, self.kwargs = name, kwargs
        self._tracker: Tracker | None = None

    def __enter__(self) -> Tracker:
        self._tracker = Tracker(self.name, **self.kwargs).start()
        return self._tracker

    def __exit__(self, *exc: object) -> None:
        assert self._tracker is not None
        self._tracker.stop()

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tracker = Tracker(self.name, **self.kwargs).start()
            try:
                return fn(*args, **kwargs)
            finally:
                wrapper.last_measurement = tracker.stop()  # type: ignore[attr-defined]

        wrapper.last_measurement = None  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]
