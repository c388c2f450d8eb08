"""The carbon-aware start flags shared by measure, baseline, study and search:
``--start-within 8h --forecast FILE [--expected-duration 2h] [--dry-run]``.

The job's expected duration is the flag's, else the median duration of the same job's finished runs
in the store (same command for measure; same training settings for baseline); without either the
command refuses in one line. ``--dry-run`` prints the chosen start and the expected saving and runs
nothing. No torch here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from greenai.errors import UsageError

IGNORED_SETTINGS = ("data_dir", "download", "seed", "device")  # do not change a job's duration much


def add_schedule_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("carbon-aware start (carbon/schedule.py)")
    g.add_argument(
        "--start-within", "--start_within", dest="start_within", default=None, metavar="DURATION",
        help="start at the time within this window (e.g. 8h) that minimises the forecast CO2 over "
        "the job's expected duration; needs --forecast",
    )  # fmt: skip
    g.add_argument(
        "--forecast", default=None, metavar="CSV",
        help="intensity forecast, in any --intensity-series layout",
    )  # fmt: skip
    g.add_argument(
        "--expected-duration", "--expected_duration", dest="expected_duration", default=None,
        metavar="DURATION",
        help="the job's expected duration (default: the median of the same job's finished runs "
        "in the store)",
    )  # fmt: skip
    g.add_argument(
        "--dry-run", "--dry_run", dest="dry_run", action="store_true",
        help="with --start-within: print the chosen start and the expected saving, run nothing",
    )  # fmt: skip


def check(args: argparse.Namespace) -> None:
    """Validate the flags (one line each) and convert durations to seconds, before any work."""
    from greenai.carbon.schedule import parse_duration_s

    within, forecast = getattr(args, "start_within", None), getattr(args, "forecast", None)
    if (within is None) != (forecast is None):
        raise UsageError("--start-within and --forecast go together (the window and the forecast)")
    if getattr(args, "dry_run", False) and within is None:
        raise UsageError("--dry-run needs --start-within and --forecast")
    if within is not None:
        args.start_within = parse_duration_s(within, "--start-within")
    if getattr(args, "expected_duration", None) is not None:
        args.expected_duration = parse_duration_s(args.expected_duration, "--expected-duration")


def median_duration(
    records: Iterable[Any], same: Callable[[Any], bool]
) -> tuple[float, int] | None:
    """The median duration of the finished records ``same`` accepts, and how many there were."""
    durations = [r.duration_s for r in records if r.status == "done" and r.duration_s and same(r)]
    return (statistics.median(durations), len(durations)) if durations else None


def same_settings(config: dict[str, Any]) -> Callable[[Any], bool]:
    """A record of the same training job: its settings equal, ignoring ``IGNORED_SETTINGS``."""
    want = {k: v for k, v in config.items() if k not in IGNORED_SETTINGS}
    return lambda r: (
        {k: v for k, v in (r.config or {}).items() if k not in IGNORED_SETTINGS} == want
    )


def maybe_wait(
    args: argparse.Namespace,
    history: Callable[[], tuple[float, int] | None],
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Wait for the chosen start when ``--start-within`` is given. False: ``--dry-run``, the
    caller runs nothing. ``history()``: the same job's median duration in the store and count."""
    if getattr(args, "start_within", None) is None:
        return True
    from greenai.carbon.schedule import choose_start, wait_until
    from greenai.carbon.series import load_series

    forecast = load_series(args.forecast)
    if args.expected_duration is not None:
        duration, source = float(args.expected_duration), "--expected-duration"
    else:
        found = history()
        if found is None:
            raise UsageError(
                "--start-within needs the job's expected duration: give --expected-duration "
                "(the store has no finished run of this job)"
            )
        duration, source = found[0], f"median of {found[1]} earlier run(s) in the store"
    choice = choose_start(forecast, clock(), args.start_within, duration, source)
    if args.dry_run:
        print(f"greenai: dry run: {choice.line()}")
        print(f"start_at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(choice.start))}")
        print(f"expected_saving_pct {choice.saving_pct:.1f}")
        return False
    wait_until(
        choice, clock=clock, sleep=sleep, say=lambda s: print(s, file=sys.stderr, flush=True)
    )
    return True


def group_history(args: argparse.Namespace, group: str) -> tuple[float, int] | None:
    """A study's or search's expected duration: the sum of its finished runs' durations in the
    store (the latest run per variant and device counted), with how many runs were summed."""
    from greenai.storage import open_store

    try:
        store = open_store(args.store, default_dir=args.out, create=False)
    except UsageError:  # no store yet: no history
        return None
    try:
        latest: dict[tuple[Any, Any], Any] = {}
        for r in store.list_runs(group=group, status="done"):
            latest[(r.variant, r.device, r.name)] = r
        durations = [r.duration_s for r in latest.values() if r.duration_s]
        return (sum(durations), len(durations)) if durations else None
    finally:
        store.close()
