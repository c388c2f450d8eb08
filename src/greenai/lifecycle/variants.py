"""Running one compression step as a metered run: parent lookup, step, evaluation, result, store row.

Shared by ``greenai prune``, ``quantize`` and ``distill``. Order is "validate, then write": the parent
is resolved and checked and the data located before the store row or any file is created.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from greenai.errors import DataError, UsageError
from greenai.ml.evaluation.evaluate import FP32_SETTING

VARIANT_FORMAT = "greenai-variant"


@dataclass
class Parent:
    """What a variant is derived from: an FP32 model (None when the file is INT8) and its run."""

    source: str
    model: nn.Module | None
    model_name: str | None
    model_kwargs: dict[str, Any]
    num_classes: int
    run_id: str | None
    result: dict[str, Any] | None
    quantized: bool = False


@dataclass
class Context:
    out_dir: Path
    store: Any
    carbon: Any
    group: str | None = None
    data_dir: str | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    progress: bool = False
    dataset: str = "cifar10"
    # where fine-tuning and distillation run ("cpu" or "cuda"); INT8 steps and every variant's
    # evaluation and inference measurement run on the CPU, the same for all variants
    device: str = "cpu"
    # an integrations.mlflow logger (maybe nested under a study's run); None: not logged there
    mlflow: Any = None


@dataclass
class Data:
    x_train: torch.Tensor  # normalised float32 NCHW
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def batches(
        self, batch_size: int = 128, seed: int = 0, device: str = "cpu"
    ) -> Callable[[], Any]:
        """A fresh shuffled pass (with random horizontal flips) per call, batches on ``device``."""
        g = torch.Generator().manual_seed(seed)

        def it():
            order = torch.randperm(len(self.y_train), generator=g)
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                xb = self.x_train[idx]
                flip = torch.rand(len(idx), generator=g) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
                yield xb.to(device), self.y_train[idx].to(device)

        return it


@dataclass
class Built:
    """What a step produced: how to predict, how to save, and what to record."""

    predict: Callable[[torch.Tensor], torch.Tensor]
    save: Callable[[Path], int]  # writes the model file, returns its size in bytes
    file_suffix: str
    params: int
    nonzero_params: int
    dense_size_bytes: int
    precision: str = "fp32"
    setting: str = FP32_SETTING
    details: dict[str, Any] = field(default_factory=dict)


# --- parents -----------------------------------------------------------------------------------


def resolve_parent(ref: str, out_dir: Path, store: Any) -> Parent:
    """A run id (store or ``results/``) or a model file path -> Parent. Unknown: UsageError."""
    path = Path(ref)
    if path.is_file():
        return load_model_file(path, run_id=None, result=None)
    result = _find_result(ref, out_dir, store)
    if result is None:
        raise UsageError(
            f"--from {ref!r}: no such run in the store or {out_dir}/results, nor a file"
        )
    artifact = (result.get("artifacts") or {}).get("model")
    if not artifact:
        raise DataError(f"run {ref} has no model artifact recorded")
    model_path = Path(artifact) if Path(artifact).is_absolute() else out_dir / artifact
    if not model_path.is_file():
        raise DataError(f"run {ref}: model file {model_path} is missing")
    return load_model_file(model_path, run_id=ref, result=result)


def _find_result(run_id: str, out_dir: Path, store: Any) -> dict[str, Any] | None:
    if store is not None and store.has_run(run_id):
        rec = store.get_run(run_id)
        if rec.result:
            return dict(rec.result)
    from greenai.results.resultfile import load_result

    matches = sorted((out_dir / "results").glob(f"*_{run_id}.json"))
    return load_result(matches[0]) if matches else None


def load_model_file(path: Path, run_id: str | None, result: dict[str, Any] | None) -> Parent:
    """Load a greenai checkpoint, a greenai variant file or an INT8 file."""
    from greenai.ml.compression import quantize
    from greenai.ml.training import checkpoint

    if quantize.is_quantized_file(path):
        meta = quantize.read_quantized_meta(path)  # never unpickles a user-given program
        return Parent(str(path), None, meta.get("model"), {}, 10, run_id, result, quantized=True)
    obj = checkpoint.load_torch_file(path)  # names a refused global (a malicious pickle)
    if isinstance(obj, dict) and obj.get("format") == checkpoint.FORMAT:
        model, ck = checkpoint.model_from_checkpoint(path)
        cfg = ck["config"]
        return Parent(
            str(path), model, cfg["model"], checkpoint.model_kwargs(cfg),
            int(ck.get("num_classes", 10)), run_id or ck.get("run_id"), result,
        )  # fmt: skip
    if isinstance(obj, dict) and obj.get("format") == VARIANT_FORMAT:
        model = build_variant_model(obj, path)
        return Parent(
            str(path), model, obj["model"], dict(obj.get("model_kwargs") or {}),
            int(obj.get("num_classes", 10)), run_id or obj.get("run_id"), result,
        )  # fmt: skip
    raise UsageError(
        f"{path}: not a greenai checkpoint or variant (a bare state_dict names no model)"
    )


def build_variant_model(obj: dict[str, Any], path: Path | str = "<variant>") -> nn.Module:
    from greenai.ml.compression.prune import decode_state_dict, fit_to_state_dict
    from greenai.ml.models import create_model

    model = create_model(
        obj["model"], num_classes=int(obj.get("num_classes", 10)), **(obj.get("model_kwargs") or {})
    )
    try:
        return fit_to_state_dict(model, decode_state_dict(obj["state"])).eval()
    except (RuntimeError, KeyError) as exc:
        raise DataError(
            f"{path}: weights do not fit model {obj['model']!r}: {str(exc)[:200]}"
        ) from None


def variant_file_bytes(
    model: nn.Module,
    parent: Parent,
    variant: str,
    run_id: str,
    model_name: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> bytes:
    """The FP32 variant file: tagged, compact (bitmask+values where sparse), weights_only-loadable."""
    import io

    from greenai.ml.compression.prune import encode_state_dict

    obj = {
        "format": VARIANT_FORMAT,
        "version": 1,
        "model": model_name or parent.model_name,
        "model_kwargs": parent.model_kwargs if model_kwargs is None else model_kwargs,
        "num_classes": parent.num_classes,
        "variant": variant,
        "run_id": run_id,
        "parent_run_id": parent.run_id,
        "state": encode_state_dict(model.state_dict()),
    }
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def load_data(ctx: Context) -> Data:
    from greenai.ml.data import load_dataset, make_splits, normalize

    ds = load_dataset(ctx.dataset, ctx.data_dir)
    s = make_splits(ds, limit_train=ctx.limit_train, limit_test=ctx.limit_test)
    f32 = torch.float32
    return Data(
        normalize(s.x_train, ds.mean, ds.std, f32), s.y_train,
        normalize(s.x_test, ds.mean, ds.std, f32), s.y_test,
    )  # fmt: skip


def check_data(ctx: Context) -> None:
    from greenai.ml.data import locate_cifar10

    if ctx.dataset == "cifar10":
        locate_cifar10(ctx.data_dir, False)


# --- the run -----------------------------------------------------------------------------------


def run_variant(
    *,
    variant: str,
    parent: Parent,
    ctx: Context,
    hyperparameters: dict[str, Any],
    step_name: str,
    build: Callable[[Any, Data, str], Built],
    model_name: str | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Meter ``build`` (the step), evaluate, measure inference, write result JSON and store row.

    ``device``: where ``build`` computed (its fine-tuning or distillation); evaluation and the
    inference figures are measured on the CPU for every variant alike (``inference.device``)."""
    from greenai.meter import Tracker
    from greenai.meter.tracker import sampling_interval
    from greenai.ml.evaluation import evaluate
    from greenai.ml.training.config import paths_for
    from greenai.results import lineage, runinfo
    from greenai.results import resultfile as results
    from greenai.storage import StoreSink, new_run_id

    run_id = new_run_id()
    paths = paths_for(ctx.out_dir, run_id)
    store = ctx.store
    mlflow = ctx.mlflow
    if mlflow is not None:  # phases arrive with the result, so no meter sink (no double logging)
        mlflow.start_run(
            run_id, name=variant, params=_mlflow_params(hyperparameters, parent, ctx, model_name)
        )
    if store is not None:
        store.create_run(
            run_id, name=variant, variant=variant, model=model_name or parent.model_name,
            dataset=ctx.dataset, device=device, config=hyperparameters,
            parent_run_id=parent.run_id, group=ctx.group,
        )  # fmt: skip
    sinks = [StoreSink(store)] if store is not None else []
    tracker = Tracker(
        variant, run_id=run_id, carbon=ctx.carbon, interval_s=sampling_interval(), sinks=sinks,
        emissions_csv=paths["emissions_csv"],
    )  # fmt: skip
    tracker.start()
    stopped = False
    try:
        with tracker.phase("data"):
            data = load_data(ctx)
        with tracker.phase(step_name):
            built = build(tracker, data, run_id)
        with tracker.phase("eval"):
            acc = evaluate.accuracy(built.predict, data.x_test, data.y_test)
            model_path = ctx.out_dir / "models" / f"{run_id}{built.file_suffix}"
            size = built.save(model_path)
        m = tracker.stop()
        stopped = True
        sample = data.x_test[:256]
        speed = evaluate.speed(built.predict, sample)
        energy = evaluate.inference_energy(
            built.predict, sample, carbon=ctx.carbon, run_id=f"{run_id}-inference"
        )
        step = results.sum_pieces([results.piece_from_measurement(m)], m.pue)
        life = results.lifecycle(step, parent.result)
        result = {
            "schema_version": results.SCHEMA_VERSION,
            "run_id": run_id,
            "parent_run_id": parent.run_id,
            "variant": variant,
            "group": ctx.group,
            "dataset": ctx.dataset,
            "model": model_name or parent.model_name,
            "device": device,
            "precision": built.precision,
            "hyperparameters": hyperparameters,
            "metrics": {
                "test_accuracy_pct": acc.test_accuracy_pct,
                "test_loss": acc.test_loss,
                "params": built.params,
                "nonzero_params": built.nonzero_params,
                "file_size_bytes": size,
                "file_size_mib": size / evaluate.MIB,
                "dense_size_bytes": built.dense_size_bytes,
                "test_images": acc.n_images,
            },
            "compression": {**built.details, "parent_source": parent.source},
            "inference": {**speed.to_dict(), **energy, "setting": built.setting},
            "energy": {"step": step, "lifecycle": life},
            "carbon": {
                "intensity_g_per_kwh": m.intensity.g_per_kwh,
                "intensity_source": m.intensity.source,
                "country_iso3": m.intensity.country_iso3,
                "pue": m.pue,
            },
            "efficiency": results.efficiency(acc.test_accuracy_pct, step["co2_kg"], life["co2_kg"]),
            "break_even": None,
            "software": runinfo.software(),
            "artifacts": {
                "model": os.path.relpath(model_path, ctx.out_dir),
                "emissions_csv": os.path.relpath(paths["emissions_csv"], ctx.out_dir),
            },
            "created_at": results.utc_now(),
        }
        if parent.result is not None:
            result["break_even"] = lineage.break_even(result, parent.result)
        else:
            life["note"] = "started from a file, not a run: the parent's energy is not counted"
        results.write_result(ctx.out_dir, variant, run_id, result)
        if store is not None:
            store.finish_run(run_id, status="done", result=result)
        if mlflow is not None:
            _mlflow_log(mlflow, result, paths["emissions_csv"], tracker.samples, m.phases)
        return result
    except BaseException as exc:
        if not stopped:
            with contextlib.suppress(Exception):  # the original failure matters more
                tracker.stop()
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        if mlflow is not None:
            with contextlib.suppress(Exception):
                mlflow.end(status, run_id=run_id)
        if store is not None:
            store.finish_run(run_id, status=status, error=(str(exc) or type(exc).__name__)[:500])
        raise


