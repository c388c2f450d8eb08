"""``greenai report`` end to end: from result files and from a real run store."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from report_data import study_results

from greenai.cli.main import main
from greenai.meter.types import PhaseResult, Sample


def _fill_store(url: str) -> None:
    """Record the study's runs in a real SQLite store, as the trainer would, plus a failed one."""
    from greenai.storage import open_store

    with open_store(url) as store:
        for result in study_results():
            rid = result["run_id"]
            store.create_run(
                rid,
                variant=result["variant"],
                model="seed_cnn",
                dataset="cifar10",
                device="cpu",
                parent_run_id=result["parent_run_id"],
                group="g1",
                started_at=1000.0,
            )
            if result["variant"] == "baseline":
                for e in (1, 2, 3):
                    store.add_epoch(rid, e, {"train_loss": 2.0 / e, "test_acc": 40.0 + 10 * e})
                for i in range(10):
                    p = 30.0 if i >= 3 else 10.0
                    store.add_sample(
                        Sample(rid, 1000.0 + i, float(i), "train", {"cpu": p, "ram": 2.0},
                               {"cpu": 30.0 * i, "ram": 2.0 * i}, 1e-6 * i)
                    )  # fmt: skip
                store.add_phase(PhaseResult(rid, "data", "data", 1000.0, 3.0, {"cpu": 30.0}, 1e-6))
                store.add_phase(
                    PhaseResult(rid, "train", "train", 1003.0, 6.0, {"cpu": 180.0}, 1e-5)
                )
            store.finish_run(rid, status="done", result=result)
        store.create_run(
            "20261125-044000-eeeeee", variant="quantized_qat", device="cpu", group="g1"
        )
        store.finish_run("20261125-044000-eeeeee", status="failed", error="RuntimeError: boom")
        store.create_run("20261125-045000-ffffff", variant="baseline", device="cpu", group="other")
        store.finish_run("20261125-045000-ffffff", status="failed", error="x")


def test_report_from_results_dir(results_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    code = main(
        ["report", "--results-dir", str(results_dir), "--out", str(out), "--inferences", "1e6"]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert re.search(r"Pruned \(unstructured\)  CPU     77.00%    0.00100   n/a +80.00%", text)
    assert "At 1,000,000 inferences the lowest lifecycle CO2 is Quantized (PTQ INT8)" in text
    for name in ("study_report.md", "report.html", "comparison_chart.png", "pareto_chart.png"):
        assert (out / name).is_file(), name


def test_report_from_store_matches_stored_runs(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _fill_store(url)
    out = tmp_path / "rep"
    assert main(["report", "--store", url, "--group", "g1", "--out", str(out)]) == 0
    md = (out / "study_report.md").read_text(encoding="utf-8")
    assert "| Baseline | CPU | 78.10% | 0.00500 | n/a | — (reference) | 2.37 MiB | 15,620 |" in md
    assert (
        "| Quantized (PTQ INT8) | CPU | 77.90% | 1.00e-05 | n/a | 99.80% | 0.61 MiB | 7,790,000 |"
        in md
    )
    assert "| Quantized (QAT INT8) | CPU | FAILED | RuntimeError: boom |" in md
    assert "20261125-045000-ffffff" not in md  # another group
    assert (out / "power_20261125-040000-aaaaaa.png").is_file()
    assert (out / "epoch_curves.png").is_file()


def test_report_selected_runs_from_store(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _fill_store(url)
    ids = ["20261125-040000-aaaaaa", "20261125-042000-cccccc"]
    assert main(["report", "--store", url, "--runs", *ids, "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "study_report.md").read_text(encoding="utf-8")
    assert "| Quantized (PTQ INT8) |" in md and "Distilled" not in md


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--store", "{tmp}/missing.db"], "no run store at"),
        (["--store", "{tmp}/empty.db"], "no runs in the store"),
        (["--results-dir", "{tmp}/nothing"], "results folder not found"),
        (["--results-dir", "{tmp}/emptydir"], "no result JSON files in"),
        (["--results-dir", "{tmp}/bad"], "not a readable result JSON"),
        (["--results-dir", "{tmp}/newer"], "newer than this greenai reads"),
        (["--store", "{tmp}/empty.db", "--runs", "nope-1"], "no run 'nope-1'"),
        (["--results-dir", "{tmp}/emptydir", "--inferences", "-5"], "--inferences"),
        (["--store", "{tmp}/empty.db", "--group", "g", "--runs", "x"], "give one of them"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys, argv, message):
    from greenai.storage import open_store

    open_store(str(tmp_path / "empty.db")).close()
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "cifar10_baseline_20261125-040000-abcdef.json").write_text(
        "{not json", encoding="utf-8"
    )
    (tmp_path / "newer").mkdir()
    (tmp_path / "newer" / "cifar10_baseline_y.json").write_text(
        '{"schema_version": 99}', encoding="utf-8"
    )
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) if "-5" in argv else contextlib.nullcontext():
        code = main(["report", "--out", str(tmp_path / "o"), *argv])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0
    assert not (tmp_path / "o").exists()


def test_no_traceback_from_the_command(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "greenai", "report", "--results-dir", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("greenai: error: results folder not found")


def test_reports_and_study_import_no_torch_or_matplotlib():
    code = (
        "import sys, greenai.reports.build, greenai.reports.sources, greenai.study.pipeline, "
        "greenai.cli.report, greenai.cli.study; "
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
