"""``greenai runs`` and ``greenai runs show``: what the store holds, as a table or JSON."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from greenai.cli.main import main
from greenai.meter.types import PhaseResult
from greenai.storage import RunStore, open_store


def _result(acc: float, kwh: float, co2: float) -> dict:
    return {
        "metrics": {"test_accuracy_pct": acc},
        "energy": {"step": {"energy_kwh": kwh, "co2_kg": co2}},
    }


@pytest.fixture
def filled(tmp_path: Path) -> tuple[str, RunStore]:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store = open_store(url, default_dir=tmp_path)
    store.create_run(
        "base-1", variant="baseline", model="seed_cnn", device="cpu", group="s1", started_at=1.0
    )
    store.add_phase(
        PhaseResult("base-1", "train", "train", 1.0, 700.0, {"cpu": 3.6e4, "ram": 3.6e3}, 0.004)
    )
    store.add_epoch("base-1", 0, {"train_loss": 1.5, "test_acc": 50.0})
    store.finish_run("base-1", "done", result=_result(78.1, 0.0123, 0.0047))
    store.create_run(
        "prune-1",
        variant="pruned_structured",
        model="seed_cnn",
        device="cpu",
        group="s1",
        parent_run_id="base-1",
        started_at=2.0,
    )
    store.finish_run("prune-1", "failed", error="boom")
    store.create_run(
        "other-1", variant="distilled", model="tiny", device="cuda", group="s2", started_at=3.0
    )
    yield url, store
    store.close()


def test_list_prints_every_run_with_its_figures(filled, capsys) -> None:
    url, _ = filled
    assert main(["runs", "--store", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["run", "id"] and set(lines[1]) <= {"-", " "}
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["base-1"] == [
        "base-1",
        "baseline",
        "seed_cnn",
        "cpu",
        "done",
        "78.10",
        "0.0123",
        "0.0047",
        "-",
        f"{socket.gethostname()}:{os.getpid()}",  # the worker: the process that recorded it
    ]
    assert rows["prune-1"][4] == "failed" and rows["prune-1"][-2] == "base-1"
    assert rows["other-1"][3] == "cuda"
    # aligned: every column starts at the same offset on every line
    starts = {line.index("cpu") for line in lines[2:] if " cpu " in line}
    assert len(starts) == 1


def test_list_json_equals_the_stored_records(filled, capsys) -> None:
    url, store = filled
    assert main(["runs", "--store", url, "--group", "s1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == [r.to_dict() for r in store.list_runs(group="s1")]
    assert [r["run_id"] for r in printed] == ["base-1", "prune-1"]


def test_store_comes_from_the_environment(filled, capsys, monkeypatch) -> None:
    url, _ = filled
    monkeypatch.setenv("GREENAI_STORE", url)
    assert main(["runs", "--variant", "distilled"]) == 0
    out = capsys.readouterr().out
    assert "other-1" in out and "base-1" not in out


def test_show_prints_the_run_its_phases_and_lineage(filled, capsys) -> None:
    url, _ = filled
    assert main(["runs", "show", "prune-1", "--store", url]) == 0
    out = capsys.readouterr().out
    assert "status:" in out and "failed" in out and "boom" in out
    assert "lineage: prune-1 (pruned_structured) <- base-1 (baseline)" in out
    assert main(["runs", "--store", url, "show", "base-1"]) == 0  # --store before "show" works too
    out = capsys.readouterr().out
    phase_line = next(line for line in out.splitlines() if line.strip().startswith("train "))
    assert phase_line.split() == ["train", "700.0", "0.011", "0.004"]  # (3.6e4 + 3.6e3) J in kWh
    assert "epochs: 1" in out


def test_show_json_has_phases_epochs_and_lineage(filled, capsys) -> None:
    url, store = filled
    assert main(["runs", "show", "prune-1", "--store", url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["lineage"] == ["prune-1", "base-1"]
    assert doc["status"] == "failed" and doc["phases"] == [] and doc["sample_count"] == 0
    assert main(["runs", "show", "base-1", "--store", url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["phases"][0]["energy_kwh"] == pytest.approx(store.phases("base-1")[0].energy_kwh)
    assert doc["epochs"][0]["metrics"] == {"train_loss": 1.5, "test_acc": 50.0}


def test_unknown_id_exits_2_with_one_line(filled, capsys) -> None:
    url, _ = filled
    assert main(["runs", "show", "nope", "--store", url]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"greenai: error: no run 'nope' in the store {url}"


def test_empty_store_says_so_and_exits_0(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(url, default_dir=tmp_path).close()
    assert main(["runs", "--store", url]) == 0
    assert capsys.readouterr().out.strip() == f"no runs in the store {url}"
    assert main(["runs", "--store", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_missing_store_exits_2_and_creates_nothing(tmp_path: Path, capsys) -> None:
    assert main(["runs", "--store", str(tmp_path / "absent.db")]) == 2
    assert "no run store at" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_unreachable_store_is_one_line_without_traceback() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "greenai",
            "runs",
            "--store",
            f"postgresql://x:pw@127.0.0.1:{port}/db",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("greenai: error: cannot reach the run store")
    assert (
        proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr and "pw" not in proc.stderr
    )


def test_runs_module_imports_no_sqlalchemy() -> None:
    code = (
        "import sys, greenai.cli.runs; print('sqlalchemy' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
