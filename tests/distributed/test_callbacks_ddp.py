"""greenai's Lightning callback under a real DDP job (torchrun, 2 gloo ranks on the CPU): one job
total in the store, the node's fake powercap counted once, every rank's share recorded (#16)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dist_launch import POWER_REL, REPO, env_with, powercap_at

from greenai.storage import open_store

pytest.importorskip("lightning")
pytestmark = pytest.mark.slow

RANK_SCRIPT = Path(__file__).with_name("lightning_rank.py")
WATTS = 30.0


def test_lightning_ddp_gives_one_total_with_the_node_counted_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'greenai.db'}"
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    with powercap_at(tmp_path / "pc", WATTS) as root:
        done = subprocess.run(
            [torchrun, "--standalone", "--nproc-per-node", "2", str(RANK_SCRIPT), url],
            env=env_with(GREENAI_POWERCAP_ROOT=str(root)), cwd=REPO, capture_output=True,
            text=True, timeout=240,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with open_store(url) as store:
        runs = store.list_runs()
        assert [(r.variant, r.status) for r in runs] == [("tracked", "done")]  # one, not 2
        job = runs[0]
        step = job.result["energy"]["step"]
        cpu_j = step["by_component_kwh"]["cpu"] * 3.6e6
        ranks = sorted(job.result["distributed"]["ranks"], key=lambda r: r["rank"])
        window = ranks[0]["duration_s"]  # local rank 0 reads the node's counter over its window
        print(f"figure: Lightning DDP, 2 ranks, fake RAPL at {WATTS} W: {cpu_j:.2f} J over "
              f"{step['duration_s']:.3f} s (rank 0's window {window:.3f} s) = "
              f"{cpu_j / window:.2f} W")  # fmt: skip
        assert cpu_j / window == pytest.approx(WATTS, rel=POWER_REL)  # the node once, not 2 x WATTS
        assert [r["meters_node"] for r in ranks] == [True, False]
        assert all(r["energy_j"]["ram"] > 0 for r in ranks)  # each rank's own memory estimate
