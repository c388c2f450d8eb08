"""The sampling period of a ``Tracker``: a command-line flag, else ``$GREENAI_INTERVAL``, else 1 s.

Bad values (not a number, not > 0, infinite) are a ``UsageError`` before anything is measured.
"""

from __future__ import annotations

import os

from greenai.errors import UsageError


def check_interval(interval_s: float) -> float:
    """``interval_s`` as a positive, finite number of seconds; else one UsageError line."""
    try:
        value = float(interval_s)
    except (TypeError, ValueError):
        raise UsageError(
            f"sampling interval must be a number of seconds, got {interval_s!r}"
        ) from None
    if not value > 0 or value != value or value == float("inf"):
        raise UsageError(f"sampling interval must be > 0 seconds, got {interval_s!r}")
    return value


INTERVAL_ENV = "GREENAI_INTERVAL"
DEFAULT_INTERVAL_S = 1.0


def sampling_interval(flag: float | str | None = None) -> float:
    """The sampling period: ``flag`` > ``$GREENAI_INTERVAL`` > 1 s. Bad values are a UsageError."""
    if flag is not None:
        return check_interval(flag)
    env = os.environ.get(INTERVAL_ENV) or None
    if env is None:
        return DEFAULT_INTERVAL_S
    try:
        return check_interval(env)
    except UsageError as exc:
        raise UsageError(f"{INTERVAL_ENV}: {exc}") from None
