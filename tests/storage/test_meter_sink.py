"""The real meter writing through ``StoreSink``: the store holds exactly what the tracker measured."""

from __future__ import annotations

import json

import pytest

from greenai.meter import Tracker
from greenai.storage import RunStore, StoreSink, new_run_id


def test_tracker_records_land_in_the_store(store: RunStore) -> None:
    run_id = new_run_id()
    store.create_run(run_id, name="tracked", variant="measure")
    tracker = Tracker(
        "tracked",
        run_id=run_id,
        interval_s=None,
        sinks=[StoreSink(store)],
        intensity_g_per_kwh=400.0,
    )
    tracker.start()
    with tracker.phase("train"):
        with tracker.phase("epoch"):
            sum(i * i for i in range(20_000))
            tracker.sample()
        tracker.sample()
    measurement = tracker.stop()

    assert store.samples(run_id) == tracker.samples and len(tracker.samples) >= 2
    assert sorted(p.path for p in store.phases(run_id)) == ["train", "train/epoch"]
    assert sorted(store.phases(run_id), key=lambda p: p.path) == sorted(
        measurement.phases, key=lambda p: p.path
    )
    run = store.get_run(run_id)
    assert run.energy_kwh == pytest.approx(measurement.energy_kwh)
    assert run.co2_kg == pytest.approx(measurement.co2_kg)
    assert run.duration_s == pytest.approx(measurement.duration_s)
    assert run.measurement == json.loads(json.dumps(measurement.to_dict()))  # tuples become lists
