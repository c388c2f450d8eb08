"""Issue #9: a writer killed with SIGKILL leaves an interrupted run with every sample it wrote."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from greenai.storage import open_store
from greenai.storage.liveness import pid_alive

WRITER = Path(__file__).with_name("writer.py")
SAMPLES = 5


def test_killed_run_is_marked_interrupted_and_keeps_its_samples(
    store_url: str, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, str(WRITER), store_url, "doomed", "-", str(SAMPLES), str(ready), "--hang"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "the writer never got going"
            time.sleep(0.02)
        with open_store(store_url, default_dir=tmp_path) as store:
            assert store.get_run("doomed").status == "running"  # alive: left alone
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    with open_store(store_url, default_dir=tmp_path) as store:  # "the next start"
        run = store.get_run("doomed")
        assert run.status == "interrupted"
        assert run.finished_at is not None
        samples = store.samples("doomed")
        assert [s.elapsed_s for s in samples] == [float(k) for k in range(SAMPLES)]
        assert samples[-1].energy_j["cpu"] == 10.0 * SAMPLES
        assert store.mark_interrupted() == []  # already settled: nothing more to mark


def test_pid_alive_tells_a_live_owner_from_a_dead_or_reused_pid() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        assert pid_alive(child.pid)
        assert pid_alive(child.pid, since=time.time())  # started before this moment: the owner
        # A run last heard from an hour ago cannot belong to a process that started just now.
        assert not pid_alive(child.pid, since=time.time() - 3600)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)
