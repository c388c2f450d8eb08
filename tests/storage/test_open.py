"""Opening a store: where the URL comes from, and one clear line for every bad or unreachable one."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from greenai.errors import UsageError
from greenai.storage import ENV_VAR, StoreError, open_store, resolve_url


def test_url_comes_from_the_argument_then_the_environment_then_the_default_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_url(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/greenai.db"
    monkeypatch.setenv(ENV_VAR, "sqlite:////env/store.db")
    assert resolve_url(None, tmp_path) == "sqlite:////env/store.db"
    assert resolve_url("sqlite:////arg.db", tmp_path) == "sqlite:////arg.db"


def test_plain_paths_and_postgresql_urls_are_accepted(tmp_path: Path) -> None:
    assert resolve_url(str(tmp_path / "x.db"), tmp_path) == f"sqlite:///{tmp_path / 'x.db'}"
    assert resolve_url("postgresql://u@h:5/db", tmp_path) == "postgresql+psycopg://u@h:5/db"
    assert resolve_url("postgres://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"


def test_default_store_is_created_with_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with open_store(None, default_dir=tmp_path / "out") as store:
        store.create_run("r")
    path = tmp_path / "out" / "greenai.db"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT run_id FROM runs").fetchall() == [("r",)]


def test_plain_path_store_is_shared_by_reopening(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    with open_store(str(path), default_dir=tmp_path) as store:
        store.create_run("kept")
    with open_store(f"sqlite:///{path}", default_dir=tmp_path) as store:
        assert store.get_run("kept").run_id == "kept"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("foo://bar", "unsupported store URL"),
        ("mysql://user@localhost/db", "missing driver"),
        ("sqlite:////proc/no/such/dir/x.db", "cannot create"),
        ("postgresql://nobody@127.0.0.1:{port}/db", "cannot reach the run store"),
        ("postgresql://nobody:secret@127.0.0.1:{port}/db", "cannot reach the run store"),
    ],
)
def test_bad_urls_fail_with_one_line(tmp_path: Path, url: str, expected: str) -> None:
    with pytest.raises(UsageError) as info:
        open_store(url.format(port=_closed_port()), default_dir=tmp_path)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert "secret" not in message  # passwords never printed


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match=r"junk\.db"):
        open_store(str(junk), default_dir=tmp_path)
    assert junk.read_bytes() == b"this is not sqlite" * 100


def test_a_folder_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a folder"):
        open_store(str(tmp_path), default_dir=tmp_path)


def test_create_false_refuses_a_missing_store_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no run store at"):
        open_store(str(tmp_path / "absent.db"), default_dir=tmp_path, create=False)
    assert list(tmp_path.iterdir()) == []


def test_a_store_from_a_newer_greenai_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    open_store(str(path), default_dir=tmp_path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE greenai_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(UsageError, match="schema version 99"):
        open_store(str(path), default_dir=tmp_path)


def test_postgresql_scheme_without_driver_name_works(postgres_url: str, tmp_path: Path) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with open_store(plain, default_dir=tmp_path) as store:
        assert store.url.startswith("postgresql+psycopg://")
        assert isinstance(store.list_runs(), list)


def test_a_read_only_store_can_be_read_and_writes_fail_with_one_line(
    tmp_path: Path, capsys
) -> None:
    path = tmp_path / "ro.db"
    code = (
        "from greenai.storage import open_store; "
        f"open_store({str(path)!r}, default_dir='.').create_run('left-running')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # exits without finishing its run
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    with open_store(url, default_dir=tmp_path) as store:
        assert "could not mark interrupted runs" in capsys.readouterr().err
        assert [r.status for r in store.list_runs()] == ["running"]
        with pytest.raises(StoreError, match="readonly") as info:
            store.create_run("new")
        assert "\n" not in str(info.value)
    with open_store(str(path), default_dir=tmp_path) as store:  # writable again: now marked
        assert store.get_run("left-running").status == "interrupted"
