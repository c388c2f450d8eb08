"""Three ``greenai search`` workers on one PostgreSQL study; one is SIGKILLed mid-trial.

Its trial is found stale through Optuna's heartbeat by another worker, its run closed with the
energy its samples hold (once), and its parameters rerun by another worker (retry): every sampled
trial completes exactly once, and the study's total counts the dead worker's energy once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from dist_launch import REPO, env_with

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TINY = [
    "--dataset", "synthetic", "--device", "cpu", "--limit-train", "512", "--limit-test", "32",
    "--epochs-range", "1", "1", "--widths", "0.5", "--batch-sizes", "32",
    "--precisions", "fp32", "--sparsities", "0", "--quantization", "off",
    "--heartbeat", "1", "--grace", "4", "--retries", "1", "--study-name", "lost",
]  # fmt: skip


def _worker(url: str, seed: int, trials: int, out) -> subprocess.Popen:
    args = [sys.executable, "-m", "greenai", "search", *TINY, "--storage", url]
    args += ["--trials", str(trials), "--seed", str(seed), "--out", str(out)]
    env = env_with(GREENAI_INTERVAL="0.2")
    return subprocess.Popen(
        args, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _running_with_samples(store, deadline_s: float) -> str:
    """The id of the group's running run once it has samples (the worker is mid-trial)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        for run in store.list_runs(group="lost"):
            if run.status == "running" and len(store.samples(run.run_id)) >= 2:
                return run.run_id
        time.sleep(0.05)
    raise AssertionError("the first worker never got mid-trial")


def test_a_worker_killed_mid_trial_is_retried_and_its_energy_counted_once(postgres_url, tmp_path):
    import optuna

    from greenai.search.spent import spent
    from greenai.storage import open_store

    store = open_store(postgres_url)
    try:
        first = _worker(postgres_url, 0, 1, tmp_path / "w0")
        try:
            lost_run = _running_with_samples(store, 180)
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.communicate(timeout=30)
        time.sleep(4)  # past the grace period: the next trial to start finds it stale
        others = [_worker(postgres_url, i, 2, tmp_path / f"w{i}") for i in (1, 2)]
        outputs = [p.communicate(timeout=300) for p in others]
        for p, (_out, err) in zip(others, outputs, strict=True):
            assert p.returncode == 0, err[-3000:]

        study = optuna.load_study(study_name="lost", storage=postgres_url)
        trials = study.trials
        killed = [t for t in trials if t.user_attrs.get("run_id") == lost_run]
        assert len(killed) == 1 and killed[0].state == optuna.trial.TrialState.FAIL
        retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed[0].number]
        assert len(retries) == 1, [t.system_attrs for t in trials]  # retried once, not twice
        assert retries[0].state == optuna.trial.TrialState.COMPLETE
        assert retries[0].params == killed[0].params
        assert [t.state.name for t in trials].count("COMPLETE") == 4
        assert len(trials) == 5  # the lost one, its retry, three more: none lost, none doubled

        runs = {r.run_id: r for r in store.list_runs(group="lost")}
        dead = runs[lost_run]
        assert dead.status == "failed" and "heartbeats" in (dead.error or "")
        last = max(store.samples(lost_run), key=lambda s: s.elapsed_s)
        assert dead.energy_kwh == pytest.approx(sum(last.energy_j.values()) / 3.6e6, rel=1e-6)
        assert dead.energy_kwh > 0
        assert retries[0].user_attrs["run_id"] != lost_run  # the retry is a run of its own
        total = spent(store, "lost")
        assert total.runs == 5 and total.by_status == {"done": 4, "failed": 1}
        assert total.energy_kwh == pytest.approx(sum(r.energy_kwh or 0 for r in runs.values()))
        assert len(total.workers) == 3  # host:pid of the three workers, one per run row
        printed = "".join(out for out, _err in outputs)
        assert "spent" in printed and "lost with its worker" in printed
    finally:
        store.close()
