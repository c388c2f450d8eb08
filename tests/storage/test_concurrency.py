"""Issue #9: eight processes writing one store at once lose nothing and never see a lock error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from greenai.storage import open_store

WRITER = Path(__file__).with_name("writer.py")
PROCESSES = 8
RUNS_EACH = 50
SAMPLES_EACH = 2


def _write_concurrently(url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WRITER), url, str(w), str(RUNS_EACH), str(SAMPLES_EACH), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(PROCESSES)
    ]
    go.touch()
    errors = [proc.communicate(timeout=300)[1] for proc in procs]
    results = [(proc.returncode, err) for proc, err in zip(procs, errors, strict=True)]
    assert [code for code, _ in results] == [0] * PROCESSES, [err[-2000:] for _, err in results]
    # Nothing reaches the user: not even a warning about a locked database.
    assert [err for _, err in results] == [""] * PROCESSES


def test_eight_writer_processes_lose_nothing(store_url: str, tmp_path: Path) -> None:
    url = store_url
    # No store exists yet: the writers race to create the schema too.
    _write_concurrently(url, tmp_path)

    with open_store(url, default_dir=tmp_path) as store:
        runs = store.list_runs()
        assert len(runs) == PROCESSES * RUNS_EACH
        assert {r.status for r in runs} == {"done"}
        for worker in range(PROCESSES):
            mine = store.list_runs(group=f"worker{worker}")
            assert sorted(r.accuracy for r in mine) == [float(n) for n in range(RUNS_EACH)]
        for run in runs:
            samples = store.samples(run.run_id)
            assert [s.elapsed_s for s in samples] == [float(k) for k in range(SAMPLES_EACH)]
