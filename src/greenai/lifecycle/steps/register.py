"""Registering a model trained in the user's own loop: a lineage root that later steps derive from.

Its training energy is what ``greenai.track`` measured of that loop: the tracked run becomes the
registered run's parent when it is in the store (so it is counted once, by lineage), or the
measurement is counted in the registered run itself; without a measurement the training energy is
unknown, and the result says so instead of counting it as zero.
"""

from __future__ import annotations

from typing import Any

from greenai.lifecycle.registry import ROOT, StepKind, register_step

VARIANT = "registered"


def register(
    model: Any,
    env: Any,
    dataset: Any,
    *,
    measurement: Any = None,
    model_ref: str,
    model_kwargs: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``dataset`` (a loaded Dataset), save it as a greenai model file that
    knows its run, and record the run (``env``: a RunEnv). Returns the result dict."""
    from torch import nn

    from greenai.errors import UsageError
    from greenai.lifecycle.parents import Parent, variant_file_bytes
    from greenai.lifecycle.variant_data import DataSpec
    from greenai.lifecycle.variant_run import Built, blob_saver, dense_bytes, run_variant
    from greenai.ml.evaluation.evaluate import param_counts
    from greenai.ml.runtimes.measure import RuntimeSource
    from greenai.ml.training.checkpoint import weights_sha256
    from greenai.results.resultfile import piece_from_measurement

    if not isinstance(model, nn.Module):
        raise UsageError(f"register: expected a torch.nn.Module, got {type(model).__name__}")
    model = model.to("cpu").eval()
    tracked_id = getattr(measurement, "run_id", None)
    tracked = None
    if tracked_id and env.store is not None and env.store.has_run(tracked_id):
        tracked = env.store.get_run(tracked_id).result or None
    earlier: tuple[dict[str, Any], ...] = ()
    note = None
    if measurement is None:
        note = "the model was trained outside greenai and no measurement was given"
    elif tracked is None:
        earlier = (piece_from_measurement(measurement),)  # measured, but recorded nowhere else
    parent = Parent(
        source="your model", model=model, model_name=model_ref,
        model_kwargs=dict(model_kwargs or {}), num_classes=dataset.num_classes,
        run_id=tracked_id if tracked else None, result=tracked, note=note,
        input_shape=dataset.input_shape, dataset=dataset.spec,
    )  # fmt: skip
    hyper = {
        "model_ref": model_ref, "model_kwargs": dict(model_kwargs or {}),
        "training": "the user's own loop",
        "measured_by": tracked_id or ("greenai.track" if measurement is not None else None),
    }  # fmt: skip

    def build(tracker: Any, d: Any, rid: str) -> Built:
        counts = param_counts(model)

        save = blob_saver(lambda: variant_file_bytes(model, parent, VARIANT, rid))
        return Built(
            predict=model, save=save, file_suffix=".pt", params=counts["params"],
            nonzero_params=counts["nonzero_params"], dense_size_bytes=dense_bytes(model),
            details={"registered": True}, weights_sha256=weights_sha256(model),
            runtime_source=RuntimeSource(model),
        )  # fmt: skip

    return run_variant(
        variant=VARIANT, parent=parent, env=env, data=DataSpec(dataset.spec, source=dataset),
        hyperparameters=hyper, step_name="register", build=build, model_name=model_ref,
        run_id=run_id, break_even=False, earlier_pieces=earlier,
    )  # fmt: skip


register_step(StepKind(VARIANT, "Registered (own training)", ROOT, 5))
