"""Real ``python -m greenai`` processes for the signal tests: start, wait for a state, read back."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

SMALL = ["--dataset", "synthetic", "--device", "cpu", "--width", "0.125", "--no-progress"]


def env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("GREENAI_")}
    return {**keep, "OMP_NUM_THREADS": "1", "GREENAI_INTERVAL": "0.2"}


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "greenai", *args],
        cwd=cwd,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def store_rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a read-only query on a SQLite store; [] while it does not exist (yet)."""
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the schema is still being created
        return []


def wait_running(proc: subprocess.Popen, db: Path, variant: str, limit_s: float = 240) -> str:
    """The run id of ``variant`` once it is "running" in ``db`` with at least one sample."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        rows = store_rows(
            db,
            "SELECT r.run_id FROM runs r JOIN samples s ON s.run_id = r.run_id "
            "WHERE r.variant = ? AND r.status = 'running' LIMIT 1",
            (variant,),
        )
        if rows:
            return rows[0][0]
        if proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before running: {err[-2000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"no running {variant} run in {db} after {limit_s} s")


def status(db: Path, run_id: str) -> str:
    return store_rows(db, "SELECT status FROM runs WHERE run_id = ?", (run_id,))[0][0]
