"""The figures a trainer callback logs: one recorded greenai run per training, read at each log.

The Hugging Face and Lightning callbacks are thin adapters over ``TrainingEnergy``: it starts one
``greenai.track`` run (recorded in the run store like any tracked run), opens and closes phases
(one per epoch, one per evaluation), counts the training samples and tokens the model saw, and at
each logging step returns the figures to add to the trainer's logs:

- ``greenai/energy_j`` and ``greenai/energy_<component>_j``: energy since the training began (J,
  before PUE, as the meter reports it), and ``greenai/energy_delta_j`` (and per component
  ``greenai/energy_<component>_delta_j``): since the previous log, so the deltas of all logs add up to
  the run's recorded energy;
- ``greenai/power_w`` (and per component): the mean power since the previous log (delta / seconds);
- ``greenai/co2_kg`` and ``greenai/co2_delta_kg``: PUE and grid intensity applied;
- ``greenai/j_per_sample`` and ``greenai/j_per_token``: energy so far over the training samples (and
  the non-padding tokens) the model was fed so far; absent until there is a count.

Under torchrun or SLURM (``sensors.ranks``), recording to a store, every rank meters its own share
of the node (the node's counters on local rank 0 only, its own processes' estimates, its own GPUs)
and records it under the job's id: the job's run in the store holds the one total over every rank
and node (``lifecycle.rank_job``). The figures a rank logs live are its own share. Without a store
(or with ``job=False``) only the local main process meters (``LOCAL_RANK`` unset or 0, and the
framework's own flag): the meter then reads the whole node, so other processes on it would count
the same joules again; elsewhere ``TrainingEnergy`` is inert and returns no figures.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

from greenai.meter.types import Measurement

PREFIX = "greenai/"


def is_local_main(flag: bool | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is its node's main one: ``flag`` (the framework's own answer, when it
    has one) and ``LOCAL_RANK`` unset or 0."""
    env = os.environ if environ is None else environ
    local_rank = env.get("LOCAL_RANK", "").strip()
    return (flag is None or bool(flag)) and local_rank in ("", "0")


def batch_counts(batch: Any) -> tuple[int, int | None]:
    """(samples, tokens) in one batch: a mapping with ``input_ids`` counts its rows, and tokens as
    ``attention_mask.sum()`` (else ``input_ids.numel()``); a tensor or a tuple/list counts the first
    tensor's rows and no tokens. (0, None) when nothing can be counted."""
    if isinstance(batch, Mapping):
        ids, mask = batch.get("input_ids"), batch.get("attention_mask")
        if mask is not None and hasattr(mask, "sum"):
            return int(mask.shape[0]), int(mask.sum())
        if ids is not None and hasattr(ids, "numel"):
            return int(ids.shape[0]), int(ids.numel())
        batch = next((v for v in batch.values() if hasattr(v, "shape")), None)
    if isinstance(batch, (tuple, list)):
        batch = next((v for v in batch if hasattr(v, "shape")), None)
    shape = getattr(batch, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0]), None
    return 0, None


