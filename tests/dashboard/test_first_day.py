"""The dashboard's first-day fixes, on a real SQLite store: energy of running and interrupted runs
(front page and group totals, with the runs that did not finish), no GPU band without a GPU, a
running study step not listed as failed, and how the power figures were obtained."""

from __future__ import annotations

import re

from dash_helpers import add_run, write_samples

from greenai.dashboard import report_view, spent, views
from greenai.meter.types import Sample


def _energy_kwh_after(n: int) -> float:
    """The cumulative energy of ``write_samples``' last sample (index n - 1), in kWh."""
    i = n - 1
    return (20.0 * i + i * (i - 1) / 2 + 3.0 * i) / 3.6e6


def test_group_totals_count_interrupted_and_running_runs_and_name_the_unfinished(store):
    add_run(store, "done-1", group="g", kwh=0.01, co2=0.005)
    add_run(store, "cut-1", group="g", status="interrupted")
    write_samples(store, "cut-1", 30)
    add_run(store, "live-1", group="g", status=None)  # still running
    write_samples(store, "live-1", 10)
    runs = store.list_runs()
    last = spent.last_samples(store.engine, spent.unfinished_ids(runs))
    assert set(last) == {"cut-1", "live-1"}
    (g,) = views.group_summaries(runs, last)
    expected = 0.01 + _energy_kwh_after(30) + _energy_kwh_after(10)
    assert abs(g.energy_kwh - expected) < 1e-12
    assert g.unfinished == (("cut-1", "interrupted"),)
    assert g.running == 1


def test_front_page_shows_energy_of_a_running_run_and_the_unfinished_runs(store, client):
    add_run(store, "live-2", group="g2", status=None)
    write_samples(store, "live-2", 12)
    add_run(store, "cut-2", group="g2", status="failed")
    write_samples(store, "cut-2", 5)
    page = client.get("/").get_data(as_text=True)
    row = page[page.index("live-2") :]
    row = row[: row.index("</tr>")]
    assert f"{_energy_kwh_after(12):.3g}" in row and "so far" in row
    groups = page[page.index('id="groups"') : page.index("</table>")]
    assert "cut-2" in groups and "status-failed" in groups
    total = _energy_kwh_after(12) + _energy_kwh_after(5)
    assert re.search(rf">\s*{re.escape(f'{total:.3g}')}\s*<", groups)


def test_no_power_band_for_a_component_that_never_drew_power():
    samples = [
        Sample("r", float(i), float(i), "train", {"cpu": 20.0, "gpu": 0.0, "ram": 3.0},
               {"cpu": 20.0 * i, "gpu": 0.0, "ram": 3.0 * i}, 0.0)
        for i in range(5)
    ]  # fmt: skip
    assert list(views.live_series(samples)["power_w"]) == ["cpu", "ram"]


def test_a_running_study_step_is_not_listed_as_failed(store):
    add_run(store, "b", variant="baseline", group="s")
    add_run(store, "p", variant="pruned_unstructured", group="s", status=None, parent="b")
    report = report_view.study_report(store.list_runs(group="s"))
    assert [r["run_id"] for r in report["running"]] == ["p"]
    assert all(t["title"] != "Failed or missing steps" for t in report["tables"])


def test_the_study_page_lists_the_running_step_and_draws_no_empty_charts(store, client):
    add_run(store, "only", variant="baseline", group="s2", status=None)
    page = client.get("/study?group=s2").get_data(as_text=True)
    assert 'id="running-steps"' in page and "Failed or missing" not in page
    assert 'id="chart-comparison"' not in page and 'id="chart-pareto"' not in page


def test_power_methods_come_from_the_result_and_are_unknown_while_running(store):
    add_run(store, "fin", status="done")
    add_run(store, "run", status=None)
    assert views.power_methods(store.get_run("fin"))["cpu"].startswith("estimated")
    assert views.power_methods(store.get_run("run")) is None
    assert views.run_summary(store.get_run("fin"))["energy_basis"] == "final"
