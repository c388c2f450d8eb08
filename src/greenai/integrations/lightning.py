"""Energy inside Lightning's ``Trainer``: ``GreenAICallback`` (``lightning`` or ``pytorch_lightning``).

```python
from greenai.integrations.lightning import GreenAICallback
trainer = lightning.Trainer(max_epochs=3, callbacks=[GreenAICallback(store="greenai.db")])
trainer.fit(model, train_loader, val_loader)
```

One greenai run per ``fit()`` (recorded in the run store as a tracked run), with a phase per epoch
(``epoch_1``, ...) and per validation (``eval``). Every ``log_every_n_steps`` training steps, and at
the end of each epoch and of ``fit()``, the figures of ``greenai.integrations.training_energy`` are
sent to every logger of the trainer (CSV, TensorBoard, MLflow, W&B, ...) with ``log_metrics``, at the
trainer's global step; the last call (end of ``fit()``) ends the run, so the logged deltas add up
to the recorded energy. J per training sample and per token are counted from each training batch
(a mapping with ``input_ids`` / ``attention_mask`` counts tokens; a tensor or tuple counts rows).

Under torchrun/SLURM with a store every rank meters its share and the store holds the job's one
total; otherwise only the local main process meters (``trainer.local_rank == 0`` and
``LOCAL_RANK``): see ``training_energy``.
"""

from __future__ import annotations

from typing import Any

from greenai.errors import MissingExtraError
from greenai.integrations.training_energy import TrainingEnergy, batch_counts

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:
    try:
        from pytorch_lightning.callbacks import Callback
    except ImportError:  # the class below must still be importable to raise the one-line error
        Callback = object  # type: ignore[assignment,misc]


class GreenAICallback(Callback):  # type: ignore[misc,valid-type]
    """A Lightning ``Callback`` that meters ``fit()`` (module docstring).

    ``name`` names the recorded run; ``prometheus_port`` serves the live figures on 127.0.0.1;
    other keyword arguments are ``greenai.track``'s (``store``, ``group``, ``model``, ``country``,
    ``interval_s``, ...). After ``fit()``, ``.energy.measurement`` is the run's ``Measurement``,
    ``.energy.run_id`` its id in the store and ``.logged`` every dict of figures sent to the loggers.
    """

    def __init__(
        self, name: str = "lightning", *, prometheus_port: int | None = None, **track_kwargs: Any
    ) -> None:
        if Callback is object:
            raise MissingExtraError("lightning", "lightning")
        self.energy = TrainingEnergy(name, prometheus_port=prometheus_port, **track_kwargs)
        self.logged: list[dict[str, float]] = []
        self._epoch = 0

    def _log(self, trainer: Any, figures: dict[str, float]) -> None:
        if not figures:
            return
        self.logged.append(figures)
        for logger in trainer.loggers:
            logger.log_metrics(figures, step=trainer.global_step)

    # -- fit -----------------------------------------------------------------------------------
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._epoch = 0
        self.energy.start(local_main=trainer.local_rank == 0)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._epoch += 1
        self.energy.begin_phase(f"epoch_{self._epoch}")

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.energy.count(*batch_counts(batch))
        every = max(int(getattr(trainer, "log_every_n_steps", 50) or 50), 1)
        if (batch_idx + 1) % every == 0:
            self._log(trainer, self.energy.figures())

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.energy.end_phase(f"epoch_{self._epoch}")
        self._log(trainer, self.energy.figures())

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.energy.begin_phase("eval")

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        self.energy.end_phase("eval")

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._log(trainer, self.energy.stop())

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.energy.stop(exception)  # the recorded run is marked failed / interrupted