# Per-epoch losses a step records in ``compression`` -> the MLflow metric they become.
_EPOCH_LOSSES = {
    "finetune_losses": "finetune_loss",
    "qat_losses": "qat_loss",
    "losses": "train_loss",
}


def _mlflow_params(
    hyperparameters: dict[str, Any], parent: Parent, ctx: Context, model_name: str | None
) -> dict[str, Any]:
    return {
        "hyperparameters": hyperparameters,
        "parent_run_id": parent.run_id,
        "parent_source": parent.source,
        "model": model_name or parent.model_name,
        "dataset": ctx.dataset,
        "limit_train": ctx.limit_train,
        "limit_test": ctx.limit_test,
    }


def _mlflow_log(
    mlflow: Any,
    result: dict[str, Any],
    emissions_csv: Path,
    samples: list[Any],
    phases: tuple[Any, ...],
) -> None:
    """The finished variant's epoch losses, result (figures, phases, JSON), emissions log and
    charts (power over time from the meter's ``samples``/``phases``, losses per epoch)."""
    run_id = result["run_id"]
    rows: dict[int, dict[str, Any]] = {}  # epoch -> its losses, for the per-epoch chart
    for key, metric in _EPOCH_LOSSES.items():
        for epoch, loss in enumerate((result.get("compression") or {}).get(key) or []):
            mlflow.log_epoch(epoch, {metric: loss}, run_id=run_id)
            rows.setdefault(epoch, {"epoch": epoch})[metric] = loss
    extra = [emissions_csv] if emissions_csv.is_file() else []
    mlflow.log_result(result, extra, run_id=run_id)
    epochs = [rows[e] for e in sorted(rows)]
    mlflow.log_charts(result, samples=samples, phases=phases, epochs=epochs, run_id=run_id)
    mlflow.end("done", run_id=run_id)


