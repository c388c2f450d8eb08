"""The result of a training run: the result JSON's sections, and the inference measurement."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import torch

from greenai.ml.data import Dataset, normalize
from greenai.ml.evaluation import INFERENCE_IMAGES
from greenai.ml.models import count_params


def build_result(session: Any, outcome: dict[str, Any], paths: dict[str, Path]) -> dict[str, Any]:
    """``session``: the ``TrainingSession`` (not imported: it imports this module).

    A finished training run's own result sections (schema in docs/ARCHITECTURE.md); the common
    ones (identity, energy, carbon, software) come from the run skeleton (``lifecycle/run.py``);
    ``inference`` is left None for ``measure_inference`` to fill."""
    from greenai.ml.training.checkpoint import weights_sha256

    cfg, st = session.cfg, outcome["state"]
    params = count_params(st["net"])
    nonzero = sum(int((p != 0).sum()) for p in st["net"].parameters())
    ckpt_bytes = paths["checkpoint"].stat().st_size if paths["checkpoint"].exists() else None
    weights_bytes = outcome["weights_bytes"]
    target = st["target"]
    splits = st["splits"]
    return {
        "precision": cfg.precision,
        "dataset_spec": cfg.dataset,
        "hyperparameters": session.hyperparameters(),
        "metrics": {
            "test_accuracy_pct": outcome["test_acc"],  # one forward per image, as deployed
            # airbench recipes: with flip + 1-pixel-shift test-time augmentation (6 forwards per
            # image; airbench's convention for its 94 %), never compared with the variants'
            "test_accuracy_tta_pct": _or_none(outcome.get("test_acc_tta")),
            "test_loss": outcome["test_loss"],
            "holdout_accuracy_pct": _or_none(outcome["holdout_acc"]),
            "params": params,
            "nonzero_params": nonzero,
            "file_size_bytes": weights_bytes,
            "file_size_mib": weights_bytes / 2**20,
            "dense_size_bytes": weights_bytes,
            "checkpoint_size_bytes": ckpt_bytes,
            "test_images": len(splits.y_test),
            "weights_sha256": weights_sha256(st["net"]),
        },
        "training": {
            "epochs_run": len(session.log_rows),
            "train_images": len(splits.y_train),
            "threads": torch.get_num_threads(),
            "holdout_images": len(splits.y_holdout),
            "stopped_early": target is not None and target["epoch"] < cfg.epochs,
            "target_accuracy_pct": cfg.target_accuracy,
            "target_reached": target,
            "data_source": session.dataset.source,
            "data_note": session.dataset.note or None,
            "input_shape": list(session.dataset.input_shape),
            "num_classes": session.dataset.num_classes,
            "skipped_settings": session.skipped or None,
        },
        "inference": None,
        "artifacts": {
            name: str(path.relative_to(session.out_dir))
            for name, path in (
                ("model", paths["checkpoint"]),
                ("weights", paths["weights"]),
                ("training_log", paths["training_log"]),
                ("emissions_csv", paths["emissions_csv"]),
            )
        },
    }


def inference_copy(net: torch.nn.Module) -> torch.nn.Module:
    """The trained net as its FP32 variants run: a CPU copy in eval mode with plain (NCHW) weights.

    Training with ``channels_last`` leaves the conv weights channels-last, which runs eager
    inference about twice as fast here; the variants derived from the net load theirs plain, so
    measuring the parent as trained would make every variant look slower than it is."""
    return copy.deepcopy(net).to("cpu").eval().to(memory_format=torch.contiguous_format)


def measure_inference(
    net: torch.nn.Module,
    x_test: torch.Tensor,
    dataset: Dataset,
    carbon: Any,
    *,
    run_id: str,
    n_images: int = INFERENCE_IMAGES,
    y_test: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Latency, throughput and energy per 1,000 images of the trained model on the CPU, measured
    by their own meter after the training meter stopped; with ``y_test``, on every deployment
    runtime (``lifecycle.inference``), each checked for accuracy on the test split."""
    from greenai.lifecycle.inference import inference_figures
    from greenai.lifecycle.variant_data import Normalized
    from greenai.ml.evaluation import evaluate
    from greenai.ml.runtimes.measure import RuntimeSource

    model = inference_copy(net)
    sample = normalize(x_test[:256].cpu(), dataset.mean, dataset.std, torch.float32)

    @torch.no_grad()
    def predict(x: torch.Tensor) -> torch.Tensor:
        return model(x)

    return inference_figures(
        predict, evaluate.FP32_SETTING, sample,
        source=RuntimeSource(model) if y_test is not None else None,
        x_test=Normalized(_cpu(x_test), dataset.mean, dataset.std), y_test=y_test,
        carbon=carbon, run_id=run_id, repeats=7 if n_images >= INFERENCE_IMAGES else 3, n_images=n_images,
    )  # fmt: skip


def _cpu(x: Any) -> Any:
    """A tensor moved to the CPU; a streamed image view (read on indexing) as it is."""
    return x.cpu() if isinstance(x, torch.Tensor) else x


def _or_none(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None
