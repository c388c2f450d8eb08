"""A DDP job cancelled through its launcher is ``interrupted`` (as a single process is), not
``failed``; and ``--target-accuracy`` stops every rank after the same epoch (CPU, gloo, loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from dist_launch import REPO, TINY, env_with, greenai

from greenai.results.resultfile import load_result
from greenai.storage import open_store

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_cancelled_ddp_job_is_recorded_interrupted_with_its_samples(tmp_path, sig):
    out, run_id = tmp_path / "out", f"cancel-{sig.name}"
    # 40 epochs: the signal must land mid-run; 8 once ended first (a loaded suite, 1 thread a rank)
    args = [sys.executable, "-m", "greenai", "baseline", *TINY, "--epochs", "40",
            "--nproc-per-node", "2", "--out", str(out), "--run-id", run_id]  # fmt: skip
    job = subprocess.Popen(
        args, env=env_with(GREENAI_INTERVAL="0.2"), cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if (out / "greenai.db").exists():
                with open_store(None, default_dir=out, mark_stale=False) as store:
                    if store.has_run(run_id) and len(store.samples(run_id)) >= 3:
                        break
            time.sleep(0.1)
        else:
            raise AssertionError("the job never got going")
        os.kill(job.pid, sig)  # the launcher, as `kill` or a scheduler's cancel would
        _out, err = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 128 + sig, err[-2000:]
    with open_store(None, default_dir=out) as store:
        run = store.get_run(run_id)
        assert run.status == "interrupted", (run.status, run.error, err[-2000:])
        assert len(store.samples(run_id)) >= 3
    assert "Traceback" not in err
    assert not list((out / "results").glob("*.json"))  # no total formed: the job did not finish


def test_target_accuracy_under_ddp_stops_every_rank_after_the_same_epoch(tmp_path):
    out = tmp_path / "out"
    done = greenai(
        "baseline", *TINY, "--epochs", "3", "--target-accuracy", "1", "--holdout-fraction", "0.2",
        "--nproc-per-node", "2", "--out", str(out), "--run-id", "target-1",
        env=env_with(), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = sorted((out / "results").glob("*.json"))
    training = load_result(path)["training"]
    assert training["stopped_early"] and training["epochs_run"] == 1
    assert training["target_reached"]["epoch"] == 1
