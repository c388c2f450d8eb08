"""INT8 quantization steps for the CPU (PT2E): static PTQ with calibration batches, QAT, dynamic."""

from __future__ import annotations

from typing import Any

from greenai.lifecycle.registry import FP32, StepKind, register_step


def quantize(
    parent: Any,
    env: Any,
    data: Any,
    *,
    method: str = "ptq",
    calib_batches: int = 10,
    batch_size: int = 128,
    epochs: int = 1,
    lr: float = 1e-4,
    run_id: str | None = None,
) -> dict[str, Any]:
    """INT8-quantize ``parent`` (a ``Parent``) and record the run; returns the result dict."""
    from greenai.lifecycle.variant_run import Built, blob_saver, dense_bytes, run_variant
    from greenai.ml.compression import int8_file
    from greenai.ml.compression import quantize as q
    from greenai.ml.evaluation.evaluate import param_counts
    from greenai.ml.runtimes.measure import RuntimeSource
    from greenai.ml.training.progress import epoch_reporter

    q.check_available()  # a missing torchao: one line, before anything
    model = parent.require_fp32("INT8 quantization").eval()
    if method not in q.METHODS:
        from greenai.errors import UsageError

        raise UsageError(f"unknown quantization method {method!r}; choose {', '.join(q.METHODS)}")
    variant = f"quantized_{method}"
    hyper: dict[str, Any] = {"method": method, "batch_size": batch_size}
    if method == "ptq":
        hyper["calib_batches"] = calib_batches
    if method == "qat":
        hyper.update(epochs=epochs, lr=lr, optimizer="adam")

    def build(tracker: Any, d: Any, rid: str) -> Built:
        dense = dense_bytes(model)
        example = d.x_test[:2]
        details: dict[str, Any] = {"method": method}
        losses: dict[str, list[float]] = {}
        if method == "ptq":
            calib = [d.x_train[i * batch_size : (i + 1) * batch_size] for i in range(calib_batches)]
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
                    prepared, d.batches(batch_size), epochs, lr=lr,
                    train_mode=lambda flag: q.set_qat_mode(prepared, flag), ddp=d.ddp,
                    on_epoch=epoch_reporter(f"qat {rid}", epochs, env.progress),
                )  # fmt: skip
            details["qat_losses"] = losses["qat_loss"] = list(stats.epoch_losses)
            result = q.convert_qat(prepared, example)
        details["route"] = result.route
        meta = {
            "model": parent.model_name, "run_id": rid, "parent_run_id": parent.run_id,
            "num_classes": parent.num_classes, "input_shape": list(parent.input_shape),
        }  # fmt: skip
        blob = int8_file.quantized_bytes(result, meta)  # strips the FP32 copies before compiling
        counts = param_counts(result.module)
        with tracker.phase("compile"):
            compiled = int8_file.compile_saved(result, blob)  # retime reuses it: no second compile
            compiled(d.x_test[:256])
            compiled(d.x_test[:1])

        return Built(
            predict=compiled, save=blob_saver(lambda: blob), file_suffix=".int8.pt2z", params=counts["params"],
            nonzero_params=counts["nonzero_params"], dense_size_bytes=dense,
            precision="int8", setting="int8 torch.compile(inductor, freezing)", details=details,
            epoch_losses=losses,
            # PTQ on the other runtimes: each quantizes the FP32 parent with these calibration
            # images itself; QAT's and dynamic's weights come from PyTorch's own route only
            runtime_source=RuntimeSource(model, "int8", calib, own="pytorch_compiled")
            if method == "ptq"
            else None,
        )  # fmt: skip

    return run_variant(
        variant=variant, parent=parent, env=env, data=data, hyperparameters=hyper,
        step_name=f"quantize_{method}", build=build, run_id=run_id, trains=method == "qat",
    )  # fmt: skip


def _from_study(method: str) -> Any:
    def run(ctx: Any) -> dict[str, Any]:
        from greenai.lifecycle.steps import _study

        st = _study.settings(ctx)
        return quantize(
            _study.parent(ctx), _study.env(ctx), _study.data(ctx), method=method,
            calib_batches=int(st["calib_batches"]), epochs=int(st.get("qat_epochs") or 1),
            batch_size=_study.batch_size(ctx), run_id=ctx.run_id,
        )  # fmt: skip

    return run


register_step(
    StepKind(
        "quantized_ptq",
        "Quantized (PTQ INT8)",
        FP32,
        30,
        study_settings=("calib_batches",),
        run=_from_study("ptq"),
    )
)
register_step(
    StepKind(
        "quantized_qat",
        "Quantized (QAT INT8)",
        FP32,
        40,
        study_settings=("qat_epochs", "calib_batches"),
        run=_from_study("qat"),
    )
)
register_step(StepKind("quantized_dynamic", "Quantized (dynamic INT8)", FP32, 45))
