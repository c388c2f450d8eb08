"""The dashboard shows the bands and the embodied carbon: the study's tables and charts, a run's page."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenai.dashboard import create_app
from greenai.storage import open_store


def _result(run_id, variant, co2, low, high, parent=None):
    step = {"energy_kwh": co2 * 10, "co2_kg": co2, "co2_kg_low": low, "co2_kg_high": high,
            "methods": {"cpu": "estimated: CPU load x server power curve (TDP)"}}  # fmt: skip
    return {
        "schema_version": 1, "run_id": run_id, "variant": variant, "device": "cpu",
        "parent_run_id": parent, "metrics": {"test_accuracy_pct": 70.0},
        "energy": {"step": step, "lifecycle": dict(step)},
        "embodied": {"step": {"co2_kg": 0.002, "co2_kg_low": 0.001, "co2_kg_high": 0.005},
                     "lifecycle": {"co2_kg": 0.002, "co2_kg_low": 0.001, "co2_kg_high": 0.005}},
    }  # fmt: skip


@pytest.fixture
def client(tmp_path: Path):
    store = open_store(f"sqlite:///{tmp_path / 'greenai.db'}", default_dir=tmp_path)
    for rid, variant, co2, lo, hi, parent in (
        ("r1", "baseline", 0.01, 0.006, 0.014, None),
        ("r2", "pruned_unstructured", 0.009, 0.0054, 0.0126, "r1"),
    ):
        store.create_run(rid, name=variant, variant=variant, device="cpu", group="g",
                         parent_run_id=parent)  # fmt: skip
        store.finish_run(rid, status="done", result=_result(rid, variant, co2, lo, hi, parent))
    yield create_app(store).test_client()
    store.close()


def test_study_view_has_the_band_column_error_bars_and_embodied(client):
    data = client.get("/api/study", query_string={"group": "g"}).get_json()
    study, life = data["tables"][0], data["tables"][1]
    assert "± CO2 (kg)" in study["headers"] and "Embodied CO2 (kg)" in life["headers"]
    pruned = next(c for c in study["cells"] if c[0].startswith("Pruned"))
    assert "(not distinguishable)" in pruned[study["headers"].index("Reduction")]
    assert data["comparison"]["co2_step_band"] == [[0.006, 0.014], [0.0054, 0.0126]]
    assert data["pareto"]["co2_band"] == [[0.006, 0.014], [0.0054, 0.0126]]


def test_run_page_shows_the_band_and_the_embodied_carbon(client):
    page = client.get("/runs/r1").get_data(as_text=True)
    assert "band 0.006" in page and "Embodied CO₂ (hardware)" in page
