"""The table's numbers are the results' numbers; reductions and efficiency are computed right."""

from __future__ import annotations

import pytest
from report_data import BASE_ID, make_result, study_results

from greenai.reports.cells import sig
from greenai.reports.inputs import RunInput
from greenai.reports.rows import build_rows
from greenai.reports.sources import from_results_dir
from greenai.reports.table import study_table, tables
from greenai.reports.tabletext import markdown, terminal


def _rows():
    return build_rows(RunInput.from_result(r) for r in study_results())


def _by_variant(rows):
    return {r.variant: r for r in rows}


def test_rows_carry_the_results_figures_unchanged(results_dir):
    rows = _by_variant(build_rows(from_results_dir(results_dir)))
    for result in study_results():
        row = rows[result["variant"]]
        assert row.accuracy_pct == result["metrics"]["test_accuracy_pct"]
        assert row.co2_step_kg == result["energy"]["step"]["co2_kg"]
        assert row.co2_lifecycle_kg == result["energy"]["lifecycle"]["co2_kg"]
        assert row.energy_step_kwh == result["energy"]["step"]["energy_kwh"]
        assert row.size_mib == result["metrics"]["file_size_mib"]
        assert row.inference_j_per_1000 == result["inference"]["energy_j_per_1000_images"]


def test_reductions_and_efficiency_hand_computed():
    rows = _by_variant(_rows())
    pruned, ptq, base = rows["pruned_unstructured"], rows["quantized_ptq"], rows["baseline"]
    # step: (0.005 - 0.001) / 0.005 = 80 %; lifecycle: (0.005 - 0.006) / 0.005 = -20 %
    assert pruned.reduction_step_pct == pytest.approx(80.0)
    assert pruned.reduction_lifecycle_pct == pytest.approx(-20.0)
    # PTQ step: (0.005 - 0.00001) / 0.005 = 99.8 %; lifecycle (0.005 - 0.00501) / 0.005 = -0.2 %
    assert ptq.reduction_step_pct == pytest.approx(99.8)
    assert ptq.reduction_lifecycle_pct == pytest.approx(-0.2)
    # efficiency: accuracy points per kg CO2
    assert base.efficiency_step == pytest.approx(78.1 / 0.005)  # 15,620
    assert pruned.efficiency_step == pytest.approx(77000.0)
    assert pruned.efficiency_lifecycle == pytest.approx(77.0 / 0.006)
    assert base.reduction_step_pct == pytest.approx(0.0)
    assert all(r.baseline_run_id == BASE_ID for r in rows.values())


def test_study_table_cells():
    cells = {c[0]: c for c in study_table(_rows()).cells}
    assert cells["Baseline"] == (
        "Baseline",
        "CPU",
        "78.10%",
        "0.00500",
        "n/a",  # no band in these older results
        "— (reference)",
        "2.37 MiB",
        "15,620",
    )
    assert cells["Pruned (unstructured)"][2:6] == ("77.00%", "0.00100", "n/a", "80.00%")
    assert cells["Quantized (PTQ INT8)"][3:7] == ("1.00e-05", "n/a", "99.80%", "0.61 MiB")


def test_lifecycle_columns_show_break_even_and_methods():
    tabs = tables(_rows())
    life = {c[0]: c for c in tabs[1].cells}
    assert life["Pruned (unstructured)"][4:8] == ("0.00600", "n/a", "n/a", "-20.00%")
    assert life["Pruned (unstructured)"][10] == "never"
    assert life["Quantized (PTQ INT8)"][10] == "2,500"
    assert life["Baseline"][10] == "—"
    assert life["Baseline"][11] == "cpu: estimated: cpu-time x TDP; ram: estimated: 0.375 W/GiB"
    assert life["Baseline"][9] == "36.0"


def test_markdown_and_terminal_render_every_row():
    rows = _rows()
    md = markdown(tables(rows), title="t")
    text = terminal(tables(rows))
    for name in ("Baseline", "Pruned (unstructured)", "Quantized (PTQ INT8)", "Distilled"):
        assert f"| {name} | CPU |" in md
        assert name in text
    assert (
        "| Model Type | Device | Accuracy | CO2 (kg) | ± CO2 (kg) | Reduction | Model Size |" in md
    )


def test_failed_step_is_reported_not_dropped():
    runs = [RunInput.from_result(r) for r in study_results()]
    runs.append(
        RunInput("qat-1", "quantized_qat", "cpu", "failed", error="RuntimeError: out of memory")
    )
    md = markdown(tables(build_rows(runs)))
    assert "## Failed or missing steps" in md
    assert "| Quantized (QAT INT8) | CPU | FAILED | RuntimeError: out of memory | qat-1 |" in md


def test_a_variant_without_its_parent_compares_with_the_same_devices_baseline():
    gpu_base = make_result(
        "baseline", "g0", acc=80.0, co2_step=0.01, co2_life=0.01, j_per_1000=5.0, device="cuda"
    )
    gpu_pruned = make_result(
        "pruned_structured",
        "g1",
        acc=79.0,
        co2_step=0.002,
        co2_life=0.012,
        j_per_1000=3.0,
        parent="not-in-this-report",
        device="cuda",
    )
    runs = [RunInput.from_result(r) for r in [*study_results(), gpu_base, gpu_pruned]]
    row = _by_variant(build_rows(runs))["pruned_structured"]
    assert row.device == "GPU" and row.baseline_run_id == "g0"
    assert row.reduction_step_pct == pytest.approx(80.0)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0047, "0.00470"), (15620.0, "15,620"), (7.79e6, "7.79e+06"), (0, "0"), (None, "n/a")],
)
def test_sig(value, text):
    assert sig(value) == text


def test_a_cpu_variant_of_a_gpu_baseline_says_so_and_sits_with_it():
    gpu_base = make_result(
        "baseline", "g0", acc=80.0, co2_step=0.01, co2_life=0.01, j_per_1000=5.0, device="cuda"
    )
    int8 = make_result(
        "quantized_ptq", "g1", acc=79.5, co2_step=1e-5, co2_life=0.01001, j_per_1000=1.0,
        parent="g0", device="cpu",
    )  # fmt: skip
    rows = build_rows(RunInput.from_result(r) for r in [int8, *study_results(), gpu_base])
    assert [(r.variant, r.device) for r in rows][-2:] == [
        ("baseline", "GPU"),
        ("quantized_ptq", "CPU (from GPU baseline)"),
    ]
    assert rows[-1].reduction_step_pct == pytest.approx(99.9)


def test_a_long_multiline_error_is_one_short_line():
    error = "UnsupportedOperatorException: " + "x" * 300 + "\nWhile executing ...\nmore"
    runs = [RunInput("q", "quantized_ptq", "cpu", "failed", error=error)]
    (cells,) = tables(build_rows(runs))[-1].cells
    assert cells[3].startswith("UnsupportedOperatorException: xxx") and len(cells[3]) == 160
    assert "While executing" not in cells[3]
