"""argparse value types: each checks one flag's value inside argparse, so a bad value is one line
and exit 2 before anything else happens."""

from __future__ import annotations

import argparse
import math


def _int(text: str, what: str, lowest: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _int(text, "a positive integer", 1)


def thread_count(text: str) -> int:
    """A positive thread count no larger than the CPUs available: torch segfaults or hangs on
    absurd counts (100000, 4096) instead of saying anything."""
    from greenai.sensors.machine_load import available_cpus  # the sensors package: not at start-up

    value = positive_int(text)
    cpus = available_cpus()
    if value > cpus:
        raise argparse.ArgumentTypeError(f"{value} threads: this process has only {cpus} CPUs")
    return value


def epoch_size(text: str) -> int:
    """A ``--epoch-sizes`` entry: pixels (>= 8), or ``off`` (0: no resizing)."""
    return 0 if text == "off" else _int(text, "pixels (>= 8) or 'off'", 8)


def nonneg_int(text: str) -> int:
    return _int(text, "an integer >= 0", 0)


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _float(text, "a number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def nonneg_float(text: str) -> float:
    value = _float(text, "a number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = _float(text, "a fraction in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def unit_fraction(text: str) -> float:
    """A number in [0, 1]."""
    value = _float(text, "a fraction in [0, 1]")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text!r}")
    return value


def percent(text: str) -> float:
    """A number in (0, 100]."""
    value = _float(text, "a percentage in (0, 100]")
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage in (0, 100], got {text!r}")
    return value
