"""``greenai report``: the study's table, the honest lifecycle columns, charts and one HTML page."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path


def inference_count(text: str) -> int:
    """A whole number of inferences >= 0; accepts ``1000000``, ``1_000_000`` or ``1e6``."""
    try:
        value = float(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of inferences, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(value)


def add_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--inferences", type=inference_count, default=None, metavar="N",
        help="deployment scenario: lifecycle CO2 including N inferences, and the winner at N",
    )  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="tables, charts and an HTML report from the run store or result files",
        description=__doc__,
    )
    src = p.add_argument_group("source (default: the run store)")
    src.add_argument(
        "--store", default=None,
        help="run store URL or SQLite path (default: $GREENAI_STORE, then ./greenai.db)",
    )  # fmt: skip
    src.add_argument("--group", default=None, help="only the runs of this study or search")
    src.add_argument("--runs", nargs="+", default=(), metavar="ID", help="only these run ids")
    src.add_argument(
        "--results-dir", "--results_dir", dest="results_dir", default=None,
        help="read result JSON files from this folder instead of the store",
    )  # fmt: skip
    add_report_args(p)
    p.add_argument(
        "--out", default="results", help="folder for the report files (default: results)"
    )
    p.add_argument("--title", default="greenai report", help="the report's title")
    p.add_argument(
        "--force", action="store_true",
        help="replace a report over other runs (a study's) that is already in --out",
    )  # fmt: skip
    p.set_defaults(func=run)


def _store_runs(args: argparse.Namespace) -> tuple[list, str]:
    from greenai.errors import UsageError
    from greenai.reports.sources import from_store
    from greenai.storage import ENV_VAR, open_store

    if args.store is None and not os.environ.get(ENV_VAR) and not Path("greenai.db").exists():
        raise UsageError(
            "no run store here (./greenai.db); give --store URL, set $GREENAI_STORE, "
            "or read result files with --results-dir DIR"
        )
    with open_store(args.store, default_dir=".", create=False, mark_stale=False) as store:
        runs = from_store(store, group=args.group, run_ids=args.runs)
        where = f"the store {store.url}" + (f", group {args.group!r}" if args.group else "")
        where += f", runs {', '.join(args.runs)}" if args.runs else ""
    if not runs:
        raise UsageError(f"no runs in {where}; run `greenai study` or `greenai baseline` first")
    return runs, where


def run(args: argparse.Namespace) -> int:
    from greenai.errors import UsageError
    from greenai.fsutil import check_out_dir
    from greenai.reports.build import write_report
    from greenai.reports.sources import from_results_dir

    if args.runs and args.group:
        raise UsageError("--runs names the runs; --group selects a study's runs: give one of them")
    check_out_dir(args.out)  # an existing file or an unwritable folder: one line, before reading
    if args.results_dir is not None:
        if args.group or args.store:
            raise UsageError("--results-dir reads files; --store and --group apply to the store")
        runs = from_results_dir(Path(args.results_dir), run_ids=args.runs)
        where = f"result files in {args.results_dir}"
        where += f", runs {', '.join(args.runs)}" if args.runs else ""
        if not runs:
            raise UsageError(f"no result JSON files in {args.results_dir}")
    else:
        runs, where = _store_runs(args)
    files = write_report(
        runs, Path(args.out), inferences=args.inferences, source=where, title=args.title,
        force=args.force,
    )  # fmt: skip
    print(files.terminal_text)
    print(f"wrote {files.markdown}, {files.html}")
    for path in files.charts.values():
        print(f"wrote {path}")
    return 0
