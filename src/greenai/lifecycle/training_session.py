"""One training run from start (or resume) to result: the orchestration behind ``train_run``.

Order matters for "nothing half-written": the config, device, checkpoint (on resume) and data are
checked and loaded first (the data loading metered by a tracker that writes nothing); only then is the
run created in the store and are files written. Energy is kept as "pieces" (see ``results.py``): the
data load, then the metered training, and, on resume, every earlier process's pieces from the
checkpoint plus what the interrupted process spent after its last checkpoint (from its samples in the
store, see ``results.lost_piece``), so that the final energy is the sum of all of them. Whether the
run starts fresh, resumes or is redone is decided in ``training_resume.py``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from greenai.lifecycle.run import MeteredRun, RunEnv, RunSpec
from greenai.lifecycle.training_epochs import TrainingEpochs
from greenai.lifecycle.training_result import build_result, measure_inference
from greenai.lifecycle.training_resume import start_of
from greenai.lifecycle.training_setup import check_epoch_sizes
from greenai.ml import data as data_mod
from greenai.ml.evaluation import INFERENCE_IMAGES
from greenai.ml.models import create_model
from greenai.ml.training import checkpoint as ckpt_mod
from greenai.ml.training import loop
from greenai.ml.training.config import TrainConfig, paths_for
from greenai.results import resultfile as results


def _tracker(name: str, run_id: str, carbon: Any, sinks: list[Any], emissions_csv: Path | None):
    from greenai.meter import Tracker
    from greenai.meter.interval import sampling_interval

    return Tracker(
        name,
        run_id=run_id,
        carbon=carbon,
        interval_s=sampling_interval(),
        sinks=sinks,
        emissions_csv=emissions_csv,
    )


@dataclass
class TrainingSession(TrainingEpochs):
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
    inference_images: int = INFERENCE_IMAGES  # for the inference energy; 0: no inference section
    net: Any = None  # the model, built and checked in ``prepare``
    rng_after_init: Any = None  # torch's RNG state right after the model's initialisation
    skipped: dict[str, str] = field(default_factory=dict)  # recipe settings this model cannot take
    ddp: Any = None  # a distributed run: this rank's ``ml.training.ddp.Ddp`` (training_ddp.py)

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
        inference_images: int = INFERENCE_IMAGES,
        dataset: Any = None,
        ddp: Any = None,
    ) -> TrainingSession:
        """Check and load everything (nothing is written here). ``dataset``: a loaded Dataset
        (the API's) used instead of loading ``cfg.dataset``."""
        start = start_of(
            cfg, out_dir=out_dir, store=store, carbon=carbon, variant=variant, run_id=run_id,
            parent_run_id=parent_run_id, group=group, resume=resume,
        )  # fmt: skip
        cfg, store, variant = start.cfg, start.store, start.variant
        parent_run_id, group = start.parent_run_id, start.group
        resume_from, restart = start.resume_from, start.restart
        given = dataset
        cfg = cfg.validate(check_data=given is None)
        cfg = cfg.resolved() if given is None else cfg.resolved(data=False)
        device = loop.resolve_device(cfg.device)
        parent_result = None
        if parent_run_id is not None and callable(store):
            store = store()
        if parent_run_id is not None and store is not None:
            parent_result = store.get_run(parent_run_id).result  # UsageError when unknown
        if given is not None:
            pass
        elif cfg.dataset == "cifar10":
            data_mod.locate_cifar10(cfg.data_dir, cfg.download)  # one line, before any compute
        else:
            data_mod.check_dataset_spec(cfg.dataset, cfg.data_dir, cfg.image_size)
        if run_id is None:
            from greenai.storage import new_run_id

            run_id = new_run_id()
        loader = _tracker("data", run_id, carbon, [], None)
        if ddp is not None:
            ddp.barrier()  # every rank's window opens together (see Ddp.barrier)
        loader.start()
        try:
            with loader.phase("data"):
                dataset = given or data_mod.load_dataset(
                    cfg.dataset, cfg.data_dir, cfg.download, image_size=cfg.image_size
                )
            # the model is built (and checked against the data) before anything is written
            kwargs, skipped = model_settings(cfg)
            if "width" in skipped and (ddp is None or ddp.leader):  # the one that sizes the net
                print(f"greenai: note: width {cfg.width:g} not applied to {cfg.model} (a "
                      "recipe's width fits only the built-in nets; --width or model_kwargs "
                      "{'width': W} passes one to your factory)", file=sys.stderr)  # fmt: skip
            torch.manual_seed(cfg.seed)
            net = create_model(
                cfg.model, num_classes=dataset.num_classes, input_shape=dataset.input_shape,
                **kwargs,
            )  # fmt: skip
            rng_after_init = torch.get_rng_state()
            check_epoch_sizes(net, cfg, dataset)
            if ddp is not None:
                ddp.barrier()
        finally:
            data_measurement = loader.stop()
        if ddp is not None:  # every rank's data load, summed (a collective)
            from greenai.lifecycle.training_ddp import job_measurement

            data_measurement = job_measurement(ddp, data_measurement)[0]
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
            net=net,
            rng_after_init=rng_after_init,
            skipped=skipped,
            ddp=ddp,
        )
        if resume_from is not None:
            session.pieces = list(resume_from.get("energy_pieces", []))
            session.log_rows = list(resume_from.get("log_rows", []))
        elif restart is not None:
            session.pieces = restart  # what the killed attempts spent
        return session

    # -- the run ---------------------------------------------------------------------------------

    def hyperparameters(self) -> dict[str, Any]:
        return {k: v for k, v in self.cfg.to_dict().items() if k not in ("data_dir", "download")}

    def run(self) -> dict[str, Any]:
        paths = paths_for(self.out_dir, self.run_id)
        if callable(self.store):
            self.store = self.store()
        cfg = self.cfg
        env = RunEnv(self.out_dir, self.store, self.carbon, self.group, self.mlflow, self.progress)
        if self.ddp is not None:
            from greenai.lifecycle.training_ddp import job_measurement

            env.gather = lambda m: job_measurement(self.ddp, m)
        spec = RunSpec(
            variant=self.variant, model=cfg.model, dataset=self.dataset.name,
            device=self.device.type, hyperparameters=self.hyperparameters(),
            config=cfg.to_dict(), parent_run_id=self.parent_run_id,
            parent_result=self.parent_result, run_id=self.run_id,
            resume=self.resume_from is not None, count_attempts=False,  # the session counts them
            mlflow_params={k: v for k, v in cfg.to_dict().items() if v not in (None, {})},
        )  # fmt: skip
        metered = MeteredRun(spec, env)

        def body(tracker: Any) -> dict[str, Any]:
            self.tracker = tracker
            outcome = self._train_and_evaluate(tracker, paths)
            if self.ddp is not None:
                self.ddp.barrier()  # the windows close together
            return outcome

        def finish(outcome: dict[str, Any], _m: Any) -> dict[str, Any]:
            result = build_result(self, outcome, paths)
            if self.inference_images > 0:
                st = outcome["state"]
                result["inference"] = measure_inference(
                    st["net"], st["splits"].x_test, self.dataset, self.carbon,
                    run_id=self.run_id, n_images=self.inference_images,
                    y_test=st["splits"].y_test.cpu(),
                )  # fmt: skip
            prediction = self.prediction_section()  # each epoch's prediction, the actual beside
            if prediction is not None:
                result["prediction"] = prediction
            if self.budget is not None:
                result["budget"] = self.budget.to_dict()
            return result

        def before_open(tracker: Any) -> None:
            if self.resume_from is not None and self.store is not None:
                self._add_lost_piece(tracker.carbon)  # before this process's samples join

        def after_open() -> None:
            for phase in self.data_phases if self.store is not None else ():
                self.store.add_phase(phase)
            if self.ddp is not None:
                self.ddp.barrier()  # the windows open together

        return metered.execute(
            body, finish, earlier_pieces=lambda: [*self.pieces, self.data_piece],
            before_open=before_open, after_open=after_open,
            artifacts=lambda: [paths["training_log"]], epochs=lambda: self.log_rows,
            epochs_logged=True,
        )  # fmt: skip

    def _add_lost_piece(self, carbon: Any) -> None:
        """What the interrupted process spent after its last checkpoint: only its samples know."""
        if self.store.has_run(self.run_id):
            samples = self.store.samples(self.run_id)
            lost = results.lost_piece(self.pieces, samples, carbon)
            if lost is not None:
                self.pieces.append(lost)

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


def model_settings(cfg: TrainConfig) -> tuple[dict[str, Any], dict[str, str]]:
    """The model's keyword arguments, and the recipe settings skipped because they only fit the
    built-in nets (setting -> why), which the result records."""
    from greenai.ml.models import is_builtin

    kwargs = ckpt_mod.model_kwargs(cfg.to_dict())
    skipped: dict[str, str] = {}
    if is_builtin(cfg.model):
        if cfg.whiten_bias_fraction < 1 and not cfg.model.startswith("airbench"):
            skipped["whiten_bias_fraction"] = f"{cfg.model} has no whitening conv"
        return kwargs, skipped
    if cfg.width != 1.0 and "width" not in kwargs:
        skipped["width"] = "a width multiplier fits only the built-in nets"
    if cfg.whiten_bias_fraction < 1:
        skipped["whiten_bias_fraction"] = "only airbench nets have a whitening conv"
    return kwargs, skipped
