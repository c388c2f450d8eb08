"""Run a command and report its energy and CO2: greenai measure [options] -- COMMAND ARGS...

Runs the command (its whole process tree is followed), forwards SIGINT/SIGTERM/SIGHUP to it, exits
with its exit code (128+N when killed by signal N), and prints a summary on stderr (stdout stays the
command's). Records go to ``<out>/emissions.csv`` and the run store (``--store``, default
``sqlite:///<out>/greenai.db``; a finished command's run holds a result like ``greenai.track``'s,
with the hardware's embodied carbon beside the CO2). All input is checked before anything is
started or written.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from greenai.cli._measure_process import (
    FORWARDED_SIGNALS,
    CommandNotFound,
    _check_command,
    _die_with_parent,
    _exit_code,
    _foreground,
)
from greenai.cli._measure_report import _print_summary, _rank_jobs, _result
from greenai.cli._measure_sinks import _close, _finish_store, _history, _open_store, _prometheus
from greenai.errors import UsageError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "measure",
        help="run a command and report its energy and CO2",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument(
        "--country", metavar="ISO", help="ISO 3166 code (NZL or NZ) for the grid's carbon intensity"
    )
    p.add_argument(
        "--pue", metavar="X", help="data centre power usage effectiveness, >= 1.0 (default 1.0)"
    )
    p.add_argument(
        "--intensity",
        metavar="G_PER_KWH",
        help="grid carbon intensity in gCO2e/kWh (overrides --country)",
    )
    from greenai.cli.common import add_embodied_args, add_series_arg

    add_series_arg(p)
    add_embodied_args(p)
    from greenai.cli._schedule import add_schedule_args

    add_schedule_args(p)
    p.add_argument(
        "--interval",
        metavar="S",
        default=None,
        help="sampling interval in seconds (default $GREENAI_INTERVAL, else 1)",
    )
    p.add_argument(
        "--out", metavar="DIR", default=".", help="folder for emissions.csv and the default store"
    )
    p.add_argument("--name", help="run name (default: the command's name)")
    p.add_argument(
        "--store",
        metavar="URL",
        help="run store URL (default $GREENAI_STORE, else sqlite:///<out>/greenai.db)",
    )
    p.add_argument("--no-store", action="store_true", help="do not record the run in the store")
    p.add_argument(
        "--prometheus-port",
        metavar="PORT",
        help="serve the live figures for Prometheus on 127.0.0.1:PORT while the command runs "
        "(needs greenai[prometheus])",
    )
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    p.set_defaults(func=run)


def _check_out_dir(out: Path) -> None:
    """Refuse an output folder that cannot be created or written, before anything is written."""
    from greenai.fsutil import check_out_dir

    check_out_dir(out)


def run(args: argparse.Namespace) -> int:
    from greenai.carbon import CarbonConfig
    from greenai.meter.emissions_csv import check_header
    from greenai.meter.interval import sampling_interval
    from greenai.meter.tracker import Tracker
    from greenai.sensors import ProcessTree, default_sensors

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    _check_command(command)
    from greenai.cli import _schedule

    _schedule.check(args)
    from greenai.cli.common import apply_embodied

    apply_embodied(args)  # before resolve: a flag beats a (bad) variable
    carbon = CarbonConfig.resolve(
        args.country, args.pue, args.intensity, intensity_series=args.intensity_series
    )
    from greenai.cli.common import check_series_span

    check_series_span(carbon, args)
    interval_s = sampling_interval(args.interval)
    out = Path(args.out)
    _check_out_dir(out)
    csv_path = out / "emissions.csv"
    check_header(csv_path)
    name = args.name or Path(command[0]).name
    if not _schedule.maybe_wait(args, lambda: _history(args, out, name, command)):
        return 0  # --dry-run: the chosen start is printed, nothing runs
    tree = ProcessTree.for_command()
    sensors = default_sensors(tree=tree)  # a garbage powercap counter: one line, nothing written
    try:  # a port in use: one line, nothing written
        prometheus = _prometheus(args.prometheus_port, sensors)
    except BaseException:
        for sensor in sensors:
            sensor.close()
        raise

    created = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. a folder that vanished or filled up since the check
        raise UsageError(f"--out {out} cannot be created: {exc.strerror or exc}") from None
    store, sinks = None, []
    name = args.name or Path(command[0]).name
    from greenai.meter.tracker import make_run_id

    run_id = make_run_id()
    if not args.no_store:
        try:
            store, sinks = _open_store(args.store, out, run_id, name, command, carbon)
        except BaseException:
            for sensor in sensors:
                sensor.close()
            if prometheus is not None:
                prometheus.close()
            for folder in created:  # a bad --store leaves no folder behind (they are empty)
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise

    tracker = Tracker(
        name,
        run_id=run_id,
        carbon=carbon,
        interval_s=interval_s,
        sinks=[*sinks, *([prometheus] if prometheus is not None else [])],
        emissions_csv=csv_path,
        sensors=sensors,
    )
    tracker.start()
    try:
        proc = subprocess.Popen(command, preexec_fn=_die_with_parent())
    except OSError as exc:
        tracker.stop()
        _close(prometheus)
        _finish_store(store, run_id, "failed", f"could not start: {exc.strerror or exc}")
        raise CommandNotFound(f"cannot run {command[0]}: {exc.strerror or exc}") from None
    tree.attach(proc.pid)

    def forward(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT and _foreground():
            return  # the terminal already sent it to the command (same process group)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    proc.returncode = code = _exit_code(status)
    tree.set_final_cpu_s(usage.ru_utime + usage.ru_stime)
    measurement = tracker.stop()
    _close(prometheus)
    ranks = _rank_jobs(store, measurement.start_time)  # its ranks' own job totals, if any
    status_word = "done" if code == 0 else ("interrupted" if code > 128 else "failed")
    result = _result(measurement, tracker, csv_path)  # with its embodied carbon, as a tracked run's
    error = None if code == 0 else f"exit code {code}"
    _finish_store(store, run_id, status_word, error, result if code == 0 else None)
    _print_summary(command, code, measurement, csv_path, store, run_id, result)
    for line in ranks:
        print(line, file=sys.stderr)
    return code
