"""A small real ``greenai study`` on the synthetic data set, with every network socket blocked
(issue #9: no connection unless --download), then run again to check that it reuses its steps.
The baseline is trained by ``train_run`` and pruned by ``greenai prune``, in the same process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BLOCK_SOCKETS = """
import socket

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _guard(sock, address):
    if sock.family != socket.AF_UNIX:
        raise OSError(f"network blocked by the test: connect to {address!r}")


def connect(self, address):
    _guard(self, address)
    return _connect(self, address)


def connect_ex(self, address):
    _guard(self, address)
    return _connect_ex(self, address)


socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
"""

STUDY = [
    "study", "--dataset", "synthetic", "--epochs", "1", "--limit-train", "64", "--limit-test",
    "64", "--batch_size", "32", "--device", "cpu", "--no-progress", "--inferences", "1000",
    "--variants", "baseline", "pruned_unstructured",
]  # fmt: skip


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("offline")
    (site / "sitecustomize.py").write_text(BLOCK_SOCKETS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("GREENAI_STORE", "GREENAI_DATA_DIR")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MPLBACKEND"] = "Agg"
    env["GREENAI_INTERVAL"] = "0.05"  # a sub-second study still has a power series to chart
    return env


def _greenai(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "greenai", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_block_is_active(offline_env: dict[str, str], tmp_path: Path):
    code = "import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=offline_env, capture_output=True, text=True
    )
    assert "network blocked by the test" in proc.stderr


def test_small_study_offline_then_reused(offline_env: dict[str, str], tmp_path: Path):
    first = _greenai([*STUDY, "--out", str(tmp_path)], tmp_path, offline_env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "network blocked" not in first.stderr

    results = tmp_path / "results"
    (result_file,) = results.glob("synthetic_baseline_*.json")
    result = json.loads(result_file.read_text(encoding="utf-8"))
    (pruned_file,) = results.glob("synthetic_pruned_unstructured_*.json")
    pruned = json.loads(pruned_file.read_text(encoding="utf-8"))
    assert pruned["parent_run_id"] == result["run_id"]
    md = (results / "study_report.md").read_text(encoding="utf-8")
    acc = result["metrics"]["test_accuracy_pct"]
    assert f"| Baseline | CPU | {acc:.2f}% |" in md
    assert f"| Pruned (unstructured) | CPU | {pruned['metrics']['test_accuracy_pct']:.2f}% |" in md
    assert "## Deployment scenario: 1,000 inferences" in md
    html = (results / "report.html").read_text(encoding="utf-8")
    assert "<td>Baseline</td>" in html and "https:" not in html
    for name in ("comparison_chart.png", "pareto_chart.png", "epoch_curves.png"):
        assert (results / name).stat().st_size > 1000
    assert list(results.glob("power_*.png"))
    state = json.loads((results / "study_state_study.json").read_text(encoding="utf-8"))
    assert state["steps"]["cpu/baseline"]["status"] == "done"
    assert state["steps"]["cpu/baseline"]["run_id"] == result["run_id"]
    assert state["steps"]["cpu/pruned_unstructured"]["run_id"] == pruned["run_id"]

    second = _greenai([*STUDY, "--out", str(tmp_path)], tmp_path, offline_env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"cpu/baseline: reusing run {result['run_id']}" in second.stderr
    assert f"cpu/pruned_unstructured: reusing run {pruned['run_id']}" in second.stderr
    assert sorted(results.glob("synthetic_*.json")) == sorted([result_file, pruned_file])
