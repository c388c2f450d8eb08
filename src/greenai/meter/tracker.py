"""``Tracker``: one measured run with nested phases, a sampling thread and sinks; ``track`` wraps it.

Energy is read from the sensors (``greenai.sensors``) at start, at every sample, at each phase's edges
and at stop; a window's energy is the cumulative reading at its end minus that at its start, so short
windows are exact to the sensors' resolution, not to the sampling interval. At those edges (not at
samples) queued CUDA work is waited for when the program uses torch.cuda. Sensor reads happen under
one lock, so phases, ``snapshot()`` and the sampling thread may run concurrently; sinks are called
under another, one record at a time (a sink needs no locking of its own). The reading, sampling
and sink side is ``greenai.meter.readings``; the sampling period, ``greenai.meter.interval``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from greenai.errors import UsageError
from greenai.meter.interval import check_interval
from greenai.meter.readings import Readings, sync_accelerator
from greenai.meter.types import COMPONENTS, Measurement, Method, PhaseResult, Sample, Sink

if TYPE_CHECKING:  # pragma: no cover
    from greenai.carbon import CarbonConfig
    from greenai.sensors.base import Sensor

F = TypeVar("F", bound=Callable[..., Any])


def make_run_id(now: float | None = None) -> str:
    """A sortable, unique run id such as ``20261125-043012-a1b2c3`` (UTC)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{os.urandom(3).hex()}"


class Tracker(Readings):
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
        self.interval_s = None if interval_s is None else check_interval(interval_s)
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
        sync_accelerator()
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

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """A named window inside the run; nests (path ``outer/inner``). Its record goes to sinks."""
        if self._state != "running":
            raise RuntimeError(f"phase {name!r} needs a running tracker (call start() first)")
        if not name or "/" in name:
            raise UsageError(f"phase name must be non-empty and without '/', got {name!r}")
        sync_accelerator()
        with self._lock:
            path = "/".join([*self._stack[-1:], name]) if self._stack else name
            elapsed0, energy0, co2_0 = self._read_co2()
            self._stack.append(path)
        try:
            yield
        finally:
            sync_accelerator()
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
        sync_accelerator()
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
