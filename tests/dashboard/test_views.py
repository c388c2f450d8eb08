"""The dashboard's data shaping, on records read back from a real store."""

from __future__ import annotations

from dash_helpers import add_run, write_samples

from greenai.dashboard import views


def test_pareto_front_keeps_only_undominated_points():
    points = [(70.0, 0.010), (75.0, 0.020), (72.0, 0.030), (75.0, 0.020), (60.0, 0.005)]
    # (72, 0.030) is beaten by (75, 0.020); equal points do not dominate each other.
    assert views.pareto_front(points) == [True, True, False, True, True]
    assert views.pareto_front([]) == []


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


def test_groups_and_study_rows(store):
    add_run(store, "a", group="s1", acc=70.0, kwh=0.01, co2=0.005, started_at=100.0)
    add_run(store, "b", variant="pruned_structured", group="s1", acc=68.0, kwh=0.002, co2=0.001)
    add_run(store, "t1", variant="search_trial", group="hp", acc=50.0, kwh=0.1, co2=0.05)
    add_run(store, "lone", status="failed")
    groups = {g.name: g for g in views.group_summaries(store.list_runs())}
    assert set(groups) == {"s1", "hp"}
    assert groups["s1"].kind == "study" and groups["hp"].kind == "search"
    assert groups["s1"].runs == 2
    assert abs(groups["s1"].energy_kwh - 0.012) < 1e-12

    rows = views.study_rows(store.list_runs(group="s1"))
    assert [r["run_id"] for r in rows] == ["a", "b"]
    assert rows[0]["lifecycle_co2_kg"] == 0.01
    assert rows[1]["acc_per_kg_co2"] == 68.0 / 0.001


def test_pareto_payload_flags_trials_and_lists_unfinished_ones(store):
    add_run(store, "t1", variant="search_trial", group="hp", acc=70.0, kwh=0.01, started_at=1.0)
    add_run(store, "t2", variant="search_trial", group="hp", acc=65.0, kwh=0.02, started_at=2.0)
    add_run(store, "t3", variant="search_trial", group="hp", acc=80.0, kwh=0.05, started_at=3.0)
    add_run(store, "t4", variant="search_trial", group="hp", status=None, started_at=4.0)
    add_run(store, "base", variant="baseline", group="hp", acc=99.0, kwh=0.0001)
    payload = views.pareto_payload(store.list_runs(group="hp"))
    assert [(p["run_id"], p["on_front"]) for p in payload["points"]] == [
        ("t1", True),
        ("t2", False),
        ("t3", True),
    ]
    assert [p["run_id"] for p in payload["pending"]] == ["t4"]
    assert payload["points"][0]["params"] == {"lr": 0.001}
