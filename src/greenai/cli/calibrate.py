"""``greenai calibrate``: fit this machine's CPU power curve under a short load ladder, or show it."""

from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="fit this machine's CPU power curve (RAPL or a wall-meter CSV) for later estimates",
        description="Run a short load ladder (idle, then 1..N busy processes), read RAPL or a "
        "wall-meter CSV (timestamp,watts) recorded meanwhile, fit the machine's power curve and "
        "store it by host and CPU model. Later runs without a readable sensor use it, labelled "
        "'estimated: calibrated on HOST at DATE'. Stored in $GREENAI_CALIBRATION, else "
        "~/.config/greenai/calibration.json.",
    )
    p.add_argument("--show", action="store_true", help="print the stored curve and where it is")
    p.add_argument(
        "--max-threads",
        type=int,
        default=None,
        help="busiest step's process count (default: the logical CPUs, os.cpu_count())",
    )
    p.add_argument(
        "--step-seconds", type=float, default=5.0, help="seconds per ladder step (default 5)"
    )
    p.add_argument(
        "--settle-seconds",
        type=float,
        default=0.5,
        help="seconds each step waits before measuring (default 0.5)",
    )
    p.add_argument(
        "--wall-csv",
        metavar="FILE",
        default=None,
        help="a wall meter's log (timestamp in Unix seconds, watts) recorded during the ladder; "
        "default: RAPL",
    )
    p.add_argument(
        "--powercap-root",
        metavar="DIR",
        default=None,
        help="powercap folder (default: $GREENAI_POWERCAP_ROOT, else /sys/class/powercap)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from greenai.errors import UsageError
    from greenai.sensors import calibration as cal
    from greenai.sensors.cpu_model import read_cpuinfo

    model = read_cpuinfo().model_name
    if args.show:
        return _show(model)
    threads = args.max_threads if args.max_threads is not None else (os.cpu_count() or 1)
    if threads < 1:
        raise UsageError(f"--max-threads must be at least 1, got {threads}")
    for flag, value in (
        ("--step-seconds", args.step_seconds),
        ("--settle-seconds", args.settle_seconds),
    ):
        if not value >= 0 or (flag == "--step-seconds" and value <= 0):
            raise UsageError(f"{flag} must be > 0, got {value:g}")
    read_j, sensor = None, f"wall meter {args.wall_csv}"
    if args.wall_csv is None:
        from greenai.sensors.base import SensorUnavailable
        from greenai.sensors.rapl import RaplSensor

        try:
            rapl = RaplSensor(args.powercap_root)
        except SensorUnavailable as exc:
            raise UsageError(
                f"no power reading to calibrate against: {exc.reason} (fix it, or give --wall-csv FILE)"
            ) from None

        def read_j() -> float:
            return rapl.read_j()["cpu"]

        sensor = f"RAPL package counters under {rapl.root}"
    elif not os.path.isfile(args.wall_csv):
        raise UsageError(f"--wall-csv {args.wall_csv}: no such file")
    err = sys.stderr
    print(
        f"greenai: calibrating {model}: idle, then 1..{threads} busy processes, {args.step_seconds:g} s each",
        file=err,
    )
    steps = cal.run_ladder(
        threads,
        args.step_seconds,
        read_j,
        stat_path=os.environ.get(cal.PROC_STAT_ENV) or "/proc/stat",
        settle_s=args.settle_seconds,
        say=lambda m: print(m, file=err),
    )
    if args.wall_csv is not None:
        steps = cal.wall_csv_watts(args.wall_csv, steps)
    path, entry = cal.store(steps, model, sensor)
    print(f"stored in {path}")
    _print_curve(cal.curve_from_entry(entry, path))
    return 0


def _show(model: str) -> int:
    from greenai.sensors import calibration as cal

    path = cal.calibration_path()
    entry = cal.load_entry(model)
    if entry is None:
        print(f"no calibration for this machine ({model}) in {path}; run greenai calibrate")
        return 0
    print(f"calibration stored in {path}")
    _print_curve(cal.curve_from_entry(entry, path))
    return 0


def _print_curve(curve: object) -> None:
    print(f"  {curve.source}")  # type: ignore[attr-defined]
    print(f"  {curve.detail}")  # type: ignore[attr-defined]
    print("  load   watts")
    for u, w in curve.points:  # type: ignore[attr-defined]
        print(f"  {u:4.0%}  {w:7.2f}")
