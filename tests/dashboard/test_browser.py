"""Headless Chromium (Debian's package, driven by Playwright) watches the live view update while a
run is being written to the store, and renders the study and search views. Screenshots go to
.test-artifacts/."""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from dash_helpers import EVIL, SEARCH_NAME, add_run, search_study

from greenai.dashboard import create_app
from greenai.dashboard.server import LOOPBACK_NAMES, start_in_thread
from greenai.meter.types import Sample
from greenai.reports import table
from greenai.storage import RunStore

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
ARTIFACTS = Path(__file__).resolve().parents[2] / ".test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser_context() -> Iterator:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (scripts/system-deps.sh installs it)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (dev extra)"
    )
    with (
        tempfile.TemporaryDirectory(prefix="greenai-chromium-") as profile,
        sync_api.sync_playwright() as p,
    ):
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 900},
        )
        yield context
        context.close()


class Watcher:
    """Collects what must never happen on a page: alerts, script errors, CSP violations."""

    def __init__(self, page) -> None:
        self.problems: list[str] = []
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on(
            "console",
            lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None,
        )


def sample(run_id: str, i: int, energy: dict[str, float]) -> Sample:
    """Sample ``i`` of a plausible CPU run (1 s apart); ``energy`` accumulates joules in place."""
    power = {"cpu": 28.0 + 9.0 * math.sin(i / 6.0) + (i % 7) * 0.6, "ram": 3.1 + 0.2 * (i % 3)}
    for c, w in power.items():
        energy[c] = energy.get(c, 0.0) + w
    return Sample(
        run_id=run_id,
        timestamp=1.8e9 + i,
        elapsed_s=float(i),
        phase="train/epoch" if i % 20 < 17 else "train/evaluate",
        power_w=power,
        energy_j=dict(energy),
        co2_kg=sum(energy.values()) / 3.6e6 * 0.475,
    )


def epoch_metrics(epoch: int) -> dict[str, float]:
    return {
        "train_loss": 1.9 * math.exp(-epoch / 3) + 0.35,
        "test_loss": 1.8 * math.exp(-epoch / 3.5) + 0.55,
        "test_acc": 78.0 - 42.0 * math.exp(-epoch / 2.5),
    }


