"""Fixtures for the dashboard tests: a real SQLite run store under tmp_path, filled through the
store's own API, and the dashboard served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="the dashboard extra (flask) is not installed")
pytest.importorskip("plotly", reason="the dashboard extra (plotly) is not installed")

from dash_helpers import SEARCH_ARGS

from greenai.dashboard import create_app
from greenai.dashboard.server import LOOPBACK_NAMES, start_in_thread
from greenai.storage import RunStore, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    s = open_store(f"sqlite:///{tmp_path / 'greenai.db'}", default_dir=tmp_path)
    yield s
    s.close()


@pytest.fixture
def client(store: RunStore):
    return create_app(store).test_client()


@pytest.fixture
def live_server(store: RunStore) -> Iterator[str]:
    """The dashboard on a free loopback port, as the CLI configures it; yields its base URL."""
    server, url = start_in_thread(create_app(store, trusted_hosts=LOOPBACK_NAMES), "127.0.0.1", 0)
    yield url.rstrip("/")
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def search_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of one real tiny search (run store greenai.db, Optuna search.db).

    Shared by the tests: open it read-only (``open_store(..., mark_stale=False)``) or copy it.
    Under xdist the first worker to need it runs the search and the others wait for it (one
    search per test run, not one per worker: ~40 s each here)."""
    pytest.importorskip("optuna", reason="the search extra (optuna) is not installed")
    pytest.importorskip("torchao", reason="torchao (INT8 quantization) is not installed")
    from filelock import FileLock  # a dependency of torch

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # this run's root
    out = shared / "dashboard-search" / "out"
    with FileLock(str(shared / "dashboard-search.lock")):
        if not (out.parent / "complete").is_file():
            shutil.rmtree(out.parent, ignore_errors=True)  # a worker that failed half-way
            out.parent.mkdir()
            _run_search(out)
            (out.parent / "complete").touch()
    return out


def _run_search(out: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GREENAI_STORE"}
    proc = subprocess.run(
        [sys.executable, "-m", "greenai", *SEARCH_ARGS, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture
def search_copy(search_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the search's output folder (its two databases), for tests that add rows."""
    out = tmp_path / "search-copy"
    out.mkdir()
    for name in ("greenai.db", "search.db"):
        shutil.copy2(search_dir / name, out / name)
    return out


@pytest.fixture
def search_store(search_dir: Path) -> Iterator[RunStore]:
    """The real search's run store, opened as the dashboard opens it (nothing written)."""
    s = open_store(str(search_dir / "greenai.db"), create=False, mark_stale=False)
    yield s
    s.close()
