"""``--inferences N``: lifecycle CO2 + N inferences, and the right winner at each volume.

Grid 500 g/kWh, PUE 1: one inference at E J per 1,000 images costs E/1000 * 500 / 3.6e9 kg.
Baseline: 0.005 kg + N * 5e-9 kg; PTQ: 0.00501 kg + N * 1e-9 kg  -> they cross at N = 2,500.
Pruned: 0.006 + N * 2.5e-9; distilled: 0.008 + N * 1.25e-9.
"""

from __future__ import annotations

import pytest
from report_data import study_results

from greenai.errors import UsageError
from greenai.reports.inputs import RunInput
from greenai.reports.rows import build_rows
from greenai.reports.scenario import scenario
from greenai.reports.table import scenario_table


def _rows():
    return build_rows(RunInput.from_result(r) for r in study_results())


@pytest.mark.parametrize(
    ("inferences", "winner"),
    [(0, "baseline"), (1_000, "baseline"), (10_000, "quantized_ptq"), (10**9, "quantized_ptq")],
)
def test_winner_depends_on_volume(inferences, winner):
    assert scenario(_rows(), inferences).winner.row.variant == winner


def test_totals_hand_computed():
    sc = scenario(_rows(), 1_000_000)
    totals = {ln.row.variant: ln.total_co2_kg for ln in sc.lines}
    assert totals["baseline"] == pytest.approx(0.005 + 0.005)
    assert totals["quantized_ptq"] == pytest.approx(0.00501 + 0.001)
    assert totals["pruned_unstructured"] == pytest.approx(0.006 + 0.0025)
    assert totals["distilled"] == pytest.approx(0.008 + 0.00125)
    assert sc.lines[0].row.variant == "quantized_ptq"


def test_table_names_the_winner():
    table = scenario_table(scenario(_rows(), 1_000_000))
    assert table.cells[0][0] == "Quantized (PTQ INT8) ← lowest CO2"
    assert "At 1,000,000 inferences the lowest lifecycle CO2 is Quantized (PTQ INT8)" in table.note


def test_rows_without_inference_figures_are_named():
    results = study_results()
    results[3]["inference"]["energy_j_per_1000_images"] = None
    sc = scenario(build_rows(RunInput.from_result(r) for r in results), 10)
    assert [r.variant for r in sc.missing] == ["distilled"]
    assert "Without inference figures: Distilled [CPU]" in scenario_table(sc).note


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_volume_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="--inferences"):
        scenario(_rows(), bad)


def test_agrees_with_lineage_reductions():
    """The scenario's totals are the same sums ``experiments.lineage.reductions`` makes."""
    lineage = pytest.importorskip("greenai.results.lineage")
    results = {r["run_id"]: r for r in study_results()}
    base = results["20261125-040000-aaaaaa"]
    ptq = results["20261125-042000-cccccc"]
    base["carbon"]["pue"] = ptq["carbon"]["pue"] = 1.5  # inference J already include PUE
    # lineage recomputes lifecycles from step figures: make them consistent with the files
    ptq["energy"]["lifecycle"]["co2_kg"] = 0.005 + 0.00001
    n = 1_000_000
    red = lineage.reductions(ptq, base, lineage.resolver_from_results(results), inferences=n)
    lines = {
        ln.row.variant: ln
        for ln in scenario(build_rows(map(RunInput.from_result, results.values())), n).lines
    }
    ours = 100.0 * (1 - lines["quantized_ptq"].total_co2_kg / lines["baseline"].total_co2_kg)
    assert ours == pytest.approx(red["lifecycle_pct"])
