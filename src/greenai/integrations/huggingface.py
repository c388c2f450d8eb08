"""Energy inside the Hugging Face ``Trainer`` (and TRL trainers built on it): ``GreenAICallback``.

```python
from greenai.integrations.huggingface import GreenAICallback
trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=test)
GreenAICallback(store="greenai.db", country="FRA").attach(trainer)  # first in line: see below
trainer.train()
```

One greenai run per ``train()`` (recorded in the run store as a tracked run), with a phase per
epoch (``epoch_1``, ...) and per evaluation (``eval``); at every logging step the energy, power
and CO2 figures of ``greenai.integrations.training_energy`` (and their deltas since the previous log)
are added to the logs, and so reach every reporting backend the Trainer has (TensorBoard, MLflow,
W&B, ...) and ``trainer.state.log_history``. The last log of ``train()`` (the one with
``train_runtime``) ends the run, so the deltas of all logs add up to the recorded energy. J per
training sample and per token are counted from what the model is fed (a forward pre-hook reads
``input_ids`` / ``attention_mask`` while the model is in training mode).

Why ``attach``: the Trainer calls its reporting callbacks before the ones passed in
``callbacks=[...]``, so a callback given there adds its figures after TensorBoard/MLflow/W&B have
logged. ``attach(trainer)`` puts this callback first. Passed in ``callbacks=`` it still meters and
records the run, and its figures reach ``log_history`` and the callbacks after it.

Under torchrun/SLURM with a store every rank meters its share and the store holds the job's one
total; otherwise only the local main process meters (``state.is_local_process_zero`` and
``LOCAL_RANK``): see ``training_energy``.
"""

from __future__ import annotations

from typing import Any

from greenai.errors import MissingExtraError
from greenai.integrations.training_energy import TrainingEnergy, batch_counts

try:
    from transformers import TrainerCallback
except ImportError:  # the class below must still be importable to raise the one-line error
    TrainerCallback = object  # type: ignore[assignment,misc]
    _HAVE_TRANSFORMERS = False
else:
    _HAVE_TRANSFORMERS = True


class GreenAICallback(TrainerCallback):  # type: ignore[misc,valid-type]
    """A ``transformers.TrainerCallback`` that meters the training (module docstring).

    ``name`` names the recorded run; ``prometheus_port`` serves the live figures on 127.0.0.1;
    other keyword arguments are ``greenai.track``'s (``store``, ``group``, ``model``, ``country``,
    ``interval_s``, ...). After training, ``.energy.measurement`` is the run's ``Measurement``
    and ``.energy.run_id`` its id in the store.
    """

    def __init__(
        self, name: str = "hf-trainer", *, prometheus_port: int | None = None, **track_kwargs: Any
    ) -> None:
        if not _HAVE_TRANSFORMERS:
            raise MissingExtraError("transformers", "huggingface")
        self.energy = TrainingEnergy(name, prometheus_port=prometheus_port, **track_kwargs)
        self._hook: Any = None
        self._epoch = 0

    def attach(self, trainer: Any) -> GreenAICallback:
        """Put this callback first in ``trainer``'s callbacks (before the reporting ones)."""
        callbacks = trainer.callback_handler.callbacks
        if self in callbacks:
            callbacks.remove(self)
        callbacks.insert(0, self)
        return self

    # -- training ------------------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._epoch = 0
        self.energy.start(local_main=state.is_local_process_zero)
        model = kwargs.get("model")
        if self.energy.active and model is not None and self._hook is None:
            self._hook = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: Any, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if module.training:
            batch = kwargs if "input_ids" in kwargs or "attention_mask" in kwargs else inputs
            self.energy.count(*batch_counts(batch))

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._epoch += 1
        self.energy.begin_phase(f"epoch_{self._epoch}")

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.energy.end_phase(f"epoch_{self._epoch}")

    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # the Trainer has no "evaluation begins" event: the phase opens after the first batch
        self.energy.begin_phase("eval")

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.energy.end_phase("eval")

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        if logs is None or not self.energy.active:
            return
        final = "train_runtime" in logs  # the summary that train() logs last
        figures = self.energy.stop() if final else self.energy.figures()
        if final:
            self._remove_hook()
        logs.update(figures)
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(figures)  # the Trainer copied the logs before us

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.energy.stop()  # when train() ended without its summary log; else a no-op
        self._remove_hook()

    def _remove_hook(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
