"""Headless Chromium checks the dashboard's first-day fixes as a person sees them: chart titles
clear of plotly's toolbar, no GPU band without a GPU, "estimated" on the power cards, energy of a
running run on the front page, group totals naming the runs that did not finish, and a running
study step not listed as failed. Screenshots go to .test-artifacts/."""

from __future__ import annotations

import pytest
from dash_helpers import add_run, write_samples
from test_browser import ARTIFACTS, Watcher, browser_context  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser


def _boxes_overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_run_page_titles_clear_of_the_toolbar_no_gpu_band_and_estimated_power(
    browser_context,  # noqa: F811
    live_server,
    store,
):
    add_run(store, "est-run", status="done")  # its result says: cpu estimated
    write_samples(store, "est-run", 40)  # cpu and ram only: this machine has no GPU
    page = browser_context.new_page()
    watcher = Watcher(page)
    try:
        page.goto(f"{live_server}/runs/est-run")
        page.wait_for_function("() => (document.getElementById('chart-power').data || []).length")
        names = page.evaluate("() => document.getElementById('chart-power').data.map(t => t.name)")
        assert names == ["cpu", "ram"]
        assert "ESTIMATED" in (page.text_content("#v-power-how") or "")
        assert "ESTIMATED" in (page.text_content("#v-energy-how") or "")
        title = page.locator("#chart-power").locator("xpath=..").locator(".chart-title")
        assert "estimated" in (title.text_content() or "").lower()
        page.hover("#chart-power")  # plotly shows its toolbar on hover
        page.wait_for_selector("#chart-power .modebar", state="visible")
        for chart in ("chart-power", "chart-energy", "chart-epochs"):
            heading = page.locator(f"#{chart}").locator("xpath=..").locator(".chart-title")
            toolbar = page.locator(f"#{chart} .modebar")
            assert not _boxes_overlap(heading.bounding_box(), toolbar.bounding_box()), chart
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard_run_estimated.png"), full_page=True)
    finally:
        page.close()
    assert watcher.problems == []


def test_front_page_and_study_page_while_a_study_runs(
    browser_context,  # noqa: F811
    live_server,
    store,
):
    add_run(store, "b-1", variant="baseline", group="day-1", kwh=0.004, co2=0.002)
    add_run(
        store, "q-1", variant="quantized_ptq", group="day-1", status="interrupted", parent="b-1"
    )
    write_samples(store, "q-1", 300)  # interrupted after 300 s of work
    add_run(store, "p-1", variant="pruned_unstructured", group="day-1", status=None, parent="b-1")
    write_samples(store, "p-1", 20)  # running now
    page = browser_context.new_page()
    watcher = Watcher(page)
    try:
        page.goto(live_server + "/")
        running_row = page.locator("#runs tbody tr", has_text="p-1")
        assert "so far" in (running_row.text_content() or "")
        energy_cell = running_row.locator("td.n").nth(1).text_content() or ""
        assert energy_cell.strip().split()[0] not in ("—", "")
        group_row = page.locator("#groups tbody tr", has_text="day-1")
        unfinished = group_row.locator("td.unfinished").text_content() or ""
        assert "q-1" in unfinished and "interrupted" in unfinished and "p-1" not in unfinished
        total = float((group_row.locator("td.n").nth(2).text_content() or "").strip())
        assert total > 0.004  # the interrupted and running runs' energy counts
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard_index_running.png"), full_page=True)

        page.goto(f"{live_server}/study?group=day-1")
        assert page.locator("#running-steps").get_by_text("Pruned (unstructured)").count() == 1
        problems = page.locator("table[data-title='Failed or missing steps'] tbody tr")
        assert problems.count() == 1  # the interrupted step only
        assert "q-1" in (problems.text_content() or "")
        page.screenshot(path=str(ARTIFACTS / "dashboard_study_running.png"), full_page=True)
    finally:
        page.close()
    assert watcher.problems == []
