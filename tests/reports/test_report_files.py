"""The written report: PNGs that decode at their documented size, Markdown, and a self-contained HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_data import study_results

from greenai.errors import UsageError
from greenai.reports import chartdata
from greenai.reports.build import write_report
from greenai.reports.charts import SIZES
from greenai.reports.inputs import EpochPoint, PhaseSpan, PowerTrace, RunInput
from greenai.reports.rows import build_rows
from greenai.reports.sources import from_results_dir

imread = pytest.importorskip("matplotlib.image").imread


def _power_trace() -> PowerTrace:
    t = tuple(float(i) for i in range(61))
    cpu = tuple(20.0 + (25.0 if 5 <= i < 50 else 0.0) for i in range(61))
    ram = tuple(3.0 for _ in range(61))
    phases = (
        PhaseSpan("setup", 0.0, 5.0),
        PhaseSpan("train", 5.0, 50.0),
        PhaseSpan("train/epoch", 5.0, 27.0),
        PhaseSpan("evaluate", 50.0, 60.0),
    )
    return PowerTrace(t, {"cpu": cpu, "gpu": tuple(0.0 for _ in t), "ram": ram}, phases)


def _runs() -> list[RunInput]:
    runs = []
    for r in study_results():
        kw = {}
        if r["variant"] == "baseline":
            kw["power"] = _power_trace()
            kw["epochs"] = tuple(
                EpochPoint(e, {"test_acc": 50.0 + 5 * e, "train_loss": 1.5 - 0.2 * e})
                for e in range(1, 6)
            )
        runs.append(RunInput.from_result(r, **kw))
    runs.append(RunInput("qat-9", "quantized_qat", "cpu", "failed", error="ValueError: <boom>"))
    return runs


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report(_runs(), out, inferences=1_000_000, source="test results")


def test_every_chart_decodes_at_its_size(report):
    names = {p.name: p for p in report.charts.values()}
    expected = {
        "comparison_chart.png": SIZES["comparison"],
        "pareto_chart.png": SIZES["pareto"],
        "epoch_curves.png": SIZES["epochs"],
        "power_20261125-040000-aaaaaa.png": SIZES["power"],
    }
    assert set(names) == set(expected)
    for name, (w, h) in expected.items():
        img = imread(names[name])
        assert img.shape[:2] == (h, w), name
        assert img.std() > 0.01, f"{name} is blank"


def test_html_is_self_contained_and_has_every_variant(report):
    page = report.html.read_text(encoding="utf-8")
    for name in ("Baseline", "Pruned (unstructured)", "Quantized (PTQ INT8)", "Distilled"):
        assert f"<td>{name}</td>" in page
    assert "<td>Quantized (QAT INT8)</td>" in page and "FAILED" in page
    assert "ValueError: &lt;boom&gt;" in page and "<boom>" not in page
    assert not re.search(r"(?i)(https?:|//[a-z0-9.-]+\.[a-z]{2,}/|<script|<link)", page)
    assert page.count("src='data:image/png;base64,") == len(report.charts)


def test_markdown_has_tables_scenario_and_missing_steps(report):
    md = report.markdown.read_text(encoding="utf-8")
    assert md.startswith("# greenai report\n")
    assert "## Study table (step CO2)" in md
    assert "## Lifecycle (honest) columns" in md
    assert "## Deployment scenario: 1,000,000 inferences" in md
    assert "| Quantized (QAT INT8) | CPU | FAILED |" in md
    assert "1 of 5 steps have no result" in md
    assert "estimated: cpu-time x TDP (Test CPU 65 W / 8 cores)" in md
    assert "Study table (step CO2)" in report.terminal_text


def test_pareto_front_hand_checked():
    data = chartdata.pareto(build_rows(RunInput.from_result(r) for r in study_results()))
    # (lifecycle CO2, accuracy): baseline (0.005, 78.1), PTQ (0.00501, 77.9), pruned (0.006, 77.0),
    # distilled (0.008, 70.0): baseline is cheaper AND more accurate than all the others.
    assert [data.labels[i] for i in data.front] == ["Baseline"]
    assert chartdata.pareto_front([(1, 50), (2, 60), (3, 55), (0.5, 40)]) == (3, 0, 1)


def test_power_data_keeps_top_level_phases_and_live_components():
    data = chartdata.power(RunInput("r", "baseline", "cpu", "done", power=_power_trace()))
    assert [p.path for p in data.phases] == ["setup", "train", "evaluate"]
    assert set(data.power_w) == {"cpu", "ram"}


def test_report_from_results_folder_reads_training_log(tmp_path: Path):
    from report_data import write_results

    results = study_results()
    log = tmp_path / "logs" / "training_log_base.csv"
    log.parent.mkdir()
    log.write_text("epoch,train_loss,test_acc\n1,1.4,45.0\n2,1.1,55.5\n", encoding="utf-8")
    results[0]["artifacts"]["training_log"] = "logs/training_log_base.csv"
    runs = from_results_dir(write_results(tmp_path / "results", results))
    base = next(r for r in runs if r.variant == "baseline")
    assert [(p.epoch, p.metrics["test_acc"]) for p in base.epochs] == [(1, 45.0), (2, 55.5)]


def test_empty_input_is_one_clear_error(tmp_path: Path):
    with pytest.raises(UsageError, match="no runs to report on"):
        write_report([], tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_phase_recorded_in_two_pieces_is_shaded_once():
    trace = _power_trace()
    pieces = (PhaseSpan("data", -0.2, 0.0), PhaseSpan("data", 0.04, 0.05), *trace.phases[1:])
    run = RunInput(
        "r", "baseline", "cpu", "done", power=PowerTrace(trace.elapsed_s, trace.power_w, pieces)
    )
    assert chartdata.power(run).phases[0] == PhaseSpan("data", -0.2, 0.05)


def test_other_json_beside_results_is_not_read_as_a_result(results_dir: Path):
    (results_dir / "study_state_study.json").write_text('{"version": 1}', encoding="utf-8")
    (results_dir / "search_x_summary.json").write_text("[1, 2]", encoding="utf-8")
    assert len(from_results_dir(results_dir)) == len(study_results())


def test_a_resumed_runs_samples_follow_each_other_with_a_gap():
    from greenai.meter.types import Sample
    from greenai.reports.sources import power_trace

    def sample(t: float, elapsed: float, w: float) -> Sample:
        return Sample("r", t, elapsed, "train", {"cpu": w}, {"cpu": 0.0}, 0.0)

    # first process started at t=100, killed after 3 s; the resumed one started at t=200
    samples = [sample(200.0 + i, float(i), 20.0) for i in (1, 2, 3)]
    samples += [sample(100.0 + i, float(i), 10.0) for i in (1, 2, 3)]
    trace = power_trace(samples, [])
    assert trace.elapsed_s == (1.0, 2.0, 3.0, 101.0, 102.0, 103.0)
    assert trace.power_w["cpu"] == (10.0, 10.0, 10.0, 20.0, 20.0, 20.0)
    data = chartdata.power(RunInput("r", "baseline", "cpu", "done", power=trace))
    cpu = data.power_w["cpu"]
    assert len(cpu) == 7 and cpu[3] != cpu[3]  # a NaN breaks the line between the processes
