"""The per-epoch progress bar: loss, accuracy, power (W) and energy so far (kWh)."""

from __future__ import annotations

import math
from collections.abc import Callable


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

    def update_from(self, batch_index: int, loss: float, acc: float) -> None:
        self.bar.update(batch_index + 1 - self.done)
        self.done = batch_index + 1
        if self.bar.disable:
            return
        now, joules, energy = self.live()
        if self.last_t is not None and self.last_j is not None and now > self.last_t:
            self.power_w = (joules - self.last_j) / (now - self.last_t)
        self.last_t, self.last_j = now, joules
        self.bar.set_postfix(
            loss=f"{loss:.3f}", acc=f"{acc:.1f}%", W=f"{self.power_w:.0f}", kWh=f"{energy:.5f}"
        )

    def close(self, loss: float, acc: float, split: str, eval_acc: float) -> None:
        self.bar.update(self.bar.total - self.done)
        if not self.bar.disable:
            self.bar.set_postfix(
                loss=f"{loss:.3f}", acc=f"{acc:.1f}%", **{split: f"{eval_acc:.1f}%"}
            )
        self.bar.close()
