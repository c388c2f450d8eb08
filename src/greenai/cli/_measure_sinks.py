"""Where ``greenai measure`` records a run: the run store (opened, finished, and read back for the
command's earlier durations) and the optional Prometheus scrape endpoint."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from greenai.errors import UsageError


def _prometheus(port: str | None, sensors: list[Any]) -> Any:
    """The scrape endpoint for ``--prometheus-port`` (None without the flag)."""
    if port is None:
        return None
    from greenai.integrations.prometheus import PrometheusSink, check_port

    def methods() -> dict[str, Any]:
        return {c: m for sensor in sensors for c, m in sensor.methods().items()}

    return PrometheusSink(check_port(port), methods=methods)


def _close(prometheus: Any) -> None:
    if prometheus is not None:
        prometheus.close()


def _open_store(
    url: str | None, out: Path, run_id: str, name: str, command: list[str], carbon: Any
):
    from greenai.storage import StoreSink, open_store

    store = open_store(url, default_dir=out)
    store.create_run(
        run_id,
        name=name,
        variant="measure",
        config={"command": command, "pue": carbon.pue, "intensity_g_per_kwh": carbon.g_per_kwh},
    )
    return store, [StoreSink(store)]


def _history(args: argparse.Namespace, out: Path, name: str, command: list[str]) -> Any:
    """The median duration of this command's finished runs in the store (for --start-within)."""
    from greenai.cli._schedule import median_duration

    if args.no_store:
        return None
    from greenai.storage import open_store

    try:
        store = open_store(args.store, default_dir=out, create=False)
    except UsageError:  # no store yet: no history
        return None
    try:
        runs = store.list_runs(variant="measure")
        return median_duration(
            runs, lambda r: r.name == name and r.config.get("command") == command
        )
    finally:
        store.close()


def _finish_store(
    store: Any, run_id: str, status: str, error: str | None, result: dict[str, Any] | None = None
) -> None:
    if store is None:
        return
    try:
        store.finish_run(run_id, status=status, error=error, result=result)
    finally:
        store.close()
