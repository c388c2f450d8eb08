"""An interrupted ``greenai study`` continues where it stopped (issue #19), tried as a user would:
``python -m greenai study`` killed (Ctrl-C's SIGINT, or SIGKILL) while the baseline trains, then the
same command again. The rerun resumes the baseline's run (from its last checkpoint, or redone under
its id when the kill came before the first one, its killed attempt's energy counted) and runs the
other step; nothing is left "running" or "interrupted" and no step is duplicated."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from greenai.results.resultfile import load_result
from greenai.storage import open_store

STUDY = [
    sys.executable, "-m", "greenai", "study", "--dataset", "synthetic", "--epochs", "2",
    "--limit-train", "512", "--limit-test", "64", "--batch_size", "32", "--width", "0.25",
    "--device", "cpu", "--no-progress", "--variants", "baseline", "pruned_unstructured",
    "--out", "out",
]  # fmt: skip


def _env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("GREENAI_STORE", "GREENAI_TEST_KILL_AT")
    }
    env.update(MPLBACKEND="Agg", GREENAI_INTERVAL="0.05")
    return env


def _baseline_sampled(db: Path) -> bool:
    """The baseline's run row exists and its meter has written samples: it is training."""
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            (n,) = conn.execute(
                "SELECT count(*) FROM samples JOIN runs USING (run_id) WHERE variant='baseline'"
            ).fetchone()
    except sqlite3.Error:
        return False
    return n >= 2


def _checkpointed(models: Path) -> bool:
    return any(not p.name.endswith("_weights.pt") for p in models.glob("*.pt"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "when"),
    [(signal.SIGINT, "first epoch"), (signal.SIGKILL, "after a checkpoint")],
    ids=["SIGINT-first-epoch", "SIGKILL-after-checkpoint"],
)
def test_an_interrupted_study_resumes_its_baseline_and_runs_the_rest(
    tmp_path: Path, sig: signal.Signals, when: str
) -> None:
    first = subprocess.Popen(STUDY, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 240
    ready = (
        (lambda: _baseline_sampled(tmp_path / "out" / "greenai.db"))
        if when == "first epoch"
        else (lambda: _checkpointed(tmp_path / "out" / "models"))
    )
    while not ready():
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, f"the baseline never reached its {when}"
        time.sleep(0.05)
    checkpointed = _checkpointed(tmp_path / "out" / "models")
    first.send_signal(sig)
    log = first.communicate(timeout=120)[0]
    assert first.returncode != 0, log
    with open_store(None, default_dir=tmp_path / "out") as store:
        (killed,) = store.list_runs(variant="baseline")
        assert killed.status == "interrupted"
        assert not store.list_runs(variant="pruned_unstructured")

    again = subprocess.run(STUDY, cwd=tmp_path, env=_env(), capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"resuming run {killed.run_id}" in again.stdout + again.stderr
    with open_store(None, default_dir=tmp_path / "out") as store:
        runs = store.list_runs(group="study")
        assert sorted((r.variant, r.status) for r in runs) == [
            ("baseline", "done"), ("pruned_unstructured", "done"),
        ]  # fmt: skip
        base = store.get_run(killed.run_id)
    assert base.status == "done"
    for rec in runs:  # the store and the result files agree
        (path,) = (tmp_path / "out" / "results").glob(f"*_{rec.run_id}.json")
        assert load_result(path) == rec.result
    pieces = base.result["energy"]["step"]["pieces"]
    assert len(pieces) >= 3  # the killed process's energy, the data load, the resumed training
    phases = {p["path"] for p in base.result["energy"]["step"]["phases"]}
    if not checkpointed:  # redone from scratch under its id: the killed attempt is counted
        assert "an interrupted attempt (from the meter's samples)" in phases
    if when == "after a checkpoint":  # continued from it: the first process's pieces are kept
        assert checkpointed and len(pieces) >= 4  # its data load and training, then the resumed
    assert not list((tmp_path / "out").rglob(".*.tmp"))
