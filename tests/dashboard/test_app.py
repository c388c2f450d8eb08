"""The dashboard's pages and JSON API over a real store: content, escaping, read-only, errors."""

from __future__ import annotations

import html
import json

import pytest
from dash_helpers import EVIL, SEARCH_NAME, add_run, search_study, write_samples
from markupsafe import escape

from greenai.dashboard import create_app
from greenai.dashboard.server import LOOPBACK_NAMES
from greenai.reports import table


def test_runs_list_shows_every_status_and_headline_figures(store, client):
    add_run(store, "r-done", name="baseline-ok", acc=78.25, kwh=0.0123, co2=0.00456)
    add_run(store, "r-failed", name="broken", status="failed")
    add_run(store, "r-int", name="cut-short", status="interrupted")
    add_run(store, "r-run", name="going", status=None)
    page = client.get("/").get_data(as_text=True)
    for name in ("baseline-ok", "broken", "cut-short", "going"):
        assert name in page
    for status in ("done", "failed", "interrupted", "running"):
        assert f'class="status status-{status}">{status}</span>' in page
    assert "78.25" in page and "0.012" in page and "seed_cnn" in page

    api = client.get("/api/runs").get_json()
    assert {r["run_id"]: r["status"] for r in api} == {
        "r-done": "done",
        "r-failed": "failed",
        "r-int": "interrupted",
        "r-run": "running",
    }
    done = next(r for r in api if r["run_id"] == "r-done")
    assert (done["accuracy_pct"], done["energy_kwh"], done["co2_kg"]) == (78.25, 0.0123, 0.00456)


def test_live_endpoint_follows_the_store(store, client):
    add_run(store, "r1", status=None)
    write_samples(store, "r1", 3)
    store.add_epoch("r1", 0, {"train_loss": 1.5, "test_acc": 41.0})
    first = client.get("/api/runs/r1/live").get_json()
    assert first["run"]["status"] == "running"
    assert first["samples"]["count"] == 3
    assert first["latest"]["power_w"] == {"cpu": 22.0, "ram": 3.0}
    assert first["epochs"]["metrics"]["test_acc"] == [41.0]

    write_samples(store, "r1", 2, start=3)
    store.add_epoch("r1", 1, {"train_loss": 1.1, "test_acc": 52.0})
    store.finish_run("r1", status="done", accuracy=52.0, energy_kwh=1e-4, co2_kg=5e-5)
    second = client.get("/api/runs/r1/live").get_json()
    assert second["samples"]["count"] == 5
    assert second["latest"]["energy_kwh"] == (20.0 * 4 + 6 + 12.0) / 3.6e6
    assert second["epochs"]["epoch"] == [0, 1]
    assert second["run"]["status"] == "done"


def test_run_page_renders(store, client):
    add_run(store, "t1", group="s1")
    run_page = client.get("/runs/t1").get_data(as_text=True)
    assert 'data-run-id="t1"' in run_page and "/assets/plotly.min.js" in run_page


def test_search_page_shows_what_the_search_optimised(search_dir, search_store):
    """A real search with --objective co2: the page scores every trial on its final model's
    accuracy and lifecycle CO2, read from the study's own storage, with the search's front."""
    client = create_app(search_store).test_client()
    study = search_study(search_dir)
    page = client.get("/search", query_string={"group": SEARCH_NAME}).get_data(as_text=True)
    assert "3 finished trials" in page
    assert "the study&#39;s objective, recorded in" in page and "search.db" in page
    api = client.get("/api/search", query_string={"group": SEARCH_NAME}).get_json()
    assert api["objective"] == api["recorded_objective"] == "co2"
    for t in study.trials:
        (p,) = [p for p in api["points"] if p["run_id"] == t.user_attrs["run_id"]]
        assert (p["accuracy_pct"], p["cost"]) == pytest.approx(t.values, rel=1e-12)
        assert f'data-final-run-id="{t.user_attrs["final_run_id"]}"' in page
    front = sum(p["on_front"] for p in api["points"])
    assert f"{front} on the Pareto front" in page and page.count('<tr class="front"') == front
    assert "sparsity=0.3, quantization=on" in page and "optimizer" not in page
    # The other objective, on request; an unknown one is refused.
    energy = client.get("/api/search", query_string={"group": SEARCH_NAME, "objective": "energy"})
    assert energy.get_json()["objective"] == "energy"
    assert energy.get_json()["points"][0]["cost"] != api["points"][0]["cost"]
    bad = client.get("/api/search", query_string={"group": SEARCH_NAME, "objective": "speed"})
    assert bad.status_code == 400 and "objective" in bad.get_json()["error"]


