"""Carbon-aware start: the start time within a window that minimises the forecast CO2 of a job.

The job is assumed to draw constant power for its expected duration, so its CO2 is proportional to
the forecast's mean intensity over [start, start + duration]; the forecast is a step function
(``carbon/series.py``), whose window mean is smallest at a start where the window begins or ends on
one of its steps, so those starts (and now, and the window's end) are the only candidates tried.
Forecast time outside its span keeps the nearest edge value (said in the choice's line).
Clocks and sleeping are passed in: tests never wait.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from greenai.carbon.series import IntensitySeries, iso
from greenai.errors import UsageError

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration_s(text: str, flag: str) -> float:
    """``"8h"``, ``"90m"``, ``"1h30m"``, ``"45s"`` or plain seconds -> seconds (> 0)."""
    t = str(text).strip().lower()
    try:
        value = float(t)
    except ValueError:
        m = _DURATION.match(t)
        if not t or m is None or not any(m.groups()):
            raise UsageError(
                f"{flag} must be a duration such as 8h, 90m, 1h30m or 45s; got {text!r}"
            ) from None
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        value = h * 3600 + mi * 60 + s
    if not value > 0 or value == float("inf"):
        raise UsageError(f"{flag} must be a duration > 0, got {text!r}")
    return value


@dataclass(frozen=True)
class StartChoice:
    """The chosen start and what it is expected to save against starting now."""

    now: float
    start: float
    duration_s: float
    duration_source: str
    g_now: float  # forecast mean over [now, now + duration]
    g_best: float  # forecast mean over [start, start + duration]
    outside_s: float  # seconds of the chosen window the forecast does not cover
    forecast: str

    @property
    def saving_pct(self) -> float:
        return 100.0 * (1.0 - self.g_best / self.g_now) if self.g_now > 0 else 0.0

    @property
    def wait_s(self) -> float:
        return max(0.0, self.start - self.now)

    def line(self) -> str:
        when = (
            "now" if self.wait_s == 0 else f"at {iso(self.start)} (in {self.wait_s / 3600:.2f} h)"
        )
        text = (
            f"carbon-aware start {when}: forecast {self.g_best:.0f} gCO2e/kWh over the expected "
            f"{self.duration_s / 60:.0f} min ({self.duration_source}) against {self.g_now:.0f} "
            f"starting now, an expected saving of {self.saving_pct:.1f}% of the CO2 (forecast "
            f"{self.forecast}; constant power assumed)"
        )
        if self.outside_s > 0:
            text += f"; {self.outside_s:.0f} s of it lie past the forecast (its edge value used)"
        return text


def choose_start(
    forecast: IntensitySeries, now: float, within_s: float, duration_s: float, duration_source: str
) -> StartChoice:
    """The start in [now, now + within_s] with the lowest forecast mean over the job's duration
    (the earliest of equals). Refuses (one line) a forecast that does not reach into the window."""
    latest = now + within_s
    forecast.check_span(now, within_s + duration_s)
    candidates = {now, latest}
    for t in forecast.times:
        for s in (t, t - duration_s):
            if now <= s <= latest:
                candidates.add(s)
    best = min(sorted(candidates), key=lambda s: forecast.mean_between(s, s + duration_s))
    return StartChoice(
        now=now,
        start=best,
        duration_s=duration_s,
        duration_source=duration_source,
        g_now=forecast.mean_between(now, now + duration_s),
        g_best=forecast.mean_between(best, best + duration_s),
        outside_s=forecast.outside_s(best, best + duration_s),
        forecast=f"{forecast.path}, {forecast.kind}",
    )


def wait_until(
    choice: StartChoice,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    every_s: float = 900.0,
) -> None:
    """Sleep until ``choice.start``, saying why first and how long is left every ``every_s``."""
    say(f"greenai: waiting: {choice.line()}")
    while True:
        left = choice.start - clock()
        if left <= 0:
            break
        sleep(min(left, every_s))
        left = choice.start - clock()
        if left > 0:
            say(
                f"greenai: waiting for the cleaner window at {iso(choice.start)}: {left / 60:.0f} min left"
            )
    say(f"greenai: starting at {iso(clock())} (forecast {choice.g_best:.0f} gCO2e/kWh)")
