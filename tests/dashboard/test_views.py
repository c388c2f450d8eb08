"""The dashboard's data shaping, on records read back from a real store: runs written through the
store API, and the runs a real tiny `greenai search` wrote (the ``search_dir`` fixture)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from dash_helpers import SEARCH_NAME, add_run, search_study, write_samples

from greenai.dashboard import report_view, search_view, studies, views
from greenai.reports import chartdata, table
from greenai.reports.rows import build_rows
from greenai.reports.sources import from_store
from greenai.search.summary import summarise
from greenai.storage import open_store


def test_live_series_from_stored_samples(store):
    add_run(store, "r1", status=None)
    write_samples(store, "r1", 5)
    series = views.live_series(store.samples("r1"))
    assert series["count"] == 5
    assert series["elapsed_s"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert list(series["power_w"]) == ["cpu", "ram"]  # the meter's component order
    assert series["power_w"]["cpu"] == [20.0, 21.0, 22.0, 23.0, 24.0]
    # cumulative energy at 4 s: cpu 20*4 + 6 J, ram 12 J
    assert series["energy_kwh"][-1] == (86.0 + 12.0) / 3.6e6


def test_live_series_thins_long_runs_but_keeps_the_latest(store):
    add_run(store, "r1", status=None)
    write_samples(store, "r1", 25)
    series = views.live_series(store.samples("r1"), limit=10)
    assert series["count"] == 25
    assert len(series["elapsed_s"]) <= 11
    assert series["elapsed_s"][0] == 0.0 and series["elapsed_s"][-1] == 24.0
    assert series["elapsed_s"] == sorted(series["elapsed_s"])


def test_epoch_series_keeps_numeric_metrics_in_epoch_order(store):
    add_run(store, "r1", status=None)
    store.add_epoch("r1", 1, {"train_loss": 0.9, "test_acc": 60.0, "note": "x"})
    store.add_epoch("r1", 0, {"train_loss": 1.4, "test_acc": 45.0})
    series = views.epoch_series(store.epochs("r1"))
    assert series == {
        "epoch": [0, 1],
        "metrics": {"test_acc": [45.0, 60.0], "train_loss": [1.4, 0.9]},
    }


def test_groups_of_studies_and_searches(store, search_store):
    add_run(store, "a", group="s1", acc=70.0, kwh=0.01, co2=0.005, started_at=100.0)
    add_run(store, "b", variant="pruned_structured", group="s1", acc=68.0, kwh=0.002, parent="a")
    add_run(store, "lone", status="failed")
    groups = {g.name: g for g in views.group_summaries(store.list_runs())}
    assert set(groups) == {"s1"}
    assert groups["s1"].kind == "study" and groups["s1"].runs == 2
    assert abs(groups["s1"].energy_kwh - 0.012) < 1e-12

    (search,) = views.group_summaries(search_store.list_runs())
    assert (search.name, search.kind, search.runs) == (SEARCH_NAME, "search", 5)  # 3 trials + 2


def test_search_payload_scores_trials_as_the_search_did(search_dir, search_store):
    """Per trial: the FINAL model's accuracy and lifecycle CO2 (the study's objective), exactly the
    values Optuna recorded, and the front and hypervolume of ``greenai search --show``."""
    study = search_study(search_dir)
    summary = summarise(study, "co2")
    payload = search_view.search_payload(search_store.list_runs(group=SEARCH_NAME), "co2")
    assert payload["pending"] == []
    assert (payload["objective"], payload["cost_unit"]) == ("co2", "kg CO2e")
    points = {p["run_id"]: p for p in payload["points"]}
    assert set(points) == {t.user_attrs["run_id"] for t in study.trials}
    for t in study.trials:
        p = points[t.user_attrs["run_id"]]
        assert p["final_run_id"] == t.user_attrs["final_run_id"]
        assert p["run_ids"] == [t.user_attrs["run_id"], *t.user_attrs.get("child_run_ids", [])]
        assert p["accuracy_pct"] == pytest.approx(t.values[0], rel=1e-12)
        assert p["cost"] == pytest.approx(t.values[1], rel=1e-12)
        assert p["cost"] == p["lifecycle_co2_kg"]
        assert p["params"] == t.params  # what was sampled, not the whole TrainConfig
        assert list(p["params"]) == list(t.params)
    # One trial was pruned then quantized: its final model is the INT8 child, scored on the
    # lifecycle (training + pruning + quantization), which is more than its training run's CO2.
    (compressed,) = [p for p in points.values() if len(p["run_ids"]) == 3]
    assert compressed["params"]["sparsity"] == 0.3 and compressed["params"]["quantization"] == "on"
    assert compressed["final_variant"] == "quantized_ptq"
    assert compressed["cost"] > compressed["co2_kg"]  # co2_kg: the training run's own step
    front = [r.run_id for r in summary.pareto]
    assert payload["front"] == front
    assert {p["final_run_id"] for p in points.values() if p["on_front"]} == set(front)
    assert payload["hypervolume"] == pytest.approx(summary.hypervolume, rel=1e-12)
    assert payload["reference"] == pytest.approx(list(summary.reference), rel=1e-12)


def test_search_payload_under_the_energy_objective(search_store):
    runs = search_store.list_runs(group=SEARCH_NAME)
    energy = search_view.search_payload(runs, "energy")
    assert energy["cost_unit"] == "kWh"
    for p in energy["points"]:
        final = search_store.get_run(p["final_run_id"])
        assert p["cost"] == final.result["energy"]["lifecycle"]["energy_kwh"]
    co2 = {p["run_id"]: p["cost"] for p in search_view.search_payload(runs, "co2")["points"]}
    assert all(co2[p["run_id"]] != p["cost"] for p in energy["points"])


def test_unscored_trials_are_listed_with_their_reason(search_copy):
    """Rows as the search writes them for a trial that failed before training (its sampled params
    in the config), a trial still training, and a trial whose pruning step failed."""
    with open_store(str(search_copy / "greenai.db"), create=False) as store:
        before = search_view.search_payload(store.list_runs(group=SEARCH_NAME), "co2")["points"]
        trained = store.get_run(before[0]["run_id"])
        sampled = {"lr": 0.002, "batch_size": 32, "epochs": 1, "width": 0.25,
                   "precision": "fp32", "sparsity": 0.3, "quantization": "off"}  # fmt: skip
        store.create_run(
            "20990101-000000-aaaaaa", name=f"{SEARCH_NAME} trial", variant="search_trial",
            config={**trained.config, "search_params": sampled}, group=SEARCH_NAME,
        )  # fmt: skip
        store.finish_run("20990101-000000-aaaaaa", status="failed", error="RuntimeError: boom")
        store.create_run(
            "20990101-000001-bbbbbb", variant="search_trial", config=trained.config,
            group=SEARCH_NAME,
        )  # fmt: skip
        store.create_run(
            "20990101-000002-cccccc", variant="search_trial", config=trained.config,
            group=SEARCH_NAME,
        )  # fmt: skip
        store.finish_run("20990101-000002-cccccc", status="done", result=trained.result)
        store.create_run(
            "20990101-000003-dddddd", variant="pruned_unstructured", group=SEARCH_NAME,
            parent_run_id="20990101-000002-cccccc", config={"kind": "unstructured", "sparsity": 0.5},
        )  # fmt: skip
        store.finish_run("20990101-000003-dddddd", status="failed", error="ValueError: no")
        payload = search_view.search_payload(store.list_runs(group=SEARCH_NAME), "co2")
    assert [p["run_id"] for p in payload["points"]] == [p["run_id"] for p in before]
    pending = {p["run_id"]: p for p in payload["pending"]}
    assert list(pending) == [
        "20990101-000000-aaaaaa",
        "20990101-000001-bbbbbb",
        "20990101-000002-cccccc",
    ]
    failed = pending["20990101-000000-aaaaaa"]
    assert (failed["trial_status"], failed["trial_error"]) == ("failed", "RuntimeError: boom")
    assert failed["params"] == sampled
    assert pending["20990101-000001-bbbbbb"]["trial_status"] == "running"
    broken = pending["20990101-000002-cccccc"]
    assert (broken["trial_status"], broken["trial_error"]) == ("failed", "ValueError: no")
    assert broken["final_run_id"] == "20990101-000003-dddddd"
    assert broken["params"]["sparsity"] == 0.5


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_study_objective_is_read_from_the_search_storage_without_writing(search_dir, store):
    search_db = search_dir / "search.db"
    before = _digest(search_db)
    with open_store(str(search_dir / "greenai.db"), create=False, mark_stale=False) as s:
        found = studies.recorded_objective(s.engine, SEARCH_NAME)
        assert found == ("co2", str(search_db))
        missing = studies.recorded_objective(s.engine, "no such study")
        assert missing.objective is None and "no such study" in missing.where
    assert _digest(search_db) == before
    assert not Path(f"{search_db}-wal").exists() and not Path(f"{search_db}-journal").exists()
    # A store with no study storage beside it: nothing recorded, and nothing created.
    alone = studies.recorded_objective(store.engine, SEARCH_NAME)
    assert alone.objective is None
    assert not (Path(store.engine.url.database).parent / "search.db").exists()


def test_study_report_is_the_report_of_greenai_report(store):
    add_run(store, "a", group="s1", acc=78.0, kwh=0.01, co2=0.005)
    add_run(store, "b", variant="pruned_unstructured", group="s1", acc=77.0, kwh=0.002, co2=0.001,
            parent="a")  # fmt: skip
    add_run(store, "c", variant="quantized_ptq", group="s1", status="failed")
    report = report_view.study_report(store.list_runs(group="s1"))
    rows = build_rows(from_store(store, group="s1"))  # what `greenai report --store` builds
    study, lifecycle, problems = report["tables"]
    assert study["headers"] == list(table.STUDY_HEADERS)
    assert lifecycle["headers"] == list(table.LIFECYCLE_HEADERS)
    assert study["cells"] == [list(c) for c in table.study_table(rows).cells]
    assert lifecycle["cells"] == [list(c) for c in table.lifecycle_table(rows).cells]
    assert study["run_ids"] == lifecycle["run_ids"] == ["a", "b"]
    assert study["cells"][1][:6] == [
        "Pruned (unstructured)",
        "CPU",
        "77.00%",
        "0.00100",
        "n/a",
        "80.00%",
    ]  # n/a: results without a band
    assert problems["run_ids"] == ["c"] and problems["cells"][0][2] == "FAILED"
    par = chartdata.pareto(rows)
    assert report["pareto"]["co2_lifecycle_kg"] == list(par.co2_lifecycle_kg)
    assert report["pareto"]["front"] == list(par.front)
    assert report["pareto"]["run_ids"] == ["a", "b"]
    assert report["comparison"]["run_ids"] == ["a", "b"]
    assert report["notes"] == table.method_notes(rows)


def test_study_report_of_a_real_search(search_store):
    report = report_view.study_report(search_store.list_runs(group=SEARCH_NAME))
    study = report["tables"][0]
    assert len(study["cells"]) == 5 and len(report["tables"]) == 3  # nothing failed
    assert report["tables"][2]["title"] == "Work-normalised energy"  # J per sample / item (#15)
    variants = sorted(c[0] for c in study["cells"])
    assert variants == [
        "Pruned (unstructured)",
        "Quantized (PTQ INT8)",
        "search_trial",
        "search_trial",
        "search_trial",
    ]
    assert len(report["pareto"]["run_ids"]) == 5 and report["pareto"]["front"]
