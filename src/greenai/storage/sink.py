"""``StoreSink``: the meter's sink that writes into the run store as the run goes."""

from __future__ import annotations

from greenai.meter.types import Measurement, PhaseResult, Sample
from greenai.storage.store import RunStore


class StoreSink:
    """A meter ``Sink`` writing every sample and phase to ``store``, each committed at once.

    The run must exist (``store.create_run``) before the tracker starts: the sink records what the
    meter measures, the caller owns the run's life (``finish_run``). Samples also bump the run's
    heartbeat, so a run whose process dies is later recognised as interrupted. ``on_stop`` stores
    the totals (energy in kWh with PUE, CO2, duration and the whole measurement as JSON).
    Write errors propagate (the tracker reports them and drops the sink), never pass silently.
    """

    def __init__(self, store: RunStore) -> None:
        self.store = store

    def on_start(self, run_id: str, name: str, start_time: float) -> None:
        # Fail early, on the caller's thread, if the run was never created.
        self.store.get_run(run_id)

    def on_sample(self, sample: Sample) -> None:
        self.store.add_sample(sample)

    def on_phase(self, phase: PhaseResult) -> None:
        self.store.add_phase(phase)

    def on_stop(self, measurement: Measurement) -> None:
        self.store.record_measurement(
            measurement.run_id,
            measurement.to_dict(),
            energy_kwh=measurement.energy_kwh,
            co2_kg=measurement.co2_kg,
            duration_s=measurement.duration_s,
        )
