"""A Prometheus scrape endpoint for the meter's live figures (the ``prometheus`` extra).

CodeCarbon and Zeus push to a Pushgateway; a scraper (Prometheus, Grafana Agent) wants a ``/metrics``
page instead. ``PrometheusSink`` is a meter ``Sink`` that keeps the latest figures and serves them on
``127.0.0.1:PORT`` (loopback only: energy figures reveal what a machine is doing):

- ``greenai_energy_joules_total`` (counter): energy per ``component`` before PUE, split by the
  ``phase`` that was open when each sample was taken (``phase=""`` outside any phase);
- ``greenai_power_watts`` (gauge): mean power per ``component`` over the last sampling interval;
- ``greenai_co2_kg_total`` (counter): CO2, PUE and grid intensity applied, per ``phase``.

Every series is labelled ``run`` (the run id), ``phase`` and ``method`` ("measured" or "estimated":
how the component's energy was obtained; for CO2 "measured" only when every component's energy was,
the intensity itself being a yearly average). Figures change at each sample (``interval_s``).

```python
sink = PrometheusSink(port=9464, methods=lambda: tracker.snapshot().methods)
Tracker(..., sinks=[sink]); ...; sink.close()
```
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from greenai.errors import MissingExtraError, UsageError
from greenai.meter.types import Measurement, Method, PhaseResult, Sample

HOST = "127.0.0.1"


def check_port(port: Any) -> int:
    """A TCP port number 1..65535 (0: let the system choose), else one ``UsageError`` line."""
    try:
        value = int(port)
    except (TypeError, ValueError):
        raise UsageError(f"--prometheus-port must be a port number, got {port!r}") from None
    if not 0 <= value <= 65535 or str(value) != str(port).strip():
        raise UsageError(f"--prometheus-port must be a port number 0..65535, got {port!r}")
    return value


def _kind(method: Method | None) -> str:
    return "measured" if method is not None and method.kind == "measured" else "estimated"


class PrometheusSink:
    """A meter sink serving the run's latest figures for scraping; one HTTP server per sink.

    ``port`` 0 picks a free port (read it back from ``.port``). ``methods`` returns the meter's
    method per component (asked once, at the first sample). The server starts here, so a port in
    use fails before the run starts (``UsageError``); ``close()`` stops it.
    """

    def __init__(
        self, port: int, *, methods: Callable[[], Mapping[str, Method]] | None = None
    ) -> None:
        try:
            import prometheus_client
            from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        except ImportError:
            raise MissingExtraError("prometheus_client", "prometheus") from None
        self._counter, self._gauge = CounterMetricFamily, GaugeMetricFamily
        self._methods_of = methods
        self._methods: dict[str, Method] | None = None
        self._lock = threading.Lock()
        self._run = ""
        self._energy: dict[tuple[str, str], float] = {}  # (phase, component) -> J
        self._co2: dict[str, float] = {}  # phase -> kg
        self._power: dict[str, float] = {}
        self._phase = ""
        self._last_j: dict[str, float] = {}
        self._last_co2 = 0.0
        self.registry = prometheus_client.CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        try:
            self._server, self._thread = prometheus_client.start_http_server(
                check_port(port), addr=HOST, registry=self.registry
            )
        except OSError as exc:
            raise UsageError(f"cannot serve Prometheus metrics on {HOST}:{port}: {exc}") from None
        self.port: int = self._server.server_address[1]

    # -- meter sink ----------------------------------------------------------------------------
    def on_start(self, run_id: str, name: str, start_time: float) -> None:
        with self._lock:
            self._run = run_id

    def on_sample(self, sample: Sample) -> None:
        if self._methods is None and self._methods_of is not None:
            self._methods = dict(self._methods_of())
        phase = sample.phase or ""
        with self._lock:
            self._run, self._phase = sample.run_id, phase
            for component, joules in sample.energy_j.items():
                delta = max(0.0, joules - self._last_j.get(component, 0.0))
                key = (phase, component)
                self._energy[key] = self._energy.get(key, 0.0) + delta
            self._last_j = dict(sample.energy_j)
            self._co2[phase] = self._co2.get(phase, 0.0) + max(0.0, sample.co2_kg - self._last_co2)
            self._last_co2 = sample.co2_kg
            self._power = dict(sample.power_w)

    def on_phase(self, phase: PhaseResult) -> None:
        pass

    def on_stop(self, measurement: Measurement) -> None:
        if self._methods is None:
            self._methods = dict(measurement.methods)

    # -- prometheus collector -----------------------------------------------------------------
    def collect(self) -> Iterator[Any]:
        """Called by prometheus_client at each scrape: the figures as of the last sample."""
        methods = self._methods or {}
        with self._lock:
            energy, co2, power = dict(self._energy), dict(self._co2), dict(self._power)
            run, current = self._run, self._phase
        labels = ["run", "phase", "component", "method"]
        joules = self._counter(
            "greenai_energy_joules", "Energy per component before PUE (J)", labels=labels
        )
        for (phase, component), value in sorted(energy.items()):
            joules.add_metric([run, phase, component, _kind(methods.get(component))], value)
        yield joules
        watts = self._gauge(
            "greenai_power_watts", "Mean power over the last sampling interval (W)", labels=labels
        )
        for component, value in sorted(power.items()):
            watts.add_metric([run, current, component, _kind(methods.get(component))], value)
        yield watts
        used = [methods.get(c) for (_, c), value in energy.items() if value > 0] or [None]
        all_measured = all(_kind(m) == "measured" for m in used)
        kg = self._counter(
            "greenai_co2_kg", "CO2 with PUE and grid intensity applied (kg)",
            labels=["run", "phase", "method"],
        )  # fmt: skip
        for phase, value in sorted(co2.items()):
            kg.add_metric([run, phase, "measured" if all_measured else "estimated"], value)
        yield kg

    def close(self) -> None:
        """Stop serving (the figures are gone with the server)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
