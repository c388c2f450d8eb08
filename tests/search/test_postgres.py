"""Two ``greenai search`` processes share one study on a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys

import optuna
import pytest

from greenai.storage import open_store

pytestmark = pytest.mark.postgres

TINY = [
    "--dataset", "synthetic", "--device", "cpu", "--limit-train", "64", "--limit-test", "32",
    "--epochs-range", "1", "1", "--widths", "0.25", "0.5", "--batch-sizes", "32", "64",
    "--precisions", "fp32", "--sparsities", "0", "--quantization", "off",
]  # fmt: skip


def test_two_workers_share_one_study_and_record_every_trial_once(postgres_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GREENAI_STORE"}
    command = [sys.executable, "-m", "greenai", "search", *TINY, "--storage", postgres_url]
    command += ["--study-name", "shared", "--trials", "2"]
    workers = [
        subprocess.Popen(
            [*command, "--seed", str(i), "--out", str(tmp_path / f"worker{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        assert "Pareto-optimal trials" in out

    study = optuna.load_study(study_name="shared", storage=postgres_url)
    trials = study.trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    run_ids = [t.user_attrs["run_id"] for t in trials]
    assert len(set(run_ids)) == 4

    # With a PostgreSQL --storage and no --store, the runs go to the same database: once each.
    with open_store(postgres_url) as store:
        runs = store.list_runs(group="shared")
        assert sorted(r.run_id for r in runs) == sorted(run_ids)
        assert {r.status for r in runs} == {"done"}
    # No worker wrote a local run store or study file.
    for i in range(2):
        assert not (tmp_path / f"worker{i}" / "search.db").exists()
        assert not (tmp_path / f"worker{i}" / "greenai.db").exists()