def test_study_page_shows_the_report_tables(search_store):
    client = create_app(search_store).test_client()
    page = client.get("/study", query_string={"group": SEARCH_NAME}).get_data(as_text=True)
    assert "/search?group=" in page  # a search's study view links to its Pareto view
    for header in (*table.STUDY_HEADERS, *table.LIFECYCLE_HEADERS):
        assert f"<th>{escape(header)}</th>" in page
    assert "Quantized (PTQ INT8)" in page and "Pruned (unstructured)" in page
    api = client.get("/api/study", query_string={"group": SEARCH_NAME}).get_json()
    assert [t["title"] for t in api["tables"]] == [
        "Study table (step CO2)",
        "Lifecycle (honest) columns",
        "Work-normalised energy",
    ]
    for run_id in api["tables"][0]["run_ids"]:
        assert f'<tr data-run-id="{run_id}">' in page
    assert api["pareto"]["front"] and len(api["pareto"]["run_ids"]) == 5


def test_store_text_is_escaped_everywhere(store, client, search_store):
    group = '"><img src=x onerror=alert(2)>'
    add_run(store, "evil", name=EVIL, group=group)
    for path in ("/", "/runs/evil", f"/study?group={group}"):
        response = client.get(path, query_string=None)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert EVIL not in page and "<img src=x" not in page, path
    index = client.get("/").get_data(as_text=True)
    assert html.escape(EVIL) in index
    # JSON carries the raw text; the page scripts put it in with textContent only.
    assert client.get("/api/runs/evil").get_json()["name"] == EVIL
    # The real search's study name carries markup too.
    search_client = create_app(search_store).test_client()
    for path in ("/", "/search", "/study"):
        response = search_client.get(path, query_string={"group": SEARCH_NAME})
        page = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert "<img src=x" not in page and str(escape(SEARCH_NAME)) in page, path


def test_page_scripts_never_write_html():
    from greenai.dashboard.app import _HERE

    for script in (_HERE / "static").glob("*.js"):
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{script.name} uses {sink}"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/", "/runs/r1", "/api/runs", "/api/runs/r1/live", "/nowhere"])
def test_read_only_every_writing_method_is_405(store, client, method, path):
    add_run(store, "r1")
    response = client.open(path, method=method, data=b"status=failed")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert store.get_run("r1").status == "done"
    assert [r.run_id for r in store.list_runs()] == ["r1"]


def test_unknown_things_are_404_or_400(store, client):
    add_run(store, "r1")
    assert client.get("/runs/nope").status_code == 404
    missing = client.get("/api/runs/nope/live")
    assert missing.status_code == 404 and "nope" in missing.get_json()["error"]
    assert client.get("/study").status_code == 400
    assert client.get("/search?group=none").status_code == 404


def test_non_finite_numbers_become_null(store, client):
    add_run(store, "r1", status=None)
    store.add_epoch("r1", 0, {"train_loss": float("nan"), "test_acc": 10.0})
    store.add_epoch("r1", 1, {"train_loss": 2.0, "test_acc": float("inf")})
    text = client.get("/api/runs/r1/live").get_data(as_text=True)
    assert "NaN" not in text and "Infinity" not in text
    metrics = json.loads(text)["epochs"]["metrics"]
    assert metrics == {"test_acc": [10.0, None], "train_loss": [None, 2.0]}


def test_security_headers(store, client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_loopback_app_refuses_foreign_host_headers(store):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 cannot read the store."""
    client = create_app(store, trusted_hosts=LOOPBACK_NAMES).test_client()
    assert client.get("/", headers={"Host": "127.0.0.1:8050"}).status_code == 200
    assert client.get("/", headers={"Host": "localhost:8050"}).status_code == 200
    assert client.get("/api/runs", headers={"Host": "evil.example:8050"}).status_code == 400
