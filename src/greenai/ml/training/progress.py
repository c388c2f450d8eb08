"""Progress for a person watching: the per-epoch bar (loss, accuracy, power, energy so far), the
overall line above it (where the run is, time spent, a rough time left), and one line per phase of
a step that has no epochs to count (prune, quantize, distill, export).

Time-left figures are rough by construction: the time spent so far per unit of work (an epoch, or
a study's step weighted by its epochs) times the units left. They say so, and say what they are
based on.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


def clock_text(seconds: float) -> str:
    """``3h05m``, ``12m04s`` or ``35s``: a duration to read at a glance."""
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def remaining_text(done: float, total: float, elapsed_s: float, based_on: str) -> str:
    """``about 12m04s left (rough: from <based_on>)``, or why no figure can be given yet."""
    if done <= 0 or elapsed_s <= 0:
        return f"time left known after the first {based_on}"
    left = max(0.0, total - done) * elapsed_s / done
    return f"about {clock_text(left)} left (rough: from the {based_on} so far)"


def overall_line(what: str, done: float, total: float, elapsed_s: float, unit: str) -> str:
    """The overall line: ``<what>: 12m04s elapsed, about 30m left (rough: ...)``."""
    return f"{what}: {clock_text(elapsed_s)} elapsed, " + remaining_text(
        done, total, elapsed_s, unit
    )


def say(line: str, enabled: bool = True, stream: TextIO | None = None) -> None:
    """Print a progress line above any live bar (tqdm keeps its bars below what it writes)."""
    if not enabled:
        return
    from tqdm import tqdm

    tqdm.write(line, file=stream or sys.stderr)


def epoch_reporter(
    what: str, epochs: int, enabled: bool = True, clock: Callable[[], float] = time.monotonic
) -> Callable[[int, float], None]:
    """``on_epoch`` for ``compression.distill.fit``: one overall line per finished epoch of a
    fine-tuning, QAT or distillation (``<what>: epoch 2 of 20 done, loss ...: elapsed, left``)."""
    start = clock()

    def report(epoch: int, loss: float) -> None:
        what_now = f"{what}: epoch {epoch} of {epochs} done, loss {loss:.3f}"
        say(overall_line(what_now, epoch, epochs, clock() - start, "epochs"), enabled)

    return report


@contextmanager
def phase_line(
    what: str,
    enabled: bool = True,
    clock: Callable[[], float] = time.monotonic,
    stream: TextIO | None = None,
) -> Iterator[None]:
    """``<what> ...`` when a phase starts and ``<what>: done in 12s`` when it ends, for steps whose
    work has no batches to count (a prune's fine-tuning has its own lines per epoch)."""
    start = clock()
    say(f"{what} ...", enabled, stream)
    yield
    say(f"{what}: done in {clock_text(clock() - start)}", enabled, stream)


class EpochBar:
    """A tqdm bar over one epoch's batches: loss, accuracy, power (W) and energy so far (kWh)."""

    def __init__(
        self,
        epoch: int,
        epochs: int,
        steps: int,
        *,
        enabled: bool,
        live: Callable[[], tuple[float, float, float]],
    ) -> None:
        """``live()`` -> (seconds metered, hardware energy J so far, grid kWh so far in all pieces)."""
        from tqdm import tqdm

        self.live = live
        self.bar = tqdm(
            total=steps,
            desc=f"epoch {epoch}/{epochs}",
            disable=not enabled,
            unit="batch",
            leave=True,
        )
        self.done = 0
        self.last_t: float | None = None
        self.last_j: float | None = None
        self.power_w = math.nan
        self.predicted: str | None = None  # the run's predicted total energy, once known

    def update_from(self, batch_index: int, loss: float, acc: float) -> None:
        self.bar.update(batch_index + 1 - self.done)
        self.done = batch_index + 1
        if self.bar.disable:
            return
        now, joules, energy = self.live()
        if self.last_t is not None and self.last_j is not None and now > self.last_t:
            self.power_w = (joules - self.last_j) / (now - self.last_t)
        elif now > 0:  # first update: the mean since the meter started, not "nan"
            self.power_w = joules / now
        self.last_t, self.last_j = now, joules
        shown = {"loss": f"{loss:.3f}", "train_acc": f"{acc:.1f}%"}
        if math.isfinite(self.power_w):
            shown["W"] = f"{self.power_w:.0f}"
        if self.predicted is not None:
            shown["total~"] = self.predicted
        self.bar.set_postfix(**shown, kWh=f"{energy:.5f}")

    def close(
        self, loss: float, acc: float, split: str, eval_acc: float, eval_how: str = ""
    ) -> None:
        """Final postfix: the training batches' accuracy (augmented, weights changing) and the
        epoch's ``split`` accuracy, named with how it was taken (``eval_how``, e.g. "no TTA"):
        the run's final figure may differ (taken with test-time augmentation)."""
        self.bar.update(self.bar.total - self.done)
        if not self.bar.disable:
            key = f"{split}_acc" + (f"({eval_how})" if eval_how else "")
            self.bar.set_postfix(
                loss=f"{loss:.3f}", train_acc=f"{acc:.1f}%", **{key: f"{eval_acc:.1f}%"}
            )
        self.bar.close()
