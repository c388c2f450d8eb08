"""The store and an output folder's result files agree after a kill (issue #19): ``reconcile``,
the stale ``.tmp`` clean-up, taking over an interrupted run, and the energy of killed attempts.

A run's owner is a process; "a dead owner" is set by pointing the row's pid at a process that has
exited (the process-liveness boundary), the rest is the real store and real files."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from greenai.carbon import CarbonConfig
from greenai.lifecycle.reconcile import find_rerun, reconcile
from greenai.lifecycle.run import RunSpec
from greenai.meter.types import Sample
from greenai.results.resultfile import attempt_pieces, load_result, result_path, write_result
from greenai.storage import new_run_id, open_store, schema


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def store(out: Path) -> Any:
    with open_store(None, default_dir=out) as s:
        yield s


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _orphan(store: Any, run_id: str) -> None:
    """The run's process is gone (as after a SIGKILL)."""
    with store.engine.begin() as conn:
        conn.execute(
            schema.runs.update().where(schema.runs.c.run_id == run_id).values(pid=_dead_pid())
        )


def _result(run_id: str, variant: str = "pruned_unstructured", kwh: float = 0.5) -> dict:
    step = {"energy_kwh": kwh, "co2_kg": kwh / 2}
    return {
        "schema_version": 1, "run_id": run_id, "parent_run_id": None, "variant": variant,
        "dataset": "synthetic", "metrics": {"test_accuracy_pct": 50.0},
        "energy": {"step": step, "lifecycle": {**step, "ancestors": []}},
        "artifacts": {"model": f"models/{run_id}.pt"},
    }  # fmt: skip


def _finished(store: Any, out: Path, run_id: str, *, own_file: bool = True) -> dict:
    """A run stored "done" whose process was killed before it wrote its JSON."""
    store.create_run(run_id, variant="pruned_unstructured", dataset="synthetic")
    result = _result(run_id)
    store.finish_run(run_id, status="done", result=result)
    if own_file:
        (out / "models").mkdir(parents=True, exist_ok=True)
        (out / "models" / f"{run_id}.pt").write_bytes(b"model")
    return result


def test_a_finished_run_without_its_json_gets_it_from_the_store(store: Any, out: Path) -> None:
    rid = "20261201-100000-aaaaaa"
    result = _finished(store, out, rid)
    _orphan(store, rid)
    assert reconcile(store, out).json_written == [rid]
    assert load_result(result_path(out, "pruned_unstructured", rid, "synthetic")) == result
    assert reconcile(store, out).json_written == []  # agreed: nothing more to do


def test_a_stale_json_is_rewritten_from_the_store(store: Any, out: Path) -> None:
    rid = "20261201-100000-abcdef"
    result = _finished(store, out, rid)
    path = write_result(out, "pruned_unstructured", rid, {**result, "metrics": {"stale": 1}})
    before = store.get_run(rid).finished_at - 60
    os.utime(path, (before, before))  # written before the run's commit (the order before #19)
    _orphan(store, rid)
    reconcile(store, out)
    assert load_result(result_path(out, "pruned_unstructured", rid, "synthetic")) == result


def test_a_run_of_another_folder_is_not_written_here(store: Any, out: Path) -> None:
    rid = "20261201-100000-bbbbbb"
    _finished(store, out, rid, own_file=False)  # the shared store's run left nothing here
    _orphan(store, rid)
    assert reconcile(store, out).json_written == []
    assert not (out / "results").exists()


def test_a_run_whose_process_lives_is_left_to_it(store: Any, out: Path) -> None:
    """Between its store commit and its JSON a live run is not touched, nor its ``.tmp``."""
    rid = "20261201-100000-cccccc"
    _finished(store, out, rid)  # owned by this (live) process
    tmp = out / "results" / f".synthetic_pruned_unstructured_{rid}.json.x1y2.tmp"
    tmp.parent.mkdir(parents=True)
    tmp.write_text("{", encoding="utf-8")
    done = reconcile(store, out)
    assert done.json_written == [] and done.tmp_removed == [] and tmp.exists()


def test_a_complete_json_marks_an_interrupted_row_done(store: Any, out: Path) -> None:
    """The order before issue #19 (JSON first) left such pairs: the JSON wins."""
    rid = "20261201-100000-dddddd"
    store.create_run(rid, variant="pruned_unstructured", dataset="synthetic")
    result = _result(rid)
    write_result(out, "pruned_unstructured", rid, result)
    store.finish_run(rid, status="interrupted", error="interrupted")
    _orphan(store, rid)
    assert reconcile(store, out).marked_done == [rid]
    rec = store.get_run(rid)
    assert rec.status == "done" and rec.result == result and rec.energy_kwh == 0.5


