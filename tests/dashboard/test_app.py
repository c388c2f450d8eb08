"""The dashboard's pages and JSON API over a real store: content, escaping, read-only, errors."""

from __future__ import annotations

import html
import json

import pytest
from dash_helpers import EVIL, add_run, write_samples

from greenai.dashboard import create_app
from greenai.dashboard.server import LOOPBACK_NAMES


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


def test_run_page_and_views_render(store, client):
    add_run(store, "t1", variant="search_trial", group="hp", acc=70.0, kwh=0.01)
    add_run(store, "t2", variant="search_trial", group="hp", acc=60.0, kwh=0.02)
    run_page = client.get("/runs/t1").get_data(as_text=True)
    assert 'data-run-id="t1"' in run_page and "/assets/plotly.min.js" in run_page
    study = client.get("/study?group=hp").get_data(as_text=True)
    assert "/search?group=hp" in study  # a search's study view links to its Pareto view
    search = client.get("/search?group=hp").get_data(as_text=True)
    assert "2 finished trials" in search and "1 on the Pareto front" in search
    assert client.get("/api/search?group=hp").get_json()["points"][0]["on_front"] is True


def test_store_text_is_escaped_everywhere(store, client):
    group = '"><img src=x onerror=alert(2)>'
    add_run(store, "evil", name=EVIL, group=group, variant="search_trial")
    for path in ("/", "/runs/evil", f"/study?group={group}", f"/search?group={group}"):
        response = client.get(path, query_string=None)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert EVIL not in page and "<img src=x" not in page, path
    index = client.get("/").get_data(as_text=True)
    assert html.escape(EVIL) in index
    # JSON carries the raw text; the page scripts put it in with textContent only.
    assert client.get("/api/runs/evil").get_json()["name"] == EVIL


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
