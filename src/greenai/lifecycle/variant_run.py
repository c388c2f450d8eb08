"""A derived model's run (prune, quantize, distill, export): data, build, evaluation, inference.

Every variant is evaluated and timed the same way, on the CPU: accuracy on the test split, latency at
batch 1, throughput at batch 256 and energy per 1,000 images. The step itself (``build``) is metered
inside the run; the inference figures are taken after the step's meter stopped, by their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from greenai.lifecycle.inference import inference_figures
from greenai.lifecycle.parents import Parent
from greenai.lifecycle.run import MeteredRun, RunEnv, RunSpec
from greenai.lifecycle.variant_data import Data, DataSpec, load_data
from greenai.ml.evaluation.evaluate import FP32_SETTING
from greenai.ml.training.progress import phase_line
from greenai.results.runtimes import runtime_lines


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
    weights_sha256: str | None = None  # FP32 variants: names the file's weights for lineage
    epoch_losses: dict[str, list[float]] = field(default_factory=dict)  # metric -> per epoch
    # what the deployment runtimes are given (a ``greenai.ml.runtimes.measure.RuntimeSource``);
    # None: the variant is timed on its own predictor only (e.g. an ONNX export, QAT)
    runtime_source: Any = None


def blob_saver(make: Callable[[], bytes]) -> Callable[[Path], int]:
    """``Built.save`` for a model file made in memory: written atomically, its size returned."""

    def save(path: Path) -> int:
        from greenai.fsutil import atomic_write_bytes

        blob = make()
        atomic_write_bytes(path, blob)
        return len(blob)

    return save


def dense_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def run_variant(
    *,
    variant: str,
    parent: Parent,
    env: RunEnv,
    data: DataSpec,
    hyperparameters: dict[str, Any],
    step_name: str,
    build: Callable[[Any, Data, str], Built],
    model_name: str | None = None,
    device: str = "cpu",
    run_id: str | None = None,
    break_even: bool = True,
    earlier_pieces: tuple[dict[str, Any], ...] = (),
    trains: bool = False,
) -> dict[str, Any]:
    """Meter ``build`` (the step) and the evaluation; measure inference; record the run.

    ``device``: where ``build`` computed (its fine-tuning or distillation); evaluation and the
    inference figures are measured on the CPU for every variant alike (``inference.device``).
    ``trains``: the step fine-tunes, so under torchrun/SLURM every rank takes a shard (``Data.ddp``,
    ``training_ddp.variant_env``); any other step is refused there (``run_ranks.refuse_unshared_ranks``)."""
    from contextlib import nullcontext

    from greenai.lifecycle.training_ddp import variant_env

    joined = variant_env(env, device) if trains else nullcontext((env, None))
    with joined as (env, ddp):  # env: this rank's own (a follower's writes to scratch)
        from greenai.ml.evaluation import evaluate

        leader = ddp is None or ddp.leader  # a follower only fine-tunes its shard
        spec = RunSpec(
            variant=variant, model=model_name or parent.model_name,
            dataset=data.source.name if data.source is not None else _slug(data.dataset),
            device=device, hyperparameters=hyperparameters, parent_run_id=parent.run_id,
            parent_result=parent.result, parent_note=parent.note, break_even=break_even and leader,
            run_id=run_id,
            rerun=True,  # the same command again takes over its interrupted run (reconcile.find_rerun)
            mlflow_params={
                "hyperparameters": hyperparameters, "parent_run_id": parent.run_id,
                "parent_source": parent.source, "model": model_name or parent.model_name,
                "dataset": data.dataset, "limit_train": data.limit_train,
                "limit_test": data.limit_test,
            },
        )  # fmt: skip
        run = MeteredRun(spec, env)
        made: dict[str, Any] = {}

        def shown(k: int, what: str) -> Any:  # "prune RUN [2/4] build ..." on stderr, then its time
            return phase_line(f"{step_name} {run.run_id} [{k}/4] {what}", env.progress)

        def body(tracker: Any) -> dict[str, Any]:
            if ddp is not None:
                ddp.barrier()  # every rank's meter window opens before any rank works
            with tracker.phase("data"), shown(1, "loading the data"):
                loaded = load_data(data)
                loaded.ddp = ddp
            with tracker.phase(step_name), shown(2, step_name):
                built = build(tracker, loaded, run.run_id)
            made["built"] = built
            if not leader:
                ddp.barrier()  # the windows close together
                return {}
            with tracker.phase("eval"), shown(3, "evaluating and saving the model"):
                acc = evaluate.accuracy(built.predict, loaded.x_test, loaded.y_test)
                model_path = env.out_dir / "models" / f"{run.run_id}{built.file_suffix}"
                size = built.save(model_path)
            if ddp is not None:
                ddp.barrier()
            return {"data": loaded, "built": built, "acc": acc, "path": model_path, "size": size}

        def finish(o: dict[str, Any], m: Any) -> dict[str, Any]:
            if not leader:  # the leader's result is the job's
                return {}
            built, acc, size = o["built"], o["acc"], o["size"]
            sample = o["data"].x_test[:256]
            with shown(4, "timing inference and its energy"):
                inference = inference_figures(
                    built.predict, built.setting, sample, source=built.runtime_source,
                    x_test=o["data"].x_test, y_test=o["data"].y_test, carbon=env.carbon,
                    run_id=run.run_id, n_images=env.inference_images,
                )  # fmt: skip
            metrics = {
                "test_accuracy_pct": acc.test_accuracy_pct, "test_loss": acc.test_loss,
                "params": built.params, "nonzero_params": built.nonzero_params,
                "file_size_bytes": size, "file_size_mib": size / evaluate.MIB,
                "dense_size_bytes": built.dense_size_bytes, "test_images": acc.n_images,
            }  # fmt: skip
            if built.weights_sha256:
                metrics["weights_sha256"] = built.weights_sha256
            return {
                "precision": built.precision,
                "dataset_spec": data.dataset,
                "metrics": metrics,
                "compression": {**built.details, "parent_source": parent.source},
                "inference": inference,
                "artifacts": {
                    "model": run.relpath(o["path"]),
                    "emissions_csv": run.relpath(run.paths["emissions_csv"]),
                },
            }

        def epochs() -> list[dict[str, Any]]:
            rows: dict[int, dict[str, Any]] = {}
            built = made.get("built")
            for metric, losses in (built.epoch_losses if built else {}).items():
                for epoch, loss in enumerate(losses):
                    rows.setdefault(epoch, {"epoch": epoch})[metric] = loss
            return [rows[e] for e in sorted(rows)]

        return run.execute(body, finish, epochs=epochs, earlier_pieces=lambda: earlier_pieces)


def _slug(spec: str) -> str:
    from greenai.ml.data import dataset_slug

    return dataset_slug(spec)


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
    lines += runtime_lines(inf)
    if inf.get("timing_doubt"):
        lines.append(f"  timing unsure ({inf['timing_doubt']}): re-time on a quiet machine")
    comp = result.get("compression") or {}
    if comp.get("pruned_layers") is not None:
        lines.append(_pruned_line(comp["pruned_layers"], comp.get("dense_layers") or []))
    if life.get("note"):
        lines.append(f"  lifecycle: {life['note']}")
    if be:
        lines.append(f"  break-even: {be['explanation']}")
    return "\n".join(lines)


def _pruned_line(pruned: list[str], dense: list[str]) -> str:
    """Which weight layers unstructured pruning zeroed, and which it left dense (and why)."""

    def names(ns: list[str]) -> str:
        return ", ".join(ns) if len(ns) <= 6 else ", ".join(ns[:6]) + f", ... ({len(ns)} in all)"

    line = f"  pruned {len(pruned)} weight layer(s): {names(pruned)}"
    if dense:
        line += f"; left dense (linear; --include-linear prunes them): {names(dense)}"
    return line
