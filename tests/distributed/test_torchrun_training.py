"""Proof that a torchrun job gets one honest total (CPU, gloo, loopback only).

The node's power comes from a fake powercap tree whose counter a writer process advances at a known
power: the job's CPU energy must be that power x the metered duration (within POWER_REL, 10 %), not
a multiple of it. The processes are real (torchrun agents, DDP ranks): only the hardware counter is
fake."""

from __future__ import annotations

import csv
import os
import resource
import sys
from pathlib import Path

import pytest
from dist_launch import POWER_REL, TINY, cpu_j, env_with, free_port, greenai, powercap_at

from greenai.results.resultfile import load_result

pytestmark = pytest.mark.slow


def _only_result(out):
    files = sorted((out / "results").glob("*.json"))
    assert len(files) == 1, files
    return load_result(files[0])


def test_nproc_per_node_2_counts_the_node_once(tmp_path):
    out = tmp_path / "out"
    with powercap_at(tmp_path / "pc", 50.0) as root:
        done = greenai(
            "baseline", *TINY, "--nproc-per-node", "2", "--out", str(out), "--run-id", "ddp-1",
            env=env_with(GREENAI_POWERCAP_ROOT=str(root)),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run ddp-1:") == 1  # one summary, from rank 0
    result = _only_result(out)
    step = result["energy"]["step"]
    print(
        f"figure: 2 ranks, fake RAPL at 50 W: {cpu_j(result):.2f} J over {step['duration_s']:.3f} s"
    )
    assert cpu_j(result) / step["duration_s"] == pytest.approx(50.0, rel=POWER_REL)  # not 100 W
    dist = result["distributed"]
    assert dist["world_size"] == 2 and len(dist["nodes"]) == 1
    ranks = dist["ranks"]
    assert [r["meters_node"] for r in ranks] == [True, False]
    assert ranks[1]["energy_j"]["cpu"] == 0.0 and ranks[1]["energy_j"]["ram"] > 0
    assert "1 of 2 ranks" in step["methods"]["cpu"]
    from greenai.storage import open_store

    store = open_store(None, default_dir=out)
    try:
        runs = store.list_runs()
        assert [(r.run_id, r.status) for r in runs] == [("ddp-1", "done")]
    finally:
        store.close()


def test_measure_torchrun_and_the_estimate_count_each_rank_once(tmp_path):
    """``greenai measure -- torchrun ... -m greenai baseline``: one total outside, and inside the
    ranks' CPU-time estimates summed once each (a flat, user-given W per CPU makes J = CPU-s x W)."""
    inner, outer = tmp_path / "inner", tmp_path / "outer"
    env = env_with(GREENAI_POWERCAP_ROOT=str(tmp_path / "no-powercap"), GREENAI_CPU_WATTS="10")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = greenai(
        "measure", "--out", str(outer), "--", str(Path(sys.executable).with_name("torchrun")),
        "--standalone", "--nproc-per-node", "2", "-m", "greenai", "baseline", *TINY,
        "--out", str(inner), env=env,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr[-3000:]
    result = _only_result(inner)
    ranks = result["distributed"]["ranks"]
    rank_cpu_s = [r["energy_j"]["cpu"] / 10.0 for r in ranks]
    assert all(s > 0.2 for s in rank_cpu_s), rank_cpu_s  # both ranks' own CPU time counted
    # the job's CPU energy: the ranks' training windows plus their data loads, summed once
    assert cpu_j(result) >= sum(r["energy_j"]["cpu"] for r in ranks)
    all_cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # every process of the command together (launcher, agent, ranks' imports too) bounds the sum:
    # counting a rank twice would exceed it
    print(f"figure: ranks' CPU-s {rank_cpu_s}, job {cpu_j(result) / 10:.2f}, all {all_cpu_s:.2f}")
    assert cpu_j(result) / 10.0 <= all_cpu_s
    with (outer / "emissions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1  # measure gives one total for the whole torchrun job
    # the same estimate over the whole command's tree and window holds the ranks' windows
    assert float(rows[0]["cpu_energy"]) * 3.6e6 >= 0.95 * cpu_j(result)


@pytest.mark.postgres
def test_two_nodes_on_loopback_sum_both_nodes_known_energies(tmp_path, postgres_url):
    """Two torchrun agents (--nnodes 2) meeting on 127.0.0.1, each a 'node' with its own powercap
    tree at its own power and its own identity: the job total is the sum of both nodes'."""
    import subprocess

    from dist_launch import REPO

    port = free_port()
    out = tmp_path / "out"
    watts = {0: 30.0, 1: 70.0}
    procs = []
    with (
        powercap_at(tmp_path / "pc0", watts[0]) as pc0,
        powercap_at(tmp_path / "pc1", watts[1]) as pc1,
    ):
        for node, root in ((0, pc0), (1, pc1)):
            args = [
                sys.executable, "-m", "greenai", "baseline", *TINY, "--nproc-per-node", "1",
                "--nnodes", "2", "--node-rank", str(node), "--rdzv-endpoint", f"127.0.0.1:{port}",
                "--out", str(out / f"node{node}"), "--store", postgres_url, "--group", "two-nodes",
            ]  # fmt: skip
            env = env_with(GREENAI_POWERCAP_ROOT=str(root), GREENAI_NODE_ID=f"node-{node}")
            procs.append(
                subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            )  # fmt: skip
        outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_o, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    result = _only_result(out / "node0")
    assert not (out / "node1" / "results").exists()  # only rank 0 writes results
    nodes = {n["node"]: n for n in result["distributed"]["nodes"]}
    assert set(nodes) == {"node-0", "node-1"}
    for i in (0, 1):
        n = nodes[f"node-{i}"]
        print(
            f"figure: node-{i} at {watts[i]} W: {n['energy_j']['cpu']:.2f} J in {n['duration_s']:.3f} s"
        )
        assert n["energy_j"]["cpu"] / n["duration_s"] == pytest.approx(watts[i], rel=POWER_REL)
    train = result["energy"]["step"]["pieces"]
    assert len(train) == 2  # the data load and the training, each summed over both nodes
    assert result["embodied"]["step"]["machines"] == 2  # both machines' embodied carbon
    print(f"figure: job {cpu_j(result):.2f} J over {result['energy']['step']['duration_s']:.3f} s")
    assert cpu_j(result) / result["energy"]["step"]["duration_s"] == pytest.approx(
        100.0, rel=POWER_REL
    )
    from greenai.storage import open_store

    store = open_store(postgres_url)
    try:
        rows = store.list_runs(group="two-nodes")
        assert len(rows) == 1 and rows[0].status == "done"
        assert len(rows[0].result["distributed"]["nodes"]) == 2
    finally:
        store.close()


def _pid_of_rank(marker: str, rank: int) -> int | None:
    """The pid of the process whose environment holds ``marker`` and RANK=rank (a DDP worker)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in env and f"RANK={rank}".encode() in env:
            return int(entry.name)
    return None


def test_a_rank_that_dies_fails_the_run_and_leaves_its_samples(tmp_path):
    """SIGKILL rank 1 mid-training: the job fails, rank 0's row is closed 'failed' with the reason
    and keeps the samples it wrote; no result (no total) is written."""
    import os
    import signal
    import subprocess
    import time

    from dist_launch import REPO

    from greenai.storage import open_store

    out, marker = tmp_path / "out", f"GREENAI_NODE_ID=death-{os.getpid()}"
    args = [sys.executable, "-m", "greenai", "baseline", *TINY, "--epochs", "4",
            "--nproc-per-node", "2", "--out", str(out), "--run-id", "dies-1"]  # fmt: skip
    env = env_with(GREENAI_NODE_ID=marker.split("=", 1)[1], GREENAI_INTERVAL="0.2")
    job = subprocess.Popen(args, env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            db = out / "greenai.db"
            if db.exists():
                with open_store(None, default_dir=out) as store:
                    if store.has_run("dies-1") and len(store.samples("dies-1")) >= 2:
                        break
            time.sleep(0.1)
        victim = _pid_of_rank(marker, 1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        _out, err = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    with open_store(None, default_dir=out) as store:
        run = store.get_run("dies-1")
        assert run.status == "failed", (run.status, err[-2000:])
        assert run.error
        assert len(store.samples("dies-1")) >= 2
    assert not list((out / "results").glob("*.json"))  # no total formed without rank 1


def test_the_green_recipe_trains_under_ddp(tmp_path):
    """airbench under DDP (the green recipe crashed there): its whitening set once (rank 0's), its
    whitening bias frozen from the start (a bias frozen mid-run: tests/distributed/test_ddp_wrap).
    Each rank trains on one thread (OMP_NUM_THREADS=1, as torchrun sets it); the leader times
    inference on the job's threads on the node, as a single process would run it."""
    out = tmp_path / "out"
    done = greenai(
        "baseline", "--recipe", "green", "--dataset", "synthetic", "--limit-train", "256",
        "--limit-test", "64", "--epochs", "2", "--batch-size", "64", "--inference-images", "256",
        "--nproc-per-node", "2", "--out", str(out),
        env=env_with(GREENAI_RUNTIMES="pytorch"),  # OMP_NUM_THREADS=1 from env_with
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = _only_result(out)
    assert result["distributed"]["world_size"] == 2
    assert result["training"]["epochs_run"] == 2
    assert result["hyperparameters"]["threads"] is None  # the recipe leaves them to torch(run)
    assert result["inference"]["threads"] == min(2, len(os.sched_getaffinity(0)))  # 1 x 2 ranks