class TrainingEnergy:
    """One metered, recorded training. ``track_kwargs`` are ``greenai.track``'s (``store``,
    ``group``, ``model``, ``dataset``, ``country``, ``interval_s``, ...); ``prometheus_port`` also
    serves the live figures for scraping (``greenai.integrations.prometheus``)."""

    def __init__(
        self,
        name: str = "training",
        *,
        prometheus_port: int | None = None,
        **track_kwargs: Any,
    ) -> None:
        from greenai.integrations.prometheus import check_port

        self.name = name
        self._user_sinks = tuple(track_kwargs.pop("sinks", ()))
        self.track_kwargs = track_kwargs
        self.prometheus_port = None if prometheus_port is None else check_port(prometheus_port)
        self.active = False
        self.samples = 0
        self.tokens = 0
        self.measurement: Measurement | None = None
        self._track: Any = None
        self._tracker: Any = None
        self._prometheus: Any = None
        self._phases: dict[str, contextlib.ExitStack] = {}
        self._last: tuple[float, dict[str, float], float] = (0.0, {}, 0.0)

    @property
    def run_id(self) -> str | None:
        """The recorded run's id (None before ``start`` or off the main process)."""
        return None if self._tracker is None else self._tracker.run_id

    def start(self, local_main: bool = True) -> None:
        """Start a run (a new one after an earlier ``stop``). A rank of a distributed job meters
        its share under the job (see the module's docstring); else only the node's main process
        meters and the others stay inert."""
        if self.active:
            return
        per_rank = self._per_rank()
        if not per_rank and not is_local_main(local_main):
            return
        from greenai.lifecycle.recorded import track

        self.samples, self.tokens, self.measurement = 0, 0, None
        self._phases, self._last = {}, (0.0, {}, 0.0)
        if self._tracker is not None:  # a second training: a given run id named the first one
            self.track_kwargs.pop("run_id", None)

        sinks = list(self._user_sinks)
        if self.prometheus_port is not None:
            from greenai.integrations.prometheus import PrometheusSink

            self._prometheus = PrometheusSink(self.prometheus_port, methods=self._methods)
            sinks.append(self._prometheus)
        self.track_kwargs.setdefault("interval_s", 1.0)
        kwargs = {**self.track_kwargs, "job": per_rank}  # False: local main only, one run
        self._track = track(self.name, sinks=sinks, **kwargs)
        try:
            self._tracker = self._track.__enter__()
        except BaseException:
            self._close_prometheus()
            raise
        self.active = True

    def _per_rank(self) -> bool:
        """True when every rank meters its share and the store sums them (``lifecycle.rank_job``)."""
        from greenai.lifecycle.tracked_store import DEFAULT_STORE
        from greenai.sensors.ranks import rank_info

        if self.track_kwargs.get("job") is False or not rank_info().distributed:
            return False
        return self.track_kwargs.get("store", DEFAULT_STORE) is not None

    def _methods(self) -> Any:
        return self._tracker.snapshot().methods

    def begin_phase(self, name: str) -> None:
        """Open the phase ``name`` (nested inside any open one); ignored when already open."""
        if not self.active or name in self._phases:
            return
        stack = contextlib.ExitStack()
        stack.enter_context(self._tracker.phase(name))
        self._phases[name] = stack

    def end_phase(self, name: str) -> None:
        """Close the phase ``name`` (and record its energy); ignored when not open."""
        stack = self._phases.pop(name, None)
        if stack is not None:
            stack.close()

    def count(self, samples: int, tokens: int | None = None) -> None:
        """Add one training batch's samples (and non-padding tokens) to the work done."""
        if self.active:
            self.samples += int(samples)
            self.tokens += int(tokens or 0)

    def figures(self) -> dict[str, float]:
        """The figures to log now (module docstring); {} when inert or already stopped."""
        if not self.active:
            return {}
        return self._figures(self._tracker.snapshot())

    def _figures(self, m: Measurement) -> dict[str, float]:
        last_s, last_j, last_co2 = self._last
        dt = max(m.duration_s - last_s, 0.0)
        total = m.energy_total_j
        delta = {c: max(j - last_j.get(c, 0.0), 0.0) for c, j in m.energy_j.items()}
        out = {f"{PREFIX}energy_j": total, f"{PREFIX}energy_delta_j": sum(delta.values())}
        for component, joules in sorted(m.energy_j.items()):
            out[f"{PREFIX}energy_{component}_j"] = joules
            out[f"{PREFIX}energy_{component}_delta_j"] = delta[component]
            out[f"{PREFIX}power_{component}_w"] = delta[component] / dt if dt > 0 else 0.0
        out[f"{PREFIX}power_w"] = sum(delta.values()) / dt if dt > 0 else 0.0
        out[f"{PREFIX}co2_kg"] = m.co2_kg
        out[f"{PREFIX}co2_delta_kg"] = max(m.co2_kg - last_co2, 0.0)
        if self.samples:
            out[f"{PREFIX}samples"] = float(self.samples)
            out[f"{PREFIX}j_per_sample"] = total / self.samples
        if self.tokens:
            out[f"{PREFIX}tokens"] = float(self.tokens)
            out[f"{PREFIX}j_per_token"] = total / self.tokens
        self._last = (m.duration_s, dict(m.energy_j), m.co2_kg)
        return out

    def stop(self, exc: BaseException | None = None) -> dict[str, float]:
        """End the run (closing open phases) and return the last figures, whose deltas complete the
        run's total; {} when inert. ``exc`` marks the recorded run failed."""
        if not self.active:
            return {}
        self.active = False
        try:
            for name in reversed(list(self._phases)):
                self.end_phase(name)
            if self.samples:  # the recorded result's work section: J per training sample
                self._tracker.training = {"samples": self.samples, "tokens": self.tokens or None}
            self._track.__exit__(type(exc) if exc else None, exc, None)
        finally:
            self._close_prometheus()
        self.measurement = self._tracker.measurement
        return {} if self.measurement is None else self._figures(self.measurement)

    def _close_prometheus(self) -> None:
        if self._prometheus is not None:
            self._prometheus.close()
            self._prometheus = None