def summary(result: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    m, inf, step = result["metrics"], result["inference"], result["energy"]["step"]
    life, be = result["energy"]["lifecycle"], result.get("break_even") or {}
    lines = [
        f"run {result['run_id']} ({result['variant']}, parent {result['parent_run_id']}): "
        f"test accuracy {m['test_accuracy_pct']:.2f}%",
        f"  {m['params']:,} parameters ({m['nonzero_params']:,} nonzero); file {m['file_size_bytes']:,} "
        f"bytes ({m['file_size_mib']:.2f} MiB), dense {m['dense_size_bytes']:,}",
        f"  inference ({inf['setting']}, {inf['threads']} threads): {inf['latency_ms_b1']:.2f} ms at "
        f"batch 1, {inf['throughput_img_s_b256']:.0f} img/s at batch 256, "
        f"{inf['energy_j_per_1000_images']:.3g} J per 1,000 images",
        f"  step energy {step['energy_kwh']:.6f} kWh, CO2 {step['co2_kg']:.6f} kg; lifecycle "
        f"{life['energy_kwh']:.6f} kWh, {life['co2_kg']:.6f} kg",
    ]
    if be:
        lines.append(f"  break-even: {be['explanation']}")
    return "\n".join(lines)


# --- the steps ---------------------------------------------------------------------------------
# What ``greenai prune`` and ``greenai quantize`` run, as library calls, so that other callers (the
# search's trials) derive compressed children through exactly the same code.


@dataclass
class Step:
    """One compression step, ready for ``run_step``: its variant name, hyperparameters and build."""

    variant: str
    step_name: str
    hyperparameters: dict[str, Any]
    build: Callable[[Any, Data, str], Built]
    device: str = "cpu"  # where the step computes (see ``run_variant``)


def _dense_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def prune_step(
    parent: Parent,
    *,
    sparsity: float,
    kind: str = "unstructured",
    include_linear: bool = False,
    norm: int = 1,
    finetune_epochs: int = 1,
    lr: float = 5e-4,
    batch_size: int = 128,
    device: str = "cpu",
    channel_multiple: int = 1,
) -> Step:
    """Magnitude pruning made permanent (unstructured, or structured channels), then fine-tuning
    on ``device``; the model comes back to the CPU for evaluation and saving."""
    from greenai.ml.compression import prune
    from greenai.ml.compression.distill import fit
    from greenai.ml.evaluation.evaluate import param_counts

    if parent.quantized or parent.model is None:
        raise UsageError(f"{parent.source}: an INT8 model cannot be pruned; prune its FP32 parent")
    if kind == "structured":
        prune.check_structured(parent.model)  # an untraceable model: one line, nothing written
    variant = f"pruned_{kind}"
    hyper = {
        "kind": kind, "sparsity": sparsity, "include_linear": include_linear, "norm": norm,
        "finetune_epochs": finetune_epochs, "lr": lr, "batch_size": batch_size,
        "optimizer": "adam",
    }  # fmt: skip
    if kind == "structured":
        hyper["channel_multiple"] = channel_multiple

    def build(tracker: Any, data: Data, run_id: str) -> Built:
        model = parent.model
        assert model is not None
        dense = _dense_bytes(model)
        details: dict[str, Any] = {"kind": kind, "sparsity_requested": sparsity}
        after_step = None
        if kind == "unstructured":
            achieved = prune.prune_unstructured(model, sparsity, include_linear)
            model.to(device)
            masks = prune.zero_masks(model, include_linear)  # on the fine-tuning device
            details["sparsity_achieved"] = achieved

            def after_step() -> None:
                prune.apply_masks(model, masks)
        else:
            details["channels"] = prune.prune_structured(
                model, sparsity, data.x_test[:2], norm=norm, multiple_of=channel_multiple
            )
            before = sum(c for c, _ in details["channels"].values())
            after = sum(k for _, k in details["channels"].values())
            details["channels_removed_fraction"] = 1 - after / before
            dense = _dense_bytes(model)
            model.to(device)
        with tracker.phase("finetune"):
            stats = fit(
                model, data.batches(batch_size, device=device), finetune_epochs, lr=lr,
                after_step=after_step,
            )  # fmt: skip
        details["finetune_losses"] = list(stats.epoch_losses)
        model.to("cpu").eval()
        counts = param_counts(model)

        def save(path: Path) -> int:
            from greenai.fsutil import atomic_write_bytes

            blob = variant_file_bytes(model, parent, variant, run_id)
            atomic_write_bytes(path, blob)
            return len(blob)

        return Built(
            predict=model, save=save, file_suffix=".pt", params=counts["params"],
            nonzero_params=counts["nonzero_params"], dense_size_bytes=dense, details=details,
        )  # fmt: skip

    return Step(variant, "prune", hyper, build, device)


def quantize_step(
    parent: Parent,
    *,
    method: str = "ptq",
    calib_batches: int = 10,
    batch_size: int = 128,
    epochs: int = 1,
    lr: float = 1e-4,
) -> Step:
    """INT8 for the CPU (PT2E): static PTQ with calibration batches, QAT, or dynamic."""
    from greenai.ml.compression import quantize as q
    from greenai.ml.evaluation.evaluate import param_counts

    if parent.quantized or parent.model is None:
        raise UsageError(f"{parent.source} is already quantized; quantize its FP32 parent instead")
    variant = f"quantized_{method}"
    hyper: dict[str, Any] = {"method": method, "batch_size": batch_size}
    if method == "ptq":
        hyper["calib_batches"] = calib_batches
    if method == "qat":
        hyper.update(epochs=epochs, lr=lr, optimizer="adam")

    def build(tracker: Any, data: Data, run_id: str) -> Built:
        assert parent.model is not None
        model = parent.model.eval()
        dense = _dense_bytes(model)
        example = data.x_test[:2]
        details: dict[str, Any] = {"method": method}
        if method == "ptq":
            calib = [
                data.x_train[i * batch_size : (i + 1) * batch_size] for i in range(calib_batches)
            ]
            calib = [c for c in calib if len(c)]
            details["calibration_images"] = sum(len(c) for c in calib)
            result = q.quantize_ptq(model, calib, example)
        elif method == "dynamic":
            result = q.quantize_dynamic(model, example)
        else:
            from greenai.ml.compression.distill import fit

            prepared = q.prepare_qat(model, example)
            with tracker.phase("qat"):
                stats = fit(
                    prepared, data.batches(batch_size), epochs, lr=lr,
                    train_mode=lambda flag: q.set_qat_mode(prepared, flag),
                )  # fmt: skip
            details["qat_losses"] = list(stats.epoch_losses)
            result = q.convert_qat(prepared, example)
        details["route"] = result.route
        meta = {"model": parent.model_name, "run_id": run_id, "parent_run_id": parent.run_id}
        blob = q.quantized_bytes(result, meta)  # strips the FP32 copies before compiling
        counts = param_counts(result.module)
        with tracker.phase("compile"):
            compiled = q.compile_for_cpu(result.module)
            compiled(data.x_test[:256])
            compiled(data.x_test[:1])

        def save(path: Path) -> int:
            from greenai.fsutil import atomic_write_bytes

            atomic_write_bytes(path, blob)
            return len(blob)

        return Built(
            predict=compiled, save=save, file_suffix=".int8.pt2z", params=counts["params"],
            nonzero_params=counts["nonzero_params"], dense_size_bytes=dense,
            precision="int8", setting="int8 torch.compile(inductor, freezing)", details=details,
        )  # fmt: skip

    return Step(variant, f"quantize_{method}", hyper, build)


def run_step(step: Step, parent: Parent, ctx: Context) -> dict[str, Any]:
    """``run_variant`` for a prepared step: a metered child run of ``parent``, with its result."""
    return run_variant(
        variant=step.variant, parent=parent, ctx=ctx, hyperparameters=step.hyperparameters,
        step_name=step.step_name, build=step.build, device=step.device,
    )  # fmt: skip