class Writer(threading.Thread):
    """Appends samples (and an epoch every 20 samples) through the store API until stopped."""

    def __init__(self, store: RunStore, run_id: str, start: int, energy: dict[str, float]) -> None:
        super().__init__(daemon=True)
        self.store, self.run_id, self.i, self.energy = store, run_id, start, energy
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.store.add_sample(sample(self.run_id, self.i, self.energy))
            if self.i % 20 == 19:
                self.store.add_epoch(self.run_id, self.i // 20, epoch_metrics(self.i // 20))
            self.i += 1


def text(page, selector: str) -> str:
    return page.text_content(selector) or ""


def test_live_view_updates_while_the_run_is_written(browser_context, live_server, store):
    run_id = "20261125-050000-abc123"
    add_run(store, run_id, name=EVIL, variant="baseline", group="cifar-study", status=None)
    energy: dict[str, float] = {}
    for i in range(80):  # history before the page opens
        store.add_sample(sample(run_id, i, energy))
        if i % 20 == 19:
            store.add_epoch(run_id, i // 20, epoch_metrics(i // 20))
    writer = Writer(store, run_id, 80, energy)

    page = browser_context.new_page()
    watcher = Watcher(page)
    try:
        page.goto(f"{live_server}/runs/{run_id}")
        page.wait_for_function(
            "() => /^\\d+$/.test(document.getElementById('v-samples').textContent)"
        )
        first_count = int(text(page, "#v-samples"))
        first_energy = text(page, "#v-energy")
        first_points = page.evaluate(
            "() => document.getElementById('chart-power').data[0].x.length"
        )
        assert first_count >= 80 and first_points == first_count

        writer.start()
        page.wait_for_function(
            f"() => parseInt(document.getElementById('v-samples').textContent) >= {first_count + 8}",
            timeout=20_000,
        )
        page.wait_for_function(
            "() => document.getElementById('chart-epochs').data[0].x.length >= 5", timeout=20_000
        )
        assert text(page, "#v-energy") != first_energy
        points = page.evaluate("() => document.getElementById('chart-power').data[0].x.length")
        assert points > first_points
        assert text(page, "#run-status") == "running"
        assert text(page, "#run-name") == EVIL  # shown as text, never run
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard_live.png"), full_page=True)

        writer.stop.set()
        writer.join(timeout=10)
        store.finish_run(run_id, status="done", accuracy=77.1, energy_kwh=1e-3, co2_kg=4.8e-4)
        page.wait_for_function(
            "() => document.getElementById('run-status').textContent === 'done'", timeout=10_000
        )
        assert "final" in text(page, "#live-note")
    finally:
        writer.stop.set()
        page.close()
    assert watcher.problems == []


@pytest.fixture
def search_server(search_store: RunStore) -> Iterator[str]:
    """The dashboard over the real tiny search's store (opened read-only), on a loopback port."""
    app = create_app(search_store, trusted_hosts=LOOPBACK_NAMES)
    server, url = start_in_thread(app, "127.0.0.1", 0)
    yield url.rstrip("/")
    server.shutdown()
    server.server_close()


def test_study_view_is_the_report_with_interactive_charts(browser_context, live_server, store):
    figures = [
        ("baseline", 78.1, 0.0104, 0.0049, None),
        ("pruned_unstructured", 77.4, 0.0021, 0.0010, "s0"),
        ("pruned_structured", 74.9, 0.0018, 0.0009, "s0"),
        ("quantized_dynamic", 77.9, 0.0006, 0.0003, "s0"),
        ("distilled", 73.2, 0.0062, 0.0029, "s0"),
    ]
    for n, (variant, acc, kwh, co2, parent) in enumerate(figures):
        add_run(store, f"s{n}", variant=variant, group="study-1", acc=acc, kwh=kwh, co2=co2,
                parent=parent)  # fmt: skip
    page = browser_context.new_page()
    watcher = Watcher(page)
    try:
        page.goto(f"{live_server}/study?group=study-1")
        page.wait_for_function("() => (document.getElementById('chart-pareto').data || []).length")
        headers = page.locator("table[data-title='Study table (step CO2)'] th").all_text_contents()
        assert headers[: len(table.STUDY_HEADERS)] == list(table.STUDY_HEADERS)
        assert page.locator("table[data-title='Study table (step CO2)'] tbody tr").count() == 5
        bars = page.evaluate("() => document.getElementById('chart-comparison').data[0].x.length")
        assert bars == len(figures)
        front = page.evaluate("() => document.getElementById('chart-pareto').data[1].x")
        assert front and front == sorted(front)  # the front, joined by cost
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard_study.png"), full_page=True)
    finally:
        page.close()
    assert watcher.problems == []


def test_search_view_of_a_real_search(browser_context, search_server, search_dir):
    study = search_study(search_dir)
    page = browser_context.new_page()
    watcher = Watcher(page)
    try:
        page.goto(f"{search_server}/search?{urlencode({'group': SEARCH_NAME})}")
        page.wait_for_function("() => (document.getElementById('chart-pareto').data || []).length")
        assert text(page, "#group-name") == SEARCH_NAME  # shown as text, never run
        assert text(page, "#objective") == "co2"
        chart = page.evaluate(
            "() => document.getElementById('chart-pareto').data.map((t) => [t.x, t.y])"
        )
        plotted = sorted(zip(chart[0][0] + chart[1][0], chart[0][1] + chart[1][1], strict=True))
        expected = sorted((t.values[1], t.values[0]) for t in study.trials)
        assert [c for p in plotted for c in p] == pytest.approx([c for p in expected for c in p])
        assert len(chart[1][0]) == page.locator("#pareto-table tr.front").count() >= 1
        assert page.locator("#pareto-table").get_by_text("quantized_ptq").count() == 1
        page.screenshot(path=str(ARTIFACTS / "dashboard_search.png"), full_page=True)

        page.goto(f"{search_server}/study?{urlencode({'group': SEARCH_NAME})}")
        page.wait_for_function("() => (document.getElementById('chart-pareto').data || []).length")
        assert page.locator("table[data-title='Lifecycle (honest) columns'] tbody tr").count() == 5

        page.goto(search_server + "/")
        assert page.locator("#runs tbody tr").count() == 5
        assert page.locator("#groups tbody tr").count() == 1
        page.screenshot(path=str(ARTIFACTS / "dashboard_index.png"))
    finally:
        page.close()
    assert watcher.problems == []
