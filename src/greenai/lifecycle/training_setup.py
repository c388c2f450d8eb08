"""A training run's set-up: the model on its device (under DDP when distributed), the optimiser,
schedule and EMA, or their state restored from a checkpoint; the per-step hook (EMA, the whitening
bias frozen on time). Mixed into ``TrainingSession`` through ``TrainingEpochs``."""

from __future__ import annotations

from typing import Any

import torch

from greenai.lifecycle.training_forecast import TrainingForecast
from greenai.ml import data as data_mod
from greenai.ml.training import loop, recipes


def check_epoch_sizes(net: Any, cfg: Any, dataset: Any) -> None:
    """``cfg.epoch_sizes`` only shrink the images, and the net takes the smallest: else one
    UsageError line (called before anything is written)."""
    if not cfg.epoch_sizes:
        return
    from greenai.errors import UsageError
    from greenai.ml.models import check_forward

    c, h, w = dataset.input_shape
    sizes = sorted(set(cfg.epoch_sizes))
    if sizes[-1] > min(h, w):
        raise UsageError(
            f"--epoch-sizes {sizes[-1]}: larger than the images' {min(h, w)} pixels "
            "(progressive resizing only shrinks them)"
        )
    shape = (c, *loop.resized_shape(h, w, sizes[0]))
    check_forward(net, f"--epoch-sizes {sizes[0]}: model {cfg.model!r}", dataset.num_classes, shape)


class TrainingSetup(TrainingForecast):
    """Set-up of ``TrainingSession`` (its fields: cfg, dataset, device, store, ...)."""

    cfg: Any
    dataset: Any
    device: torch.device
    store: Any
    mlflow: Any
    run_id: str
    variant: str
    parent_run_id: str | None
    group: str | None
    progress: bool
    log_rows: list[dict[str, Any]]
    resume_from: dict[str, Any] | None
    tracker: Any
    net: Any
    rng_after_init: Any
    ddp: Any  # a distributed run's ``Ddp`` or None

    def _setup(self, tracker: Any) -> dict[str, Any]:
        cfg, ds = self.cfg, self.dataset
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        torch.set_rng_state(self.rng_after_init)  # as if the model were initialised here
        with tracker.phase("data"):
            splits = data_mod.make_splits(
                ds,
                holdout_fraction=cfg.holdout_fraction,
                limit_train=cfg.limit_train,
                limit_test=cfg.limit_test,
                seed=cfg.seed,
                device=self.device,
            )
            if self.ddp is not None:  # this rank's shard of the training images
                splits = self.ddp.shard(splits)
        net = self.net.to(self.device)
        if cfg.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if cfg.airbench_tricks or cfg.optimizer == "muon":  # SGD groups: batch-norm biases at
            optimizer = recipes.tricks_optimizer(net, cfg)  # BIAS_SCALER x the LR; or Muon's groups
        else:
            optimizer = loop.make_optimizer(
                net, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum
            )
        batch = cfg.batch_size if self.ddp is None else self.ddp.batch_size(cfg.batch_size)
        steps = loop.steps_per_epoch(len(splits.y_train), batch)
        schedule = loop.make_schedule(optimizer, cfg.schedule, cfg.lr, steps * cfg.epochs)
        scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.precision == "fp16")
        generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        if self.ddp is not None or cfg.epoch_sizes:
            self._prime(net, splits, batch)
        trained = net if self.ddp is None else self._wrap(net)  # DDP averages
        state = {
            "splits": splits,
            "net": net,
            "model": torch.compile(trained) if cfg.compile else trained,
            "batch_size": batch,
            "optimizer": optimizer,
            "schedule": schedule,
            "scaler": scaler,
            "generator": generator,
            "steps": steps,
            "start_epoch": 1,
            "target": None,
            "ema": (
                recipes.LookaheadEMA(net, steps * cfg.epochs)
                if cfg.airbench_tricks and cfg.ema
                else None
            ),
            "flip_base": (
                data_mod.alternating_flips(len(splits.y_train), cfg.seed, self.device)
                if cfg.alternate_flip and cfg.augment
                else None
            ),
        }
        if self.resume_from is not None:
            self._restore(state, self.resume_from)
        return state

    def _prime(self, net: Any, splits: Any, batch: int) -> None:
        """A net that sets weights from its first training batch (airbench's whitening) sets them
        here from the first ``batch`` training images, not augmented, at the data's own size:
        under DDP before wrapping (DDP's start-up broadcast gives every rank rank 0's), with
        progressive resizing not from a smaller first batch."""
        prime = getattr(net, "prime_from", None)
        if prime is None:
            return
        first = data_mod.normalize(splits.x_train[:batch], self.dataset.mean, self.dataset.std,
                                   torch.float32).to(self.device)  # fmt: skip
        if self.cfg.channels_last:
            first = first.contiguous(memory_format=torch.channels_last)
        prime(first)

    def _wrap(self, net: Any) -> Any:
        """``net`` under DDP (primed first: see ``_prime``)."""
        fraction = self.cfg.whiten_bias_fraction
        if fraction <= 0:  # frozen from the first step: DDP never expects its gradient
            recipes.freeze_whitening_bias(net, True)
        return self.ddp.wrap(net, may_freeze=0 < fraction < 1)

    def _restore(self, state: dict[str, Any], ck: dict[str, Any]) -> None:
        try:
            state["net"].load_state_dict(ck["model_state"])
            state["optimizer"].load_state_dict(ck["optimizer_state"])
            state["schedule"].load_state_dict(ck["schedule_state"])
            state["scaler"].load_state_dict(ck["scaler_state"])
            state["generator"].set_state(ck["rng"]["data"])
            torch.set_rng_state(ck["rng"]["torch"])
            if state["ema"] is not None and ck.get("ema_state") is not None:
                state["ema"].state = {k: v.to(self.device) for k, v in ck["ema_state"].items()}
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            from greenai.errors import DataError

            raise DataError(
                f"checkpoint of run {self.run_id} does not fit its config: {exc}"
            ) from None
        state["start_epoch"] = int(ck["epoch"]) + 1
        state["target"] = ck.get("target")

    def _step_hook(self, st: dict[str, Any], epoch: int) -> Any:
        """``after_step`` for ``loop.train_epoch``: the Lookahead/EMA update every EMA_EVERY steps
        (airbench tricks), and the whitening bias frozen once ``cfg.whiten_bias_fraction`` of the
        run's steps are done (checked per step, so a resumed run freezes at the same step)."""
        ema, first = st["ema"], (epoch - 1) * st["steps"]
        fraction = self.cfg.whiten_bias_fraction
        freeze_at = recipes.whiten_bias_steps(st["steps"] * self.cfg.epochs, fraction)
        if fraction < 1:
            recipes.freeze_whitening_bias(st["net"], first >= freeze_at)
        if ema is None and fraction >= 1:
            return None

        def after_step(i: int) -> None:
            step = first + i + 1
            if ema is not None and step % recipes.EMA_EVERY == 0:
                ema.update(st["net"], step)
            if step == freeze_at and fraction < 1:
                recipes.freeze_whitening_bias(st["net"], True)

        return after_step
