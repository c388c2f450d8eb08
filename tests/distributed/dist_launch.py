"""Helpers of the distributed tests: fake powercap trees at a known power, greenai under torchrun."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("powercap_writer.py")
# how close a metered power must come to the fake counter's: the writer rewrites it every 2 ms, but
# on 2 busy cores (pytest's workers, the ranks) it can be descheduled for tens of ms at either end
# of a 2-3 s run (48.9 W read for 50 W once, -2.3 %). Counting a node twice reads 2x, one of two
# nodes 0.3x or 0.7x: 10 % still tells them apart
POWER_REL = 0.1
TINY = [
    "--dataset", "synthetic", "--limit-train", "256", "--limit-test", "128", "--epochs", "1",
    "--device", "cpu", "--inference-images", "0", "--recipe", "seed", "--batch-size", "64",
]  # fmt: skip


@contextlib.contextmanager
def powercap_at(root: Path, watts: float) -> Iterator[Path]:
    """A fake RAPL package under ``root`` whose counter advances at ``watts`` while in the block."""
    proc = subprocess.Popen([sys.executable, str(WRITER), str(root), str(watts)])
    try:
        deadline = time.monotonic() + 30
        while not (root / "ready").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the powercap writer did not start")
            time.sleep(0.05)
        yield root
    finally:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env_with(**extra: str) -> dict[str, str]:
    """This environment without any rank variables (pytest may itself run under a launcher)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "GREENAI_"))}
    for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK"):
        env.pop(k, None)
    env.update({"GREENAI_INTERVAL": "0.5", "OMP_NUM_THREADS": "1", **extra})
    env["PYTHONPATH"] = str(REPO / "src")
    return env


def greenai(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "greenai", *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )  # fmt: skip


def cpu_j(result: dict) -> float:
    """The step's CPU energy in joules (PUE 1 in these tests)."""
    return result["energy"]["step"]["by_component_kwh"]["cpu"] * 3.6e6
