"""Shared fixtures: a throwaway PostgreSQL server and the CIFAR-10 folder."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Every model's inference on every deployment runtime costs tens of seconds per variant (compiling,
# converting); the suite measures each variant as its step built it, and tests/runtimes/ (and the
# tests that set it themselves) measure the runtimes. Subprocesses inherit it.
os.environ.setdefault("GREENAI_RUNTIMES", "pytorch")
# One OpenMP thread per process (torch reads it at its first parallel region; this file loads before
# any test module imports torch, in every xdist worker). The suite runs 3 workers on 2 cores, so each
# process's 2 OpenMP threads spin-wait on each other: the lifecycle/study tests took ~40 % less CPU
# time (and wall time) with 1 (tests/lifecycle/test_user_workload.py: 83 -> 47 CPU-s). Subprocesses
# inherit it, as the distributed tests' ranks and tests/experiments already ran. No test asserts a
# thread count; the product reports the one it ran with.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# A suite started under nohup, or as a background job of a non-interactive shell, inherits SIGHUP or
# SIGINT ignored, and so would every command a test starts; greenai keeps an ignored signal ignored
# (nohup's choice), so the signal tests failed there (5 of them). They need a terminal's defaults.
for _sig, _default in (
    (signal.SIGINT, signal.default_int_handler),
    (signal.SIGHUP, signal.SIG_DFL),
):
    if signal.getsignal(_sig) is signal.SIG_IGN:
        signal.signal(_sig, _default)
PG_USER = "postgres"
PG_DATABASE = "greenai_test"


def _pg_bin_dir() -> Path | None:
    """Debian keeps the server binaries out of PATH, under /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version_key)
    return Path(candidates[-1]).parent if candidates else None


def _version_key(path: str) -> int:
    with contextlib.suppress(ValueError, IndexError):
        return int(Path(path).parts[-3])
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server tools as the ``postgres`` user then."""
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", PG_USER, "--", *argv]
    return ["su", PG_USER, "-s", "/bin/sh", "-c", " ".join(argv)]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://postgres@127.0.0.1:<port>/greenai_test`` on a server started for this
    test session (trust auth, fsync off) and removed after it. Skips when the server binaries, the
    ``postgres`` user (when running as root) or psycopg are missing."""
    psycopg = pytest.importorskip(
        "psycopg", reason="psycopg not installed: pip install 'greenai[postgres]'"
    )
    bin_dir = _pg_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (run scripts/system-deps.sh)")
    if os.geteuid() == 0:
        try:
            import pwd

            owner = pwd.getpwnam(PG_USER)
        except KeyError:
            pytest.skip(f"running as root and there is no '{PG_USER}' user to run PostgreSQL as")
    # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="greenai-pg-"))
    data, sock_dir = base / "data", base / "sock"
    sock_dir.mkdir()
    if os.geteuid() == 0:
        os.chown(base, owner.pw_uid, owner.pw_gid)
        os.chown(sock_dir, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            **run,
        )
        options = f"-h 127.0.0.1 -p {port} -k {sock_dir} -F -c synchronous_commit=off -c max_connections=100"
        subprocess.run(
            _as_postgres(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(base / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            **run,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        log = base / "server.log"
        detail = log.read_text()[-500:] if log.exists() else getattr(error, "stderr", "")
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {detail}")
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={port} user={PG_USER} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")
        yield f"postgresql+psycopg://{PG_USER}@127.0.0.1:{port}/{PG_DATABASE}"
    finally:
        subprocess.run(
            _as_postgres(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            ),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def cifar10_dir() -> Path:
    """The shared CIFAR-10 folder beside the repository (``../shared/data/cifar10``), or skip."""
    path = (REPO / ".." / "shared" / "data" / "cifar10").resolve()
    if not path.is_dir() or not any(path.iterdir()):
        pytest.skip(f"CIFAR-10 not found at {path}")
    return path


# Whole studies and kill/resume cycles: minutes each on a 2-core machine. They are marked ``heavy``
# here, in one place, and left out of scripts/test.sh's default run (GREENAI_TEST_HEAVY=1 runs them);
# lighter tests cover the same code paths (a user-model study, SIGKILL/SIGINT of a command, PTQ).
HEAVY = (
    "tests/study/test_study_e2e.py::test_small_study_offline_then_reused",
    "tests/study/test_study_all_variants.py::test_every_variant_runs_through_its_command_with_lineage",
    "tests/compression/test_quantize.py::test_qat_on_airbench_loaded_from_a_checkpoint",
    "tests/compression/test_quantize.py::test_ptq_quantizes_every_conv_of_the_green_recipes_airbench_net",
    "tests/reliability/test_study_resume.py::",
    "tests/reliability/test_kill_points.py::",
    "tests/experiments/test_baseline_cli.py::test_sigkill_mid_epoch_then_resume_adds_the_pieces",
    "tests/mlflow/test_mlflow_commands.py::test_a_study_is_a_parent_run_with_one_nested_run_per_step",
    "tests/reliability_cli/test_signals_graceful.py::test_ctrl_c_during_an_int8_quantize_step_is_honoured",
)


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        if item.nodeid.startswith(HEAVY):
            item.add_marker(pytest.mark.heavy)
