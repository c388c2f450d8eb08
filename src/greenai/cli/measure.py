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
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from greenai.errors import GreenAIError, UsageError

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class CommandNotFound(GreenAIError):
    """The command to measure does not exist or is not executable (exit 127, as shells do)."""

    exit_code = 127


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


def _check_command(command: list[str]) -> None:
    if not command:
        raise UsageError(
            "no command to measure: give it after '--', e.g. greenai measure -- python train.py"
        )
    exe = command[0]
    found = shutil.which(exe) if os.sep not in exe else (exe if os.access(exe, os.X_OK) else None)
    if found is None or os.path.isdir(found):
        raise CommandNotFound(f"command not found or not executable: {exe}")


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent() -> Any:
    """A ``preexec_fn`` that makes the kernel SIGKILL the command if greenai itself dies (even by
    SIGKILL, which greenai cannot catch to forward): a measured command never runs on unmeasured.
    Linux only (None elsewhere). Resolved here, in the parent: the child, forked from a process
    with a sampling thread, only makes one libc call before exec."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # greenai died before the call: do not run orphaned
            os._exit(1)

    return preexec


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _foreground() -> bool:
    """True when greenai (and so the command, same process group) is a terminal's foreground job."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def run(args: argparse.Namespace) -> int:
    from greenai.carbon import CarbonConfig
    from greenai.meter.emissions_csv import check_header
    from greenai.meter.tracker import Tracker, sampling_interval
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


def _rank_jobs(store: Any, since: float) -> list[str]:
    """Jobs whose ranks recorded their shares in this store while the command ran (``greenai.track``
    in each rank, no process group: ``lifecycle.rank_job``): their totals are formed now, a rank
    that never finished marking its job incomplete. One summary line per job."""
    if store is None:
        return []
    from greenai.lifecycle.rank_job import settle_since

    lines = []
    try:
        for job_id, _state in settle_since(store, since):
            job = store.get_run(job_id)
            energy = "?" if job.energy_kwh is None else f"{job.energy_kwh:.6g} kWh"
            why = f": {job.error}" if job.error else ""
            lines.append(
                f"  ranks' job {job_id} ({job.status}): {energy} summed over its ranks{why}"
            )
    except Exception as exc:  # the command's own record matters more
        lines.append(f"greenai: warning: could not total the ranks' jobs: {exc}")
    return lines


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


def _result(m: Any, tracker: Any, csv_path: Path) -> dict[str, Any]:
    """The run's result JSON (``greenai.track``'s, variant "measure"): energy, CO2 and, beside
    them, the embodied carbon of this machine (and the GPUs the meter read) for the run's time."""
    from greenai.lifecycle.recorded import build_result

    gpus = int(tracker.hardware().get("gpu_count") or 0)
    used_gpu = m.energy_j.get("gpu", 0.0) > 0
    return build_result(
        m, group=None, model=None, dataset=None, device="cuda" if used_gpu else "cpu",
        emissions_csv=csv_path, gpus=gpus, variant="measure",
    )  # fmt: skip


def _finish_store(
    store: Any, run_id: str, status: str, error: str | None, result: dict[str, Any] | None = None
) -> None:
    if store is None:
        return
    try:
        store.finish_run(run_id, status=status, error=error, result=result)
    finally:
        store.close()


def _print_summary(
    command: list[str],
    code: int,
    m: Any,
    csv_path: Path,
    store: Any,
    run_id: str,
    result: dict[str, Any] | None = None,
) -> None:
    from greenai.meter.types import COMPONENTS, kwh

    err = sys.stderr
    print(
        f"greenai measure: '{' '.join(command)}' exited with {code} after {m.duration_s:.2f} s",
        file=err,
    )
    for c in COMPONENTS:
        joules = m.energy_j.get(c, 0.0)
        label = m.methods[c].label() if c in m.methods else "not measured"
        print(f"  {c:<4} {kwh(joules):.6g} kWh ({joules:.4g} J)  {label}", file=err)
    print(
        f"  total {m.energy_kwh:.6g} kWh from the grid (PUE {m.pue:g}); CO2 {m.co2_kg:.6g} kg",
        file=err,
    )
    print(f"  carbon intensity {m.intensity.g_per_kwh:g} gCO2e/kWh: {m.intensity.source}", file=err)
    from greenai.results.resultfile import piece_from_measurement
    from greenai.uncertainty import plus_minus

    b = piece_from_measurement(m)  # the bands (greenai.uncertainty)
    print(
        f"  band: energy {plus_minus(m.energy_kwh, b['energy_kwh_low'], b['energy_kwh_high'])} "
        f"kWh, CO2 {plus_minus(m.co2_kg, b['co2_kg_low'], b['co2_kg_high'])} kg",
        file=err,
    )
    if result is not None:
        from greenai.results.bands import summary_lines

        for line in summary_lines(result)[1:]:  # the embodied carbon, beside the CO2 above
            print(line, file=err)
    where = f"{csv_path}" + (f" and {store.url}" if store is not None else "")
    print(f"  run {run_id} recorded in {where}", file=err)
