"""One training run from start (or resume) to result: the orchestration behind ``train_run``.

Order matters for "nothing half-written": the config, device, checkpoint (on resume) and data are
checked and loaded first (the data loading metered by a tracker that writes nothing); only then is the
run created in the store and are files written. Energy is kept as "pieces" (see ``results.py``): the
data load, then the metered training, and, on resume, every earlier process's pieces from the
checkpoint plus what the interrupted process spent after its last checkpoint (from its samples in the
store, see ``results.lost_piece``), so that the final energy is the sum of all of them.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from greenai.errors import UsageError
from greenai.lifecycle.training_result import build_result, measure_inference
from greenai.ml import data as data_mod
from greenai.ml.models import create_model
from greenai.ml.training import checkpoint as ckpt_mod
from greenai.ml.training import loop, recipes
from greenai.ml.training.config import TrainConfig, check_run_id, paths_for, write_training_log
from greenai.ml.training.progress import EpochBar
from greenai.results import resultfile as results


def _tracker(name: str, run_id: str, carbon: Any, sinks: list[Any], emissions_csv: Path | None):
    from greenai.meter import Tracker
    from greenai.meter.tracker import sampling_interval

    return Tracker(
        name,
        run_id=run_id,
        carbon=carbon,
        interval_s=sampling_interval(),
        sinks=sinks,
        emissions_csv=emissions_csv,
    )


@dataclass
class TrainingSession:
    cfg: TrainConfig
    out_dir: Path
    store: Any
    carbon: Any
    variant: str
    run_id: str
    parent_run_id: str | None
    group: str | None
    progress: bool
    mlflow: Any
    device: torch.device
    dataset: data_mod.Dataset
    data_piece: dict[str, Any]
    parent_result: dict[str, Any] | None = None
    resume_from: dict[str, Any] | None = None
    pieces: list[dict[str, Any]] = field(default_factory=list)  # earlier processes' pieces
    log_rows: list[dict[str, Any]] = field(default_factory=list)
    data_phases: tuple[Any, ...] = ()  # the data-load tracker's PhaseResults, copied to the store
    tracker: Any = None  # the running meter, once ``run`` started it
    inference_images: int = 2048  # images for the inference energy figure; 0: no inference section

    # -- preparation: nothing is written here ----------------------------------------------------

    @classmethod
    def prepare(
        cls,
        cfg: TrainConfig,
        *,
        out_dir: Path,
        store: Any,
        carbon: Any,
        variant: str,
        run_id: str | None,
        parent_run_id: str | None,
        group: str | None,
        resume: bool,
        progress: bool,
        mlflow: Any,
        inference_images: int = 2048,
    ) -> TrainingSession:
        resume_from = None
        if run_id is not None:
            check_run_id(run_id)
        if resume:
            if not run_id:
                raise UsageError("--resume needs the id of the run to continue")
            resume_from = ckpt_mod.load_checkpoint(paths_for(out_dir, run_id)["checkpoint"])
            if callable(store):
                store = store()
            cfg = TrainConfig.from_dict(dict(resume_from["config"]))
            variant = resume_from.get("variant") or variant
            parent_run_id = resume_from.get("parent_run_id")
            group = resume_from.get("group")
            if store is not None and store.has_run(run_id) and _is_done(store, run_id):
                raise UsageError(f"run {run_id} is already finished; nothing to resume")
        elif run_id is not None and _exists(out_dir, store, run_id):
            raise UsageError(f"run {run_id} already exists; use --resume {run_id} to continue it")
        cfg.validate()
        device = loop.resolve_device(cfg.device)
        parent_result = None
        if parent_run_id is not None and callable(store):
            store = store()
        if parent_run_id is not None and store is not None:
            parent_result = store.get_run(parent_run_id).result  # UsageError when unknown
        if cfg.dataset == "cifar10":
            data_mod.locate_cifar10(cfg.data_dir, cfg.download)  # one line, before any compute
        if run_id is None:
            from greenai.storage import new_run_id

            run_id = new_run_id()
        loader = _tracker("data", run_id, carbon, [], None)
        loader.start()
        try:
            with loader.phase("data"):
                dataset = data_mod.load_dataset(cfg.dataset, cfg.data_dir, cfg.download)
        finally:
            data_measurement = loader.stop()
        session = cls(
            cfg=cfg,
            out_dir=out_dir,
            store=store,
            carbon=carbon,
            variant=variant,
            run_id=run_id,
            parent_run_id=parent_run_id,
            group=group,
            progress=progress,
            mlflow=mlflow,
            device=device,
            dataset=dataset,
            data_piece=results.piece_from_measurement(data_measurement),
            parent_result=parent_result,
            resume_from=resume_from,
            data_phases=tuple(data_measurement.phases),
            inference_images=inference_images,
        )
        if resume_from is not None:
            session.pieces = list(resume_from.get("energy_pieces", []))
            session.log_rows = list(resume_from.get("log_rows", []))
        return session

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        paths = paths_for(self.out_dir, self.run_id)
        if callable(self.store):
            self.store = self.store()
        sinks = []
        if self.store is not None:
            from greenai.storage import StoreSink

            sinks.append(StoreSink(self.store))
        if self.mlflow is not None:
            sinks.extend(self.mlflow.sinks())
        # built before the store row: it refuses a foreign emissions CSV with nothing written yet
        tracker = _tracker(self.variant, self.run_id, self.carbon, sinks, paths["emissions_csv"])
        self.tracker = tracker
        if self.resume_from is not None and self.store is not None:
            self._add_lost_piece(tracker.carbon)  # before this process's samples join the store
        self._open_store_run()
        stopped = False
        try:
            if self.mlflow is not None:
                params = {k: v for k, v in self.cfg.to_dict().items() if v not in (None, {})}
                self.mlflow.start_run(self.run_id, name=self.variant, params=params)
            tracker.start()
            outcome = self._train_and_evaluate(tracker, paths)
            measurement = tracker.stop()
            stopped = True
            result = build_result(self, outcome, measurement, paths)
            if self.inference_images > 0:
                st = outcome["state"]
                result["inference"] = measure_inference(
                    st["net"], st["splits"].x_test, self.dataset, self.carbon,
                    run_id=self.run_id, n_images=self.inference_images,
                )  # fmt: skip
            results.write_result(self.out_dir, self.variant, self.run_id, result)
            if self.store is not None:
                self.store.finish_run(self.run_id, status="done", result=result)
            if self.mlflow is not None:
                self.mlflow.log_result(result, [paths["training_log"], paths["emissions_csv"]])
                meter = {"samples": tracker.samples, "phases": measurement.phases}
                self.mlflow.log_charts(result, **meter, epochs=self.log_rows)
                self.mlflow.end("done")
            return result
        except BaseException as exc:
            if not stopped:
                with contextlib.suppress(Exception):  # the original failure matters more
                    tracker.stop()
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            if self.mlflow is not None:
                with contextlib.suppress(Exception):
                    self.mlflow.end(status)
            if self.store is not None:
                message = (
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                )
                self.store.finish_run(self.run_id, status=status, error=message[:500])
            raise

    def _add_lost_piece(self, carbon: Any) -> None:
        """What the interrupted process spent after its last checkpoint: only its samples know."""
        if self.store.has_run(self.run_id):
            samples = self.store.samples(self.run_id)
            lost = results.lost_piece(self.pieces, samples, carbon)
            if lost is not None:
                self.pieces.append(lost)

    def _open_store_run(self) -> None:
        if self.store is None:
            return
        if self.resume_from is not None and self.store.has_run(self.run_id):
            self.store.resume_run(self.run_id)
        else:
            self.store.create_run(
                self.run_id,
                name=self.variant,
                variant=self.variant,
                model=self.cfg.model,
                dataset=self.cfg.dataset,
                device=self.device.type,
                config=self.cfg.to_dict(),
                parent_run_id=self.parent_run_id,
                group=self.group,
            )
        for phase in self.data_phases:
            self.store.add_phase(phase)

    def _setup(self, tracker: Any) -> dict[str, Any]:
        cfg, ds = self.cfg, self.dataset
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        with tracker.phase("data"):
            splits = data_mod.make_splits(
                ds,
                holdout_fraction=cfg.holdout_fraction,
                limit_train=cfg.limit_train,
                limit_test=cfg.limit_test,
                seed=cfg.seed,
                device=self.device,
            )
        net = create_model(
            cfg.model, num_classes=ds.num_classes, **ckpt_mod.model_kwargs(cfg.to_dict())
        )
        net = net.to(self.device)
        if cfg.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if cfg.airbench_tricks:  # SGD groups: batch-norm biases at BIAS_SCALER x the LR
            optimizer = recipes.tricks_optimizer(net, cfg)
        else:
            optimizer = loop.make_optimizer(
                net, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum
            )
        steps = loop.steps_per_epoch(len(splits.y_train), cfg.batch_size)
        schedule = loop.make_schedule(optimizer, cfg.schedule, cfg.lr, steps * cfg.epochs)
        scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.precision == "fp16")
        generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        state = {
            "splits": splits,
            "net": net,
            "model": torch.compile(net) if cfg.compile else net,
            "optimizer": optimizer,
            "schedule": schedule,
            "scaler": scaler,
            "generator": generator,
            "steps": steps,
            "start_epoch": 1,
            "target": None,
            "ema": recipes.LookaheadEMA(net, steps * cfg.epochs) if cfg.airbench_tricks else None,
            "flip_base": (
                data_mod.alternating_flips(len(splits.y_train), cfg.seed, self.device)
                if cfg.alternate_flip and cfg.augment
                else None
            ),
        }
        if self.resume_from is not None:
            self._restore(state, self.resume_from)
        return state

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

    def _train_and_evaluate(self, tracker: Any, paths: dict[str, Path]) -> dict[str, Any]:
        cfg, ds = self.cfg, self.dataset
        st = self._setup(tracker)
        splits, model = st["splits"], st["model"]
        eval_split = "holdout" if len(splits.y_holdout) else "test"
        x_eval, y_eval = (
            (splits.x_holdout, splits.y_holdout)
            if eval_split == "holdout"
            else (splits.x_test, splits.y_test)
        )
        started = time.perf_counter()
        with tracker.phase("train"):
            for epoch in range(st["start_epoch"], cfg.epochs + 1):
                if st["target"] is not None:
                    break
                t0 = time.perf_counter()
                lr_now = st["optimizer"].param_groups[0]["lr"]
                with tracker.phase(f"epoch_{epoch}"):
                    bar = self._bar(epoch, st["steps"])
                    train_loss, train_acc = loop.train_epoch(
                        model,
                        splits.x_train,
                        splits.y_train,
                        optimizer=st["optimizer"],
                        schedule=st["schedule"],
                        scaler=st["scaler"],
                        generator=st["generator"],
                        batch_size=cfg.batch_size,
                        mean=ds.mean,
                        std=ds.std,
                        precision=cfg.precision,
                        do_augment=cfg.augment,
                        augment_pad=cfg.augment_pad,
                        augment_reflect=cfg.augment_reflect,
                        flip_base=st["flip_base"],
                        epoch=epoch,
                        label_smoothing=cfg.label_smoothing,
                        channels_last=cfg.channels_last,
                        on_batch=bar.update_from,
                        after_step=self._step_hook(st, epoch),
                    )
                    if st["ema"] is not None:
                        st["ema"].sync(st["net"])  # evaluate and checkpoint the averaged weights
                    eval_loss, eval_acc = self._evaluate(
                        model, x_eval, y_eval, stops=eval_split == "holdout"
                    )
                    bar.close(train_loss, train_acc, eval_split, eval_acc)
                live = self._cumulative(tracker)
                row = {
                    "epoch": epoch,
                    "train_loss": round(train_loss, 6),
                    "train_acc_pct": round(train_acc, 4),
                    "eval_split": eval_split,
                    "eval_loss": round(eval_loss, 6),
                    "eval_acc_pct": round(eval_acc, 4),
                    "lr": lr_now,
                    "seconds": round(time.perf_counter() - t0, 3),
                    "energy_kwh": live["energy_kwh"],
                    "co2_kg": live["co2_kg"],
                }
                if (
                    cfg.target_accuracy is not None
                    and eval_split == "holdout"
                    and eval_acc >= cfg.target_accuracy
                ):
                    st["target"] = {
                        "epoch": epoch,
                        "holdout_acc_pct": eval_acc,
                        "energy_kwh": live["energy_kwh"],
                        "co2_kg": live["co2_kg"],
                        "duration_s": live["duration_s"],
                    }
                self._end_epoch(row, st, paths, tracker)
        train_seconds = time.perf_counter() - started
        with tracker.phase("eval"):
            test_loss, test_acc = self._evaluate(model, splits.x_test, splits.y_test, final=True)
            holdout = self._evaluate(model, splits.x_holdout, splits.y_holdout, final=True)
            weights_bytes = ckpt_mod.save_weights(paths["weights"], st["net"])
        return {
            "state": st,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "holdout_acc": holdout[1],
            "weights_bytes": weights_bytes,
            "train_seconds_this_piece": train_seconds,
        }

    def _evaluate(
        self,
        model: Any,
        x: torch.Tensor,
        y: torch.Tensor,
        final: bool = False,
        stops: bool = False,
    ) -> tuple[float, float]:
        """Loss and accuracy. With the airbench tricks: airbench94's full TTA (flips + 1-pixel
        shifts, 3x the eval) for the final figures, flip TTA for the per-epoch held-out figure
        that decides early stopping (``stops``), none for a per-epoch test figure (only logged)."""
        ds = self.dataset
        tta = (2 if final else 1 if stops else 0) if self.cfg.airbench_tricks else 0
        return loop.evaluate(
            model, x, y, mean=ds.mean, std=ds.std, precision=self.cfg.precision,
            channels_last=self.cfg.channels_last, tta=tta,
        )  # fmt: skip

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

    def _cumulative(self, tracker: Any) -> dict[str, Any]:
        """Energy so far over all pieces (earlier processes, data load, this one live)."""
        pieces = self.pieces_so_far(tracker.snapshot())
        return {
            "energy_kwh": sum(p["energy_kwh"] for p in pieces),
            "co2_kg": sum(p["co2_kg"] for p in pieces),
            "duration_s": sum(p["duration_s"] for p in pieces),
        }

    def pieces_so_far(self, measurement: Any) -> list[dict[str, Any]]:
        return [*self.pieces, self.data_piece, results.piece_from_measurement(measurement)]

    def _end_epoch(
        self, row: dict[str, Any], st: dict[str, Any], paths: dict[str, Path], tracker: Any
    ) -> None:
        """Log the epoch (CSV, store, MLflow), then checkpoint it (CSV first: a kill between the
        two leaves a row the resumed run rewrites, never a checkpoint without its row)."""
        self.log_rows = [r for r in self.log_rows if r["epoch"] < row["epoch"]] + [row]
        write_training_log(paths["training_log"], self.log_rows)
        if self.store is not None:
            metrics = {k: v for k, v in row.items() if k != "epoch" and _finite(v)}
            if row["eval_split"] == "test":
                metrics["test_acc"] = row["eval_acc_pct"]
            self.store.add_epoch(self.run_id, row["epoch"], metrics)
        if self.mlflow is not None:
            self.mlflow.log_epoch(
                row["epoch"], {k: v for k, v in row.items() if isinstance(v, float) and _finite(v)}
            )
        rng = {"torch": torch.get_rng_state(), "data": st["generator"].get_state()}
        ckpt_mod.save_checkpoint(
            paths["checkpoint"],
            {
                "run_id": self.run_id,
                "variant": self.variant,
                "parent_run_id": self.parent_run_id,
                "group": self.group,
                "epoch": row["epoch"],
                "config": self.cfg.to_dict(),
                "num_classes": self.dataset.num_classes,
                "model_state": st["net"].state_dict(),
                "optimizer_state": st["optimizer"].state_dict(),
                "schedule_state": st["schedule"].state_dict(),
                "scaler_state": st["scaler"].state_dict(),
                "rng": rng,
                "energy_pieces": self.pieces_so_far(tracker.snapshot()),
                "log_rows": self.log_rows,
                "target": st["target"],
                "ema_state": st["ema"].state if st["ema"] is not None else None,
            },
        )

    def _bar(self, epoch: int, steps: int) -> EpochBar:
        def live() -> tuple[float, float, float]:
            snap = self.tracker.snapshot()
            total = self._cumulative(self.tracker)["energy_kwh"]
            return snap.duration_s, snap.energy_total_j, total

        return EpochBar(epoch, self.cfg.epochs, steps, enabled=self.progress, live=live)


def _is_done(store: Any, run_id: str) -> bool:
    return store.get_run(run_id).status == "done"


def _exists(out_dir: Path, store: Any, run_id: str) -> bool:
    if paths_for(out_dir, run_id)["checkpoint"].exists():
        return True
    return store is not None and not callable(store) and store.has_run(run_id)


def _finite(v: Any) -> bool:
    return not isinstance(v, float) or math.isfinite(v)


def train_run(
    cfg: TrainConfig,
    *,
    out_dir: str | Path,
    store: Any,
    carbon: Any,
    variant: str = "baseline",
    run_id: str | None = None,
    parent_run_id: str | None = None,
    group: str | None = None,
    resume: bool = False,
    progress: bool = True,
    mlflow: Any = None,
    inference_images: int = 2048,
) -> dict[str, Any]:
    """Train ``cfg`` with the meter running, write every artifact and return the result dict.

    ``store``: a ``RunStore``, None (no store), or a callable returning one, called only once the
    data has loaded (so bad data leaves no store file behind); ``carbon``: a ``CarbonConfig``.
    ``resume=True`` continues ``run_id`` from ``models/<run_id>.pt`` (its config wins over ``cfg``).
    ``mlflow``: a ``greenai.integrations.mlflow.MlflowLogger`` (or its null twin), or None: the run
    is started there, each epoch and phase logged, and the result and logs attached at the end. ``inference_images``: how many images the result's ``inference``
    section (latency, throughput, J per 1,000 images on the CPU) is measured over; 0 skips it
    (search trials).
    Bad settings and missing data raise before anything is written.
    """
    session = TrainingSession.prepare(
        cfg,
        out_dir=Path(out_dir),
        store=store,
        carbon=carbon,
        variant=variant,
        run_id=run_id,
        parent_run_id=parent_run_id,
        group=group,
        resume=resume,
        progress=progress,
        mlflow=mlflow,
        inference_images=inference_images,
    )
    return session.run()
