"""Pruning steps: magnitude pruning made permanent (unstructured, or whole channels), then
fine-tuning, as a metered child run of a trained FP32 model."""

from __future__ import annotations

from typing import Any

from greenai.lifecycle.registry import FP32, StepKind, register_step

# structured pruning's default rounding of each layer's kept channels: 16 FP32 fill one AVX-512
# vector (two AVX2 ones). bench/compression.py, seed_cnn at 30 %, AMD EPYC (2026-12-02): multiples
# of 16 (16/48/96/176 channels) ran 2.02x the FP32 on ONNX Runtime (1.89-1.95x on PyTorch and
# OpenVINO), multiples of 8 (24/48/88/176) at best 1.42x, exact (22/45/90/179) 1.52x; 73.47, 74.15
# and 73.92 % after one fine-tuning epoch
CHANNEL_MULTIPLE = 16


def prune(
    parent: Any,
    env: Any,
    data: Any,
    *,
    sparsity: float,
    kind: str = "unstructured",
    include_linear: bool = False,
    norm: int = 1,
    finetune_epochs: int = 1,
    lr: float = 5e-4,
    batch_size: int = 128,
    device: str = "cpu",
    channel_multiple: int = CHANNEL_MULTIPLE,
    run_id: str | None = None,
    finetune: str = "auto",
) -> dict[str, Any]:
    """Prune ``parent`` (a ``Parent``) to ``sparsity``, fine-tune on ``device``, record the run.

    ``env``: a ``RunEnv``; ``data``: a ``DataSpec``. ``finetune``: "adam" at ``lr``, "recipe" (the
    parent's airbench recipe, ``ml.compression.finetune``) or "auto" (the recipe for a parent trained
    by one). Returns the result dict."""
    from greenai.lifecycle.parents import variant_file_bytes
    from greenai.lifecycle.variant_run import Built, blob_saver, dense_bytes, run_variant
    from greenai.ml.compression import prune as pr
    from greenai.ml.compression.distill import fit
    from greenai.ml.compression.finetune import settings_for, trained_config
    from greenai.ml.evaluation.evaluate import param_counts
    from greenai.ml.runtimes.measure import RuntimeSource
    from greenai.ml.training.checkpoint import weights_sha256
    from greenai.ml.training.progress import epoch_reporter

    model = parent.require_fp32("pruning")
    how = settings_for(trained_config(parent.result), lr=lr, batch_size=batch_size, how=finetune)
    pr.check_sparsity(sparsity)
    if kind not in pr.KINDS:
        from greenai.errors import UsageError

        raise UsageError(f"unknown pruning kind {kind!r}; choose {', '.join(pr.KINDS)}")
    if kind == "structured":
        pr.check_structured(model)  # an untraceable model: one line, nothing written
    else:
        pr.check_prunable(model, include_linear)  # "nothing to prune": one line, nothing written
    variant = f"pruned_{kind}"
    hyper: dict[str, Any] = {
        "kind": kind, "sparsity": sparsity, "include_linear": include_linear, "norm": norm,
        "finetune_epochs": finetune_epochs, "lr": how.lr, "batch_size": batch_size,
        "optimizer": how.optimizer, "finetune": how.describe(),
    }  # fmt: skip
    if kind == "structured":
        hyper["channel_multiple"] = channel_multiple

    def build(tracker: Any, d: Any, rid: str) -> Built:
        dense = dense_bytes(model)
        details: dict[str, Any] = {"kind": kind, "sparsity_requested": sparsity}
        after_step = None
        if kind == "unstructured":
            achieved = pr.prune_unstructured(model, sparsity, include_linear)
            details["sparsity_achieved"] = achieved
            details["pruned_layers"] = list(achieved)
            details["dense_layers"] = pr.skipped_weights(model, include_linear)  # left as they were
            model.to(device)
            masks = pr.zero_masks(model, include_linear)  # on the fine-tuning device

            def after_step() -> None:
                pr.apply_masks(model, masks)
        else:
            channels = pr.prune_structured(
                model, sparsity, d.x_test[:2], norm=norm, multiple_of=channel_multiple
            )
            details["channels"] = channels
            details["channels_removed_fraction"] = pr.channels_removed_fraction(channels)
            dense = dense_bytes(model)
            model.to(device)
        with tracker.phase("finetune"):
            stats = fit(
                model, d.batches(batch_size, device=device), finetune_epochs, lr=lr,
                after_step=after_step, ddp=d.ddp, settings=how,
                steps_per_epoch=d.steps(batch_size),
                on_epoch=epoch_reporter(f"prune {rid}: fine-tuning", finetune_epochs, env.progress),
            )  # fmt: skip
        details["finetune_losses"] = list(stats.epoch_losses)
        model.to("cpu").eval()
        counts = param_counts(model)

        save = blob_saver(lambda: variant_file_bytes(model, parent, variant, rid))
        return Built(
            predict=model, save=save, file_suffix=".pt", params=counts["params"],
            nonzero_params=counts["nonzero_params"], dense_size_bytes=dense, details=details,
            weights_sha256=weights_sha256(model),
            epoch_losses={"finetune_loss": list(stats.epoch_losses)},
            runtime_source=RuntimeSource(model),
        )  # fmt: skip

    return run_variant(
        variant=variant, parent=parent, env=env, data=data, hyperparameters=hyper,
        step_name="prune", build=build, device=device, run_id=run_id, trains=True,
    )  # fmt: skip


def _from_study(kind: str) -> Any:
    def run(ctx: Any) -> dict[str, Any]:
        from greenai.lifecycle.steps import _study

        st = _study.settings(ctx)
        return prune(
            _study.parent(ctx), _study.env(ctx), _study.data(ctx), kind=kind,
            sparsity=float(st["sparsity"]), finetune_epochs=int(st["finetune_epochs"]),
            batch_size=_study.batch_size(ctx), device=_study.device(ctx), run_id=ctx.run_id,
            channel_multiple=CHANNEL_MULTIPLE,
        )  # fmt: skip

    return run


for _order, _kind, _display in ((10, "unstructured", "Pruned (unstructured)"),
                                (20, "structured", "Pruned (structured)")):  # fmt: skip
    register_step(
        StepKind(
            f"pruned_{_kind}",
            _display,
            FP32,
            _order,
            study_settings=("sparsity", "finetune_epochs"),
            run=_from_study(_kind),
        )
    )
