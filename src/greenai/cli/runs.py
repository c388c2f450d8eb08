"""``greenai runs``: list the run store's runs; ``greenai runs show ID``: one run in full.

An empty store (or no run matching the filters) is not an error: the command says so in one line
and exits 0 (``--json`` prints ``[]``), so scripts can tell "nothing yet" from a failure. A missing
store file, an unreachable store or an unknown run id exit 2 with one line.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported only when the command runs
    from greenai.storage import RunRecord, RunStore

STATUSES = ("running", "done", "failed", "interrupted", "stopped: budget", "pruned")  # storage
LIST_HEADERS = (
    "run id",
    "variant",
    "model",
    "device",
    "status",
    "acc %",
    "energy kWh",
    "CO2 kg",
    "parent",
    "worker",  # host:pid of the process that ran it (a search's trials: which worker, which host)
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "runs",
        help="list the runs in the run store, or show one (runs show ID)",
        description="List the runs in the run store (id, variant, model, device, status, accuracy, "
        "energy, CO2, parent), or show one run with its phases and lineage: greenai runs show ID.",
        epilog="An empty store prints a line saying so and exits 0; an unknown run id exits 2.",
    )
    _add_common(p, defaults=True)
    p.add_argument("--group", default=None, help="only runs of this study or search")
    p.add_argument("--variant", default=None, help="only runs of this variant (e.g. baseline)")
    p.add_argument("--status", choices=STATUSES, default=None, help="only runs with this status")
    p.set_defaults(func=list_command)
    sub = p.add_subparsers(dest="runs_command", title="subcommand", metavar="show ID")
    show = sub.add_parser("show", help="one run with its phases, epochs and lineage")
    show.add_argument("run_id", metavar="ID", help="the run id (as listed by greenai runs)")
    _add_common(show, defaults=False)
    show.set_defaults(func=show_command)


def _add_common(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    # On "show" the defaults are suppressed so that flags given before "show" are not reset.
    unset: dict[str, Any] = {} if defaults else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--store",
        metavar="URL",
        help="run store URL or SQLite file (default: $GREENAI_STORE, else ./greenai.db)",
        **({"default": None} if defaults else unset),
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON instead of a table", **unset
    )


def _open(args: argparse.Namespace) -> RunStore:
    from greenai.storage import open_store

    return open_store(args.store, default_dir=".", create=False)


def list_command(args: argparse.Namespace) -> int:
    with _open(args) as store:
        runs = store.list_runs(group=args.group, variant=args.variant, status=args.status)
        if args.json:
            print(json.dumps([run.to_dict() for run in runs], indent=2))
            return 0
        if not runs:
            print(f"no runs{_filters(args)} in the store {store.url}")
            return 0
        rows = [
            [
                r.run_id,
                r.variant,
                r.model,
                r.device,
                r.status,
                _num(r.accuracy, ".2f"),
                _num(r.energy_kwh, ".4g"),
                _num(r.co2_kg, ".4g"),
                r.parent_run_id,
                f"{r.host}:{r.pid}",
            ]
            for r in runs
        ]
        print(format_table(LIST_HEADERS, rows))
        return 0


def show_command(args: argparse.Namespace) -> int:
    with _open(args) as store:
        run = store.get_run(args.run_id)
        phases = store.phases(run.run_id)
        epochs = store.epochs(run.run_id)
        lineage = store.lineage(run.run_id)
        n_samples = len(store.samples(run.run_id))
    if args.json:
        doc = run.to_dict()
        doc["phases"] = [
            {
                "path": p.path,
                "start_time": p.start_time,
                "duration_s": p.duration_s,
                "energy_j": p.energy_j,
                "energy_kwh": p.energy_kwh,
                "co2_kg": p.co2_kg,
            }
            for p in phases
        ]
        doc["epochs"] = [e.to_dict() for e in epochs]
        doc["lineage"] = [r.run_id for r in lineage]
        doc["sample_count"] = n_samples
        print(json.dumps(doc, indent=2))
        return 0
    print(describe_run(run))
    print(f"samples: {n_samples}")
    if epochs:
        last = epochs[-1]
        shown = ", ".join(
            f"{k}={_num(v, '.4g') if isinstance(v, float) else v}" for k, v in last.metrics.items()
        )
        print(f"epochs: {len(epochs)} (last: epoch {last.epoch}: {shown})")
    else:
        print("epochs: none recorded")
    if phases:
        print("phases:")
        rows = [
            [p.path, _num(p.duration_s, ".1f"), _num(p.energy_kwh, ".4g"), _num(p.co2_kg, ".4g")]
            for p in phases
        ]
        print(
            _indent(format_table(("path", "duration s", "energy kWh (before PUE)", "CO2 kg"), rows))
        )
    else:
        print("phases: none recorded")
    print("lineage: " + " <- ".join(f"{r.run_id} ({r.variant or r.name})" for r in lineage))
    if lineage[-1].parent_run_id:
        print(f"         (parent {lineage[-1].parent_run_id} is not in this store)")
    return 0


def describe_run(run: RunRecord) -> str:
    """The run's own fields as aligned ``key: value`` lines."""
    fields = [
        ("run id", run.run_id),
        ("name", run.name),
        ("variant", run.variant),
        ("model", run.model),
        ("dataset", run.dataset),
        ("device", run.device),
        ("group", run.group),
        ("parent", run.parent_run_id),
        ("status", run.status),
        ("host / pid", f"{run.host} / {run.pid}"),
        ("started", _time(run.started_at)),
        ("last heartbeat", _time(run.heartbeat_at)),
        ("finished", _time(run.finished_at)),
        ("duration s", _num(run.duration_s, ".1f")),
        ("accuracy %", _num(run.accuracy, ".2f")),
        ("energy kWh", _num(run.energy_kwh, ".4g")),
        ("CO2 kg", _num(run.co2_kg, ".4g")),
        ("error", run.error),
    ]
    width = max(len(k) for k, _ in fields)
    return "\n".join(f"{k + ':':<{width + 1}} {'-' if v is None else v}" for k, v in fields)


def format_table(headers: tuple[str, ...] | list[str], rows: list[list[Any]]) -> str:
    """Rows under headers, columns padded to their widest cell; None shows as "-"."""
    cells = [list(headers)] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _filters(args: argparse.Namespace) -> str:
    given = [f"{k}={getattr(args, k)}" for k in ("group", "variant", "status") if getattr(args, k)]
    return f" matching {', '.join(given)}" if given else ""


def _num(value: float | None, spec: str) -> str | None:
    return None if value is None else format(value, spec)


def _time(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
