"""``greenai search --defer-trials``: before each trial, wait for the cleanest start in the window.

Each trial is its own job: the start within ``--start-within`` of *now* (the moment the trial is
about to begin) that minimises the forecast CO2 over the trial's expected duration
(``carbon/schedule.py``: constant power assumed). The expected duration is ``--expected-duration``,
else the median of the search's finished trials in the run store; before any trial has finished
there is nothing to time, so the trial starts at once and says so.

The deferral is shown (one line when the wait begins, progress lines while it lasts, one when the
trial starts) and recorded in the trial's Optuna user attributes as ``deferral``: the chosen start,
the forecast intensities now and then, the expected saving, the seconds actually waited. The clock
and the sleeper are passed in, so tests never wait.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from greenai.carbon.schedule import choose_start, wait_until
from greenai.carbon.series import IntensitySeries, iso, load_series

History = Callable[[], tuple[float, int] | None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class TrialDeferral:
    """``before_trial`` for ``TrialObjective``: wait for the trial's cleanest start, record it."""

    def __init__(
        self,
        forecast: str | IntensitySeries,
        within_s: float,
        *,
        expected_s: float | None = None,
        history: History = lambda: None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] = _stderr,
    ) -> None:
        self.forecast = forecast if isinstance(forecast, IntensitySeries) else load_series(forecast)
        self.within_s = within_s
        self.expected_s = expected_s
        self.history = history
        self.clock, self.sleep, self.say = clock, sleep, say

    def _duration(self) -> tuple[float, str] | None:
        if self.expected_s is not None:
            return float(self.expected_s), "--expected-duration"
        found = self.history()
        if found is None:
            return None
        return found[0], f"median of {found[1]} finished trial(s)"

    def __call__(self, trial: Any) -> None:
        duration = self._duration()
        if duration is None:
            self.say(
                f"search: --defer-trials: no finished trial to time yet; trial #{trial.number} "
                "starts now"
            )
            trial.set_user_attr("deferral", {"deferred": False, "why": "no finished trial to time"})
            return
        before = self.clock()
        choice = choose_start(self.forecast, before, self.within_s, duration[0], duration[1])
        record = {
            "deferred": choice.wait_s > 0,
            "decided_at_utc": iso(before),
            "chosen_start_utc": iso(choice.start),
            "expected_duration_s": choice.duration_s,
            "duration_source": choice.duration_source,
            "forecast_g_per_kwh_now": choice.g_now,
            "forecast_g_per_kwh_chosen": choice.g_best,
            "expected_saving_pct": choice.saving_pct,
            "forecast": choice.forecast,
        }
        trial.set_user_attr("deferral", record)  # recorded before the wait: a killed wait shows
        self.say(f"search: trial #{trial.number}: {choice.line()}")
        if choice.wait_s > 0:
            wait_until(choice, clock=self.clock, sleep=self.sleep, say=self.say)
        trial.set_user_attr("deferral", {**record, "waited_s": max(0.0, self.clock() - before)})
