"""Work-normalised energy: joules per unit of work done, a result's ``work`` section.

Totals hide the work: a run that trained on twice the samples or served at a larger batch is not
"worse" for using more joules. Every result carries, where its figures allow (None otherwise):

- ``j_per_training_sample``: the step's grid energy (PUE included, J) over the training samples it
  processed (``training.train_images`` x ``training.epochs_run``, or ``training.samples`` as a
  trainer callback counts them); the step includes data loading and evaluation, so this is an upper
  bound on the training loop's own figure;
- ``j_per_inference_item``: ``inference.energy_j_per_1000_images`` (or ``_items``) / 1,000, per
  ``inference_item`` (image, sentence, ...), with the batch size, threads and steady-state window
  the figure was taken over;
- ``j_per_correct_prediction``: J per inference item over the test accuracy (a fraction): what one
  *correct* answer costs; None without an accuracy (a text encoder's fidelity is not correctness).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JOULES_PER_KWH = 3.6e6


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def training_samples(result: Mapping[str, Any]) -> int | None:
    """Training samples a run processed, from its ``training`` section (None when not a training)."""
    training = result.get("training") or {}
    counted = _num(training.get("samples"))
    if counted:
        return int(counted)
    images, epochs = _num(training.get("train_images")), _num(training.get("epochs_run"))
    return int(images * epochs) if images and epochs else None


def work_section(result: Mapping[str, Any]) -> dict[str, Any]:
    """The ``work`` section of ``result`` (module docstring)."""
    step = (result.get("energy") or {}).get("step") or {}
    step_kwh = _num(step.get("energy_kwh"))
    samples = training_samples(result)
    inf = result.get("inference") or {}
    per_1000 = _num(inf.get("energy_j_per_1000_images", inf.get("energy_j_per_1000_items")))
    per_item = None if per_1000 is None else per_1000 / 1000.0
    acc = _num((result.get("metrics") or {}).get("test_accuracy_pct"))
    return {
        "training_samples": samples,
        "j_per_training_sample": (
            step_kwh * JOULES_PER_KWH / samples if step_kwh is not None and samples else None
        ),
        "inference_item": inf.get("item") or ("image" if per_1000 is not None else None),
        "j_per_inference_item": per_item,
        "j_per_1000_tokens": _num(inf.get("energy_j_per_1000_tokens")),
        "j_per_correct_prediction": per_item / (acc / 100.0) if per_item and acc else None,
        "inference_batch_size": inf.get("batch_size", inf.get("energy_batch_size")),
        "inference_threads": inf.get("threads", inf.get("energy_threads")),
        "inference_window": inf.get("energy_window"),
    }
