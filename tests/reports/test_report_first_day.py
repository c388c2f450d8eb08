"""Reports that do not clobber one another and say what they show: a folder holding another
report is refused without --force, repeated row names carry model and run id, a break-even over
unsure timings is not judged, and power charts of estimated figures say so."""

from __future__ import annotations

import pytest
from report_data import BASE_ID, make_result, study_results

from greenai.errors import UsageError
from greenai.reports import chartdata
from greenai.reports.build import MARKDOWN_NAME, write_report
from greenai.reports.cells import break_even
from greenai.reports.inputs import PowerTrace, RunInput
from greenai.reports.names import distinguish
from greenai.reports.rows import build_rows
from greenai.results.lineage import break_even as lineage_break_even


def _runs() -> list[RunInput]:
    return [RunInput.from_result(r) for r in study_results()]


def test_another_report_in_the_folder_is_refused_and_left_intact(tmp_path):
    write_report(_runs(), tmp_path, source="study 'a' in /x")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(UsageError, match=r"already holds the report of study 'a'.*--force"):
        write_report(_runs()[:1], tmp_path, source="the store sqlite:///greenai.db")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    write_report(_runs(), tmp_path, source="study 'a' in /x")  # the same report again: fine
    write_report(_runs()[:1], tmp_path, source="the store sqlite:///greenai.db", force=True)
    assert "Pruned" not in (tmp_path / MARKDOWN_NAME).read_text(encoding="utf-8")


def test_a_report_of_unknown_origin_is_refused(tmp_path):
    (tmp_path / MARKDOWN_NAME).write_text("# someone's report\n", encoding="utf-8")
    with pytest.raises(UsageError, match="unknown runs"):
        write_report(_runs(), tmp_path, source="study 'a' in /x")


def test_two_baselines_carry_model_and_run_id_and_the_rest_stay_short():
    other = make_result("baseline", "20261126-000000-eeeeee", acc=80.0, co2_step=0.004,
                        co2_life=0.004, j_per_1000=30.0)  # fmt: skip
    other["model"] = "airbench"
    runs = [*_runs(), RunInput.from_result(other)]
    names = {r.run_id: r.model_type for r in distinguish(build_rows(runs), runs)}
    assert names[BASE_ID] == f"Baseline (seed_cnn, run {BASE_ID})"
    assert names["20261126-000000-eeeeee"] == "Baseline (airbench, run 20261126-000000-eeeeee)"
    assert names["20261125-042000-cccccc"] == "Quantized (PTQ INT8)"


def test_break_even_over_unsure_timings_is_not_judged():
    base, pruned = study_results()[0], study_results()[1]
    pruned["inference"]["timing_doubt"] = "busy machine: load average 7.96 on 2 CPUs"
    pruned["inference"]["energy_j_per_1000_images"] = 40.0  # would read "never"
    verdict = lineage_break_even(pruned, base)
    assert verdict["inferences"] is None and not verdict["never"] and verdict["unsure"]
    assert "busy machine" in verdict["explanation"]
    pruned["break_even"] = verdict
    (row,) = [r for r in build_rows([RunInput.from_result(x) for x in (base, pruned)])
              if r.variant != "baseline"]  # fmt: skip
    assert break_even(row) == "not judged (timing unsure)"


def test_a_wide_latency_spread_alone_does_not_stop_the_break_even():
    """The break-even rests on the batch-256 energy: a batch-1 latency spread (sub-millisecond
    calls spread wide even on an idle machine) is recorded but does not make it "not judged"."""
    from greenai.ml.evaluation.evaluate import energy_doubt, timing_doubt

    base, pruned = study_results()[0], study_results()[1]
    figures = {"latency_iqr_pct": 83.0, "throughput_iqr_pct": 9.0}
    pruned["inference"].update(
        timing_doubt=timing_doubt(figures), energy_doubt=energy_doubt(figures)
    )
    assert pruned["inference"]["timing_doubt"] == "latency spread 83% of the median (IQR)"
    verdict = lineage_break_even(pruned, base)
    assert not verdict.get("unsure") and verdict["inferences"] == 400_001  # 7,200 J / 18 mJ saved
    busy = "busy machine: load average 7.96 on 2 CPUs"
    pruned["inference"]["energy_doubt"] = energy_doubt(figures, busy)
    assert lineage_break_even(pruned, base)["unsure"]


def test_power_chart_of_estimated_figures_says_estimated():
    result = study_results()[0]
    trace = PowerTrace((0.0, 1.0, 2.0), {"cpu": (20.0, 21.0, 22.0), "gpu": (0.0, 0.0, 0.0)})
    data = chartdata.power(RunInput.from_result(result, power=trace))
    assert data.title.endswith("\nESTIMATED, not measured (CPU: cpu-time x TDP)")
    assert list(data.power_w) == ["cpu"]  # no GPU line on a machine without one
    result["energy"]["step"]["methods"]["cpu"] = "measured: RAPL package"
    data = chartdata.power(RunInput.from_result(result, power=trace))
    assert "ESTIMATED" not in data.title


def test_cli_report_refuses_a_folder_holding_a_studys_report_then_force_replaces_it(
    tmp_path, capsys
):
    from report_data import write_results

    from greenai.cli.main import main

    results = write_results(tmp_path / "r", study_results())
    out = tmp_path / "out"
    write_report(_runs(), out, source="study 'study' in /somewhere")
    before = (out / MARKDOWN_NAME).read_bytes()
    code = main(["report", "--results-dir", str(results), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--force" in err, err
    assert (out / MARKDOWN_NAME).read_bytes() == before
    assert main(["report", "--results-dir", str(results), "--out", str(out), "--force"]) == 0
    assert "result files in" in (out / MARKDOWN_NAME).read_text(encoding="utf-8")