def test_a_dead_runs_tmp_files_are_removed(store: Any, out: Path) -> None:
    rid = "20261201-100000-eeeeee"
    store.create_run(rid, variant="baseline", dataset="synthetic")
    store.finish_run(rid, status="interrupted")
    _orphan(store, rid)
    left = [
        out / "results" / f".synthetic_baseline_{rid}.json.k3j4.tmp",
        out / "models" / f".{rid}.pt.q9w8.tmp",
    ]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    other = out / "models" / ".notes.tmp"  # names no run: not ours to remove
    other.write_bytes(b"x")
    assert sorted(reconcile(store, out).tmp_removed) == sorted(left)
    assert not any(p.exists() for p in left) and other.exists()


def test_the_next_write_of_a_result_removes_its_stale_tmp(out: Path) -> None:
    rid = "20261201-100000-ffffff"
    path = result_path(out, "baseline", rid, "synthetic")
    path.parent.mkdir(parents=True)
    stale = path.parent / f".{path.name}.abcd.tmp"
    stale.write_text('{"half": ', encoding="utf-8")
    write_result(out, "baseline", rid, _result(rid, "baseline"))
    assert not stale.exists() and json.loads(path.read_text())["run_id"] == rid
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_interrupted_run_is_taken_over_once(
    backend: str, out: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    with open_store(url, default_dir=out) as store:
        rid = new_run_id()
        store.create_run(rid, variant="pruned_unstructured")
        assert not store.reclaim_run(rid)  # running: not interrupted
        store.finish_run(rid, status="interrupted")
        assert store.reclaim_run(rid) and not store.reclaim_run(rid)
        rec = store.get_run(rid)
    assert rec.status == "running" and rec.pid == os.getpid() and rec.finished_at is None


def test_a_rerun_finds_the_same_steps_interrupted_run(store: Any) -> None:
    hyper = {"sparsity": 0.3, "kind": "unstructured"}
    spec = RunSpec("pruned_unstructured", "seed_cnn", "synthetic", "cpu", hyper,
                   parent_run_id="20261201-090000-000000")  # fmt: skip
    store.create_run("20261201-090000-000000", variant="baseline")
    for rid, sparsity, status in (
        ("20261201-100000-b1b1b1", 0.3, "interrupted"),
        ("20261201-100001-b2b2b2", 0.5, "interrupted"),  # other settings
        ("20261201-100002-b3b3b3", 0.3, "failed"),  # failed: kept as the record of a failure
    ):
        store.create_run(rid, variant="pruned_unstructured", model="seed_cnn", dataset="synthetic",
                         device="cpu", config={**hyper, "sparsity": sparsity},
                         parent_run_id="20261201-090000-000000")  # fmt: skip
        store.finish_run(rid, status=status)
    assert find_rerun(store, spec, None) == "20261201-100000-b1b1b1"
    assert find_rerun(store, spec, "another study") is None


def test_killed_attempts_count_their_energy_from_their_samples() -> None:
    carbon = CarbonConfig.resolve(country=None, pue=1.5, intensity_g_per_kwh=500.0)
    t0 = time.time()

    def sample(start: float, elapsed: float, cpu_j: float) -> Sample:
        return Sample("r", start + elapsed, elapsed, "train", {"cpu": 1.0}, {"cpu": cpu_j}, 0.0)

    samples = [sample(t0, 1, 100.0), sample(t0, 2, 250.0), sample(t0 + 50, 1, 36.0)]
    pieces = attempt_pieces(samples, carbon)
    assert [p["energy_j"]["cpu"] for p in pieces] == [250.0, 36.0]
    assert [p["duration_s"] for p in pieces] == [2, 1]
    assert pieces[0]["energy_kwh"] == pytest.approx(250.0 / 3.6e6 * 1.5)
    assert pieces[0]["co2_kg"] == pytest.approx(250.0 / 3.6e6 * 1.5 * 0.5)


def test_a_tracked_run_which_writes_no_json_gets_none(store: Any, out: Path) -> None:
    """``greenai.track`` records a result in the store only; its emissions CSV names no run."""
    rid = "20261201-100000-c0ffee"
    store.create_run(rid, variant="tracked", dataset=None)
    csv = out / "logs" / "emissions.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text(f"run_id\n{rid}\n", encoding="utf-8")
    result = {**_result(rid, "tracked"), "dataset": None}
    result["artifacts"] = {"emissions_csv": "logs/emissions.csv"}
    store.finish_run(rid, status="done", result=result)
    _orphan(store, rid)
    assert reconcile(store, out).json_written == []
    assert not (out / "results").exists()
