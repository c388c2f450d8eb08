"""``greenai dashboard`` as a user runs it: loopback by default, one-line errors, a warning when
listening elsewhere."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from dash_helpers import EVIL, add_run

from greenai.cli.main import build_parser
from greenai.dashboard.server import is_loopback


def greenai(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GREENAI_STORE"}
    return subprocess.run(
        [sys.executable, "-m", "greenai", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


def test_defaults_are_loopback_and_port_8050():
    args = build_parser().parse_args(["dashboard"])
    assert (args.host, args.port, args.store) == ("127.0.0.1", 8050, None)


def test_is_loopback():
    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.5", "example.org"]))


def test_missing_store_is_one_line_exit_2(tmp_path):
    proc = greenai("dashboard", "--port", "0", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("greenai: error: no run store at")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "greenai.db").exists()  # read-only: nothing created


def test_bad_port_is_one_line_exit_2(tmp_path):
    proc = greenai("dashboard", "--port", "70000", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "greenai: error: --port must be between 0 and 65535, got 70000"


def test_other_host_warns_before_listening(tmp_path, store):
    add_run(store, "r1")
    # 192.0.2.1 is TEST-NET-1: never this machine's address, so nothing is actually exposed.
    db = store.engine.url.database
    proc = greenai("dashboard", "--store", db, "--host", "192.0.2.1", "--port", "0", cwd=tmp_path)
    assert "warning: the dashboard listens on 192.0.2.1, reachable from other machines" in (
        proc.stderr
    )
    assert proc.returncode == 2 and "greenai: error: cannot listen on 192.0.2.1:0" in proc.stderr


@contextmanager
def _dashboard(
    db: str, cwd: Path, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen, str, str]]:
    """``greenai dashboard`` on a free loopback port in a real process: (process, its URL, the
    stderr line that announced it); killed on the way out if the test did not stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenai", "dashboard", "--store", db, "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    try:
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        yield proc, match.group(0), line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stderr.close()


def test_serves_the_store_on_127_0_0_1(tmp_path, store):
    add_run(store, "r1", name=EVIL)
    env = {k: v for k, v in os.environ.items() if k != "GREENAI_STORE"}
    db = store.engine.url.database
    with _dashboard(db, tmp_path, env) as (proc, url, line):
        assert "warning" not in line
        with urllib.request.urlopen(url, timeout=10) as response:
            page = response.read().decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and EVIL not in page
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        assert proc.wait(timeout=10) == 0
        assert "stopped" in proc.stderr.read()


def _rows(db: str) -> list[str]:
    """Every row of every table of the SQLite store, as SQL (read through a read-only connection)."""
    with closing(sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True)) as conn:
        return list(conn.iterdump())


def test_starting_the_dashboard_leaves_the_store_unchanged(tmp_path, store):
    """Read-only: a run left "running" by a process that is gone stays as it is (stale-run marking,
    which would mark it interrupted, is for the commands that write)."""
    add_run(store, "r1")
    db = store.engine.url.database
    lost = "20990101-000000-dead00"
    env = {k: v for k, v in os.environ.items() if k != "GREENAI_STORE"}
    code = (
        "from greenai.storage import open_store\n"
        f"s = open_store({db!r}, create=False, mark_stale=False)\n"
        f"s.create_run({lost!r}, name='lost', variant='baseline')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
    before = _rows(db)
    assert store.get_run(lost).status == "running"
    with _dashboard(db, tmp_path, env) as (proc, url, _line):
        for path in ("", "api/runs", f"runs/{lost}", "study?group=none"):
            try:
                urllib.request.urlopen(url + path, timeout=10).close()
            except urllib.error.HTTPError as error:
                assert error.code == 404, path
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    assert _rows(db) == before
    assert store.get_run(lost).status == "running"
