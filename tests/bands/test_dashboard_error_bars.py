"""The dashboard's error bars and ± cells as a browser draws them (Debian's chromium, Playwright):
every banded figure gets its bar, a figure without a band gets none (not a zero-length bar that
would read as exact). Screenshot: .test-artifacts/dashboard_bands.png."""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="the dashboard extra (flask) is not installed")
pytest.importorskip("plotly", reason="the dashboard extra (plotly) is not installed")

from greenai.dashboard import create_app
from greenai.dashboard.server import LOOPBACK_NAMES, start_in_thread
from greenai.storage import open_store

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
ARTIFACTS = Path(__file__).resolve().parents[2] / ".test-artifacts"
METHOD = "estimated: CPU time × TDP per CPU (Xeon 4 W per busy CPU)"
CARBON = {"intensity_g_per_kwh": 100.0, "intensity_g_per_kwh_low": 80.0,
          "intensity_g_per_kwh_high": 120.0, "intensity_source": "test grid", "pue": 1.0}  # fmt: skip


def _result(run_id, variant, acc, co2, band, parent=None):
    """A result as the meter writes it: 10 kWh per kg at 100 g/kWh, estimated (±40 %), ±20 % grid."""
    step = {"energy_kwh": co2 * 10, "co2_kg": co2, "methods": {"cpu": METHOD},
            "by_component_kwh": {"cpu": co2 * 10, "gpu": 0.0, "ram": 0.0}}  # fmt: skip
    if band:
        step.update(co2_kg_low=co2 * 0.48, co2_kg_high=co2 * 1.68)
    life = {k: v for k, v in step.items() if k.startswith("co2_kg")}
    if parent is not None:  # the baseline's lifecycle (0.1 kg, 0.048 .. 0.168) under it
        life = {k: v + {"co2_kg": 0.1, "co2_kg_low": 0.048, "co2_kg_high": 0.168}[k]
                for k, v in life.items()}  # fmt: skip
    return {
        "schema_version": 1, "run_id": run_id, "variant": variant, "device": "cpu",
        "model": "seed_cnn", "parent_run_id": parent, "metrics": {"test_accuracy_pct": acc},
        "energy": {"step": step, "lifecycle": life}, "carbon": CARBON,
    }  # fmt: skip


RUNS = (  # run id, variant, accuracy, step CO2 (kg), banded
    ("b", "baseline", 78.0, 0.1, True),
    ("p", "pruned_unstructured", 77.0, 0.09, True),
    ("q", "quantized_dynamic", 77.5, 0.02, True),
    ("o", "distilled", 76.0, 0.05, False),  # a result from before bands
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    store = open_store(f"sqlite:///{tmp_path / 'greenai.db'}", default_dir=tmp_path)
    for run_id, variant, acc, co2, band in RUNS:
        parent = None if run_id == "b" else "b"
        store.create_run(run_id, name=variant, variant=variant, device="cpu", group="g",
                         parent_run_id=parent)  # fmt: skip
        store.finish_run(run_id, status="done",
                         result=_result(run_id, variant, acc, co2, band, parent))  # fmt: skip
    httpd, url = start_in_thread(create_app(store, trusted_hosts=LOOPBACK_NAMES), "127.0.0.1", 0)
    yield url.rstrip("/")
    httpd.shutdown()
    httpd.server_close()
    store.close()


@pytest.fixture
def page() -> Iterator:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (scripts/system-deps.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with tempfile.TemporaryDirectory(prefix="greenai-chromium-") as profile, \
            sync_api.sync_playwright() as p:  # fmt: skip
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
            viewport={"width": 1360, "height": 900},
        )  # fmt: skip
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield page
        context.close()
        assert errors == []


def test_error_bars_and_plus_minus_cells_render(server, page):
    page.goto(f"{server}/study?group=g")
    page.wait_for_function("() => (document.getElementById('chart-pareto').data || []).length")
    step = page.evaluate("() => document.getElementById('chart-comparison').data[0].error_y")
    # baseline, pruned, quantized: +68 % / -52 % of the figure; distilled: no band, no bar
    assert step["array"][:3] == pytest.approx([0.068, 0.0612, 0.0136])
    assert step["arrayminus"][:3] == pytest.approx([0.052, 0.0468, 0.0104])
    assert math.isnan(step["array"][3]) and math.isnan(step["arrayminus"][3])
    # drawn: one bar per banded figure, with a length (step and lifecycle bars, Pareto points)
    paths = page.evaluate(
        "() => [...document.querySelectorAll('#chart-comparison g.errorbar path')]"
        ".map((p) => p.getBBox().height)"
    )
    assert len(paths) == 6 and all(h > 2 for h in paths)
    pareto = page.locator("#chart-pareto g.errorbar path").count()
    assert pareto == 3
    cells = page.locator("table[data-title='Study table (step CO2)'] tbody tr").all_inner_texts()
    rows = {c.split("\t")[0]: c.split("\t") for c in cells}
    assert rows["Baseline"][4] == "-0.0520/+0.0680" and rows["Distilled"][4] == "n/a"
    assert rows["Pruned (unstructured)"][5] == "10.00%"  # the same method: distinguishable
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_bands.png"), full_page=True)

    page.goto(f"{server}/runs/p")
    assert page.locator("#v-co2-band").inner_text() == "band 0.0432–0.151 kg"
