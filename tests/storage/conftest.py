"""Fixtures for the run-store tests: one store per test, on every backend (Optuna-style)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from greenai.storage import RunStore, open_store

BACKENDS = ["sqlite", "postgresql"]
_store_numbers = itertools.count()


def fresh_postgres_store(postgres_url: str) -> str:
    """The URL of a new, empty store on the test server: its own schema (much cheaper than a
    database per test), chosen through libpq's ``options=-csearch_path=...``."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    name = f"store_{os.getpid()}_{next(_store_numbers)}"
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    ) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return url.update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture
def make_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """``make_store_url(backend)``: the URL of a new, empty store on that backend (skips the
    PostgreSQL cases where no server can be started)."""
    numbers = itertools.count()

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'store{next(numbers)}.db'}"
        return fresh_postgres_store(request.getfixturevalue("postgres_url"))

    return make


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, make_store_url: Callable[[str], str]) -> str:
    """The URL of an empty store: a SQLite file, or a fresh PostgreSQL schema."""
    return make_store_url(request.param)


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[RunStore]:
    with open_store(store_url, default_dir=tmp_path) as opened:
        yield opened
