"""The report's "variant × runtime" table and chart, from inference sections measured by the real
runtime layer (``lifecycle.inference.inference_figures``: PyTorch eager and ONNX Runtime, OpenVINO
made to look uninstalled), and the main table naming the runtime its figures come from."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from report_data import BASE_ID, study_results

from greenai.reports.build import write_report
from greenai.reports.cells import pct, sig
from greenai.reports.inputs import RunInput
from greenai.reports.names import distinguish
from greenai.reports.rows import build_rows
from greenai.reports.runtimes import (
    CHART_NAME,
    CHART_SIZE,
    TITLE,
    runtime_data,
    runtime_table,
    with_runtimes,
)
from greenai.reports.table import LIFECYCLE_HEADERS, tables

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
PRUNED_ID = "20261125-041000-bbbbbb"


def _measure(channels: int, seed: int) -> dict[str, Any]:
    from torch import nn

    from greenai.lifecycle.inference import inference_figures
    from greenai.ml.runtimes.measure import RuntimeSource

    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(channels, 3),
    ).eval()  # fmt: skip
    x, y = torch.randn(64, 3, 8, 8), torch.randint(0, 3, (64,))
    return inference_figures(
        net, "FP32 eager", x[:8], source=RuntimeSource(net), x_test=x, y_test=y, n_images=256
    )


@pytest.fixture(scope="module")
def measured() -> dict[str, dict[str, Any]]:
    """Inference sections of two variants, each measured on the runtimes asked for."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GREENAI_RUNTIMES", "pytorch_eager,onnxruntime,openvino")
        mp.delenv("GREENAI_RUNTIME", raising=False)
        mp.setitem(sys.modules, "openvino", None)  # as if the package were not installed
        return {BASE_ID: _measure(8, 0), PRUNED_ID: _measure(4, 1)}


def _results(measured: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The small study of ``report_data`` with the baseline and the pruned model measured on the
    runtimes; PTQ and distilled keep their older sections (no ``runtimes``)."""
    results = study_results()
    for r in results:
        if r["run_id"] in measured:
            r["inference"] = measured[r["run_id"]]
    return results


def _runs_rows(results: list[dict[str, Any]]) -> tuple[list[RunInput], list[Any]]:
    runs = [RunInput.from_result(r) for r in results]
    return runs, distinguish(build_rows(runs), runs)


def test_one_row_per_measured_variant_one_column_per_runtime(measured) -> None:
    table = runtime_table(runtime_data(*_runs_rows(_results(measured))))
    assert table.headers == (
        "Model Type", "Device", "PyTorch eager", "ONNX Runtime", "openvino", "Chosen runtime (why)",
    )  # fmt: skip
    assert [c[:2] for c in table.cells] == [("Baseline", "CPU"), ("Pruned (unstructured)", "CPU")]
    for line, rid in zip(table.cells, (BASE_ID, PRUNED_ID), strict=True):
        inf = measured[rid]
        for col, name in ((2, "pytorch_eager"), (3, "onnxruntime")):
            fig = inf["runtimes"][name]
            assert line[col].startswith(f"{sig(fig['throughput_img_s_b256'])} img/s")
            assert f"{sig(fig['latency_ms_b1'])} ms" in line[col]
            assert f"{sig(fig['energy_j_per_1000_images'])} J" in line[col]
            assert pct(fig["test_accuracy_pct"]) in line[col]
            assert ("(chosen)" in line[col]) == (name == inf["runtime"])
        label = inf["runtimes"][inf["runtime"]]["label"]
        assert line[-1] == f"{label}: {inf['runtime_choice']}"


def test_the_fastest_overall_is_starred_once(measured) -> None:
    table = runtime_table(runtime_data(*_runs_rows(_results(measured))))
    best = max(
        (fig["throughput_img_s_b256"], row, col)
        for row, rid in enumerate((BASE_ID, PRUNED_ID))
        for col, fig in ((2, measured[rid]["runtimes"]["pytorch_eager"]),
                         (3, measured[rid]["runtimes"]["onnxruntime"]))
    )  # fmt: skip
    starred = [(i, j) for i, line in enumerate(table.cells) for j, c in enumerate(line) if "★" in c]
    assert starred == [best[1:]]


def test_a_runtime_that_could_not_run_is_a_dash_with_its_reason(measured) -> None:
    assert measured[BASE_ID]["runtimes_skipped"]["openvino"].startswith("openvino is not installed")
    table = runtime_table(runtime_data(*_runs_rows(_results(measured))))
    assert [line[4] for line in table.cells] == ["- [1]", "- [1]"]  # one reason, one footnote
    reason = measured[BASE_ID]["runtimes_skipped"]["openvino"]
    assert f"Not measured: [1] openvino: {reason}." in table.note


def test_main_table_names_the_runtime_of_its_figures(measured) -> None:
    runs, rows = _runs_rows(_results(measured))
    tabs = with_runtimes(tables(rows), runs, rows)
    assert [t.title for t in tabs][:3] == ["Study table (step CO2)", "Lifecycle (honest) columns",
                                          TITLE]  # fmt: skip
    life = {line[0]: line for line in tabs[1].cells}
    inf_col = LIFECYCLE_HEADERS.index("Inference (J / 1,000 img)")
    be_col = LIFECYCLE_HEADERS.index("Break-even (inferences)")
    label = {rid: m["runtimes"][m["runtime"]]["label"] for rid, m in measured.items()}
    base_j = measured[BASE_ID]["energy_j_per_1000_images"]
    assert life["Baseline"][inf_col] == f"{sig(base_j)} ({label[BASE_ID]})"
    assert (
        life["Pruned (unstructured)"][be_col] == f"never ({label[PRUNED_ID]} vs {label[BASE_ID]})"
    )
    # results without runtimes keep their cells
    assert life["Quantized (PTQ INT8)"][be_col] == "2,500"
    assert life["Distilled"][inf_col] == "9.00"
    assert "each variant on its chosen runtime" in tabs[1].note


def test_results_without_runtimes_render_as_before(tmp_path) -> None:
    runs, rows = _runs_rows(study_results())
    assert runtime_data(runs, rows) is None
    assert with_runtimes(tables(rows), runs, rows) == tables(rows)
    report = write_report(runs, tmp_path, source="old results")
    assert CHART_NAME not in {p.name for p in report.charts.values()}
    assert not (tmp_path / CHART_NAME).exists()
    assert TITLE not in report.markdown.read_text(encoding="utf-8")


def test_report_writes_the_table_and_the_chart(measured, tmp_path) -> None:
    imread = pytest.importorskip("matplotlib.image").imread
    runs, _ = _runs_rows(_results(measured))
    report = write_report(runs, tmp_path, source="measured results")
    md = report.markdown.read_text(encoding="utf-8")
    assert f"## {TITLE}" in md and "| Baseline | CPU |" in md
    page = report.html.read_text(encoding="utf-8")
    assert f"<h2>{TITLE}</h2>" in page
    assert page.count("src='data:image/png;base64,") == len(report.charts)
    assert TITLE in report.terminal_text
    img = imread(tmp_path / CHART_NAME)
    assert img.shape[:2] == (CHART_SIZE[1], CHART_SIZE[0])
    assert img.std() > 0.01
