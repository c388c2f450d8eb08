"""Fixtures for the dashboard tests: a real SQLite run store under tmp_path, filled through the
store's own API, and the dashboard served over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="the dashboard extra (flask) is not installed")
pytest.importorskip("plotly", reason="the dashboard extra (plotly) is not installed")

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
