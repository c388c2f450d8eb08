"""Ranks that never form a process group meet in the run store: one job total, summed once.

Two real processes with torchrun's rank variables (no ``init_process_group``) each meter a block
with ``greenai.track``; the node's power comes from a fake powercap tree at a known power (the
hardware boundary). The job's CPU energy must be that power x the metering window (within POWER_REL,
10 %), not twice it; a rank SIGKILLed mid-block leaves its samples and the job marked incomplete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dist_launch import POWER_REL, REPO, env_with, powercap_at

from greenai.lifecycle.rank_job import job_id_for
from greenai.sensors.ranks import RankInfo
from greenai.storage import open_store, rank_rows

RANK_SCRIPT = Path(__file__).with_name("track_rank.py")
WATTS = 40.0


def _rank(rank: int, store: str, folder: Path, hold: str, **env: str) -> subprocess.Popen:
    ranks = {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
             "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "0"}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, str(RANK_SCRIPT), store, str(folder), hold],
        env=env_with(**ranks, **env), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]


def test_two_ranks_without_a_process_group_are_summed_once_in_the_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'greenai.db'}"
    with powercap_at(tmp_path / "pc", WATTS) as root:
        env = {"GREENAI_POWERCAP_ROOT": str(root), "GREENAI_JOB_ID": "job-a"}
        _wait([_rank(r, url, tmp_path, "5", **env) for r in (0, 1)])
    with open_store(url) as store:
        assert [(r.run_id, r.status) for r in store.list_runs()] == [("job-a", "done")]
        job = store.get_run("job-a")
        step = job.result["energy"]["step"]
        cpu_j = step["by_component_kwh"]["cpu"] * 3.6e6
        dist = job.result["distributed"]
        ranks = {r["rank"]: r for r in dist["ranks"]}
        window = ranks[0]["duration_s"]  # local rank 0 reads the node's counter over its window
        print(
            f"figure: store-gathered job, 2 ranks, fake RAPL at {WATTS} W: {cpu_j:.2f} J over "
            f"{step['duration_s']:.3f} s (rank 0's window {window:.3f} s) = "
            f"{cpu_j / step['duration_s']:.2f} W"
        )
        assert cpu_j / step["duration_s"] == pytest.approx(WATTS, rel=POWER_REL)  # not 2 x 40 W
        assert cpu_j / window == pytest.approx(WATTS, rel=POWER_REL)
        assert ranks[0]["meters_node"] and not ranks[1]["meters_node"]
        assert ranks[1]["energy_j"]["cpu"] == 0.0 and ranks[1]["energy_j"]["ram"] > 0
        ram_j = step["by_component_kwh"]["ram"] * 3.6e6
        assert ram_j == pytest.approx(ranks[0]["energy_j"]["ram"] + ranks[1]["energy_j"]["ram"])
        assert "1 of 2 ranks" in step["methods"]["cpu"]
        assert "run store" in dist["gathered_through"]
        assert job.energy_kwh == pytest.approx(step["energy_kwh"])
        assert rank_rows.totalled_by(store, "job-a") in (0, 1)  # formed once, by the last one
        shares = rank_rows.shares_of(store, "job-a")
        assert [(s.rank, s.status) for s in shares] == [(0, "done"), (1, "done")]
        assert all(s.sample_count >= 2 for s in shares)


def test_a_killed_rank_leaves_its_samples_and_the_job_marked_incomplete(tmp_path):
    url = f"sqlite:///{tmp_path / 'greenai.db'}"
    with powercap_at(tmp_path / "pc", WATTS) as root:
        env = {"GREENAI_POWERCAP_ROOT": str(root), "GREENAI_JOB_ID": "job-b"}
        procs = [_rank(r, url, tmp_path, "go", **env) for r in (0, 1)]
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if (tmp_path / "greenai.db").exists():
                    with open_store(url, mark_stale=False) as store:
                        counts = {
                            s.rank: s.sample_count for s in rank_rows.shares_of(store, "job-b")
                        }
                    if counts.get(1, 0) >= 3:
                        break
                time.sleep(0.1)
            os.kill(procs[1].pid, signal.SIGKILL)
            procs[1].communicate(timeout=30)
            (tmp_path / "go").write_text("1\n")
            _wait(procs[:1])
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
    with open_store(url) as store:
        job = store.get_run("job-b")
        assert job.status == "interrupted" and job.result is None
        assert job.error.startswith("incomplete:") and "rank 1" in job.error
        shares = {s.rank: s for s in rank_rows.shares_of(store, "job-b")}
        assert shares[0].status == "done" and shares[1].status == "interrupted"
        assert shares[1].sample_count >= 3 and shares[1].record is None
        last = shares[1].last_sample["energy_j"]
        expected_j = sum(shares[0].record["energy_j"].values()) + sum(last.values())
        print(f"figure: incomplete job keeps {expected_j:.2f} J (rank 1's last sample included)")
        assert job.energy_kwh == pytest.approx(expected_j / 3.6e6, rel=1e-9)


def test_the_job_id_is_shared_without_talking():
    info = RankInfo(1, 1, 2, 2)
    assert job_id_for(info, {"GREENAI_JOB_ID": "mine", "TORCHELASTIC_RUN_ID": "x"}) == "mine"
    assert job_id_for(info, {"TORCHELASTIC_RUN_ID": "abc"}) == "torchrun-abc"
    slurm = {"TORCHELASTIC_RUN_ID": "none", "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "3"}
    assert job_id_for(info, slurm) == "slurm-77.3"
    assert job_id_for(info, {}, given="given") == "given"
    assert job_id_for(info, {"TORCHELASTIC_RUN_ID": "none"}) is None  # static rendezvous


LAUNCHER = """
import os, signal, subprocess, sys, time
script, store, folder = sys.argv[1:4]
def rank(r, hold):
    env = {**os.environ, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2",
           "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "0", "GREENAI_JOB_ID": "job-m"}
    return subprocess.Popen([sys.executable, script, store, folder, hold], env=env)
first, last = rank(0, "1"), rank(1, "go")
assert first.wait() == 0
time.sleep(0.5)  # rank 1 samples on after rank 0 ended, then dies last: no rank forms the total
os.kill(last.pid, signal.SIGKILL)
last.wait()
"""


def test_measure_forms_the_total_at_read_time_when_the_last_rank_died(tmp_path):
    """Rank 0 finishes first, rank 1 is killed last, so no rank can form the job's total: the
    ``greenai measure`` around them does it once its command has ended, and marks it incomplete."""
    outer = tmp_path / "outer"
    url = f"sqlite:///{outer / 'greenai.db'}"
    with powercap_at(tmp_path / "pc", WATTS) as root:
        done = subprocess.run(
            [sys.executable, "-m", "greenai", "measure", "--out", str(outer), "--", sys.executable,
             "-c", LAUNCHER, str(RANK_SCRIPT), url, str(tmp_path)],
            env=env_with(GREENAI_POWERCAP_ROOT=str(root)), cwd=REPO, capture_output=True,
            text=True, timeout=180,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ranks' job job-m (interrupted)" in done.stderr and "incomplete: rank 1" in done.stderr
    with open_store(url) as store:
        job = store.get_run("job-m")
        assert job.status == "interrupted" and job.error.startswith("incomplete:")
        assert rank_rows.totalled_by(store, "job-m") == -1  # formed at read time, once
        shares = {s.rank: s for s in rank_rows.shares_of(store, "job-m")}
        assert shares[0].status == "done" and shares[1].sample_count >= 2
        assert [r.variant for r in store.list_runs()] == ["measure", "tracked"]


def test_measure_around_torchrun_with_track_in_each_rank_gives_one_job_total(tmp_path):
    """The issue's case: ``greenai measure -- torchrun ... script`` whose processes each use
    ``greenai.track`` (no process group): torchrun's rendezvous id names the job, one total."""
    outer = tmp_path / "outer"
    url = f"sqlite:///{outer / 'greenai.db'}"
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    with powercap_at(tmp_path / "pc", WATTS) as root:
        done = subprocess.run(
            [sys.executable, "-m", "greenai", "measure", "--out", str(outer), "--", torchrun,
             "--standalone", "--nproc-per-node", "2", str(RANK_SCRIPT), url, str(tmp_path), "4"],
            env=env_with(GREENAI_POWERCAP_ROOT=str(root)), cwd=REPO, capture_output=True,
            text=True, timeout=180,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with open_store(url) as store:
        (job,) = store.list_runs(variant="tracked")
        assert job.run_id.startswith("torchrun-") and job.status == "done"
        assert f"ranks' job {job.run_id} (done)" in done.stderr
        step = job.result["energy"]["step"]
        cpu_j = step["by_component_kwh"]["cpu"] * 3.6e6
        print(f"figure: measure -- torchrun, track in 2 ranks, fake RAPL at {WATTS} W: "
              f"{cpu_j:.2f} J over {step['duration_s']:.3f} s")  # fmt: skip
        assert cpu_j / step["duration_s"] == pytest.approx(WATTS, rel=POWER_REL)
        assert job.result["distributed"]["world_size"] == 2
