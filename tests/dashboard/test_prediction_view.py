"""The run page's prediction card data: the latest epoch's predicted totals, the actual at the end."""

from __future__ import annotations

from types import SimpleNamespace

from greenai.dashboard.prediction import prediction_view
from greenai.dashboard.views import live_payload
from greenai.storage.records import EpochRecord


def _epoch(n, **metrics):
    return EpochRecord("r", n, metrics, 0.0)


def test_latest_prediction_and_the_actual_once_finished():
    epochs = [
        _epoch(1, test_acc=50.0, pred_energy_kwh=2.0, pred_energy_low_kwh=1.5,
               pred_energy_high_kwh=2.5, pred_co2_kg=1.0),
        _epoch(2, test_acc=60.0, pred_energy_kwh=1.8, pred_energy_low_kwh=1.7,
               pred_energy_high_kwh=1.9, pred_co2_kg=0.9),
        _epoch(3, test_acc=61.0),
    ]  # fmt: skip
    running = SimpleNamespace(result=None)
    view = prediction_view(running, epochs)
    assert view["after_epoch"] == 2 and view["energy_kwh"] == 1.8
    assert (view["energy_low_kwh"], view["energy_high_kwh"]) == (1.7, 1.9)
    assert view["actual"] is None
    done = SimpleNamespace(result={"prediction": {"actual": {"energy_kwh": 1.85}}})
    assert prediction_view(done, epochs)["actual"] == {"energy_kwh": 1.85}
    assert prediction_view(running, [_epoch(1, test_acc=1.0)]) is None


def test_the_live_payload_carries_it():
    run = SimpleNamespace(
        run_id="r", name="baseline", variant="baseline", model="m", dataset="d", device="cpu",
        group=None, parent_run_id=None, status="running", started_at=0.0, heartbeat_at=0.0,
        finished_at=None, duration_s=None, accuracy=None, energy_kwh=None, co2_kg=None,
        config={}, result=None, measurement=None, error=None, host="h", pid=1,
    )  # fmt: skip
    payload = live_payload(run, [], [_epoch(1, pred_energy_kwh=3.0)])
    assert payload["prediction"]["energy_kwh"] == 3.0
    assert payload["epochs"]["metrics"]["pred_energy_kwh"] == [3.0]
