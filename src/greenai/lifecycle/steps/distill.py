"""Knowledge distillation (Hinton et al. 2015) from a trained teacher into a new student."""

from __future__ import annotations

from typing import Any

from greenai.lifecycle.registry import FP32, StepKind, register_step


def distill(
    teacher: Any,
    env: Any,
    data: Any,
    *,
    student: str | Any,
    student_kwargs: dict[str, Any] | None = None,
    temperature: float = 4.0,
    alpha: float = 0.9,
    epochs: int = 5,
    lr: float = 1e-3,
    batch_size: int = 128,
    seed: int = 0,
    device: str = "cpu",
    run_id: str | None = None,
    finetune: str = "auto",
) -> dict[str, Any]:
    """Distil ``teacher`` (a ``Parent``) into ``student``: a model name or reference (built for the
    teacher's classes and input shape) or an ``nn.Module`` the caller built. Records the run."""
    import torch

    from greenai.lifecycle.parents import variant_file_bytes
    from greenai.lifecycle.variant_run import Built, blob_saver, dense_bytes, run_variant
    from greenai.ml.compression.distill import check_distill_args, fit, hinton_loss_fn
    from greenai.ml.compression.finetune import settings_for, trained_config
    from greenai.ml.evaluation.evaluate import param_counts
    from greenai.ml.models import create_model, is_builtin, model_reference, reference_of
    from greenai.ml.runtimes.measure import RuntimeSource
    from greenai.ml.training.checkpoint import weights_sha256
    from greenai.ml.training.progress import epoch_reporter

    check_distill_args(temperature, alpha)
    teacher_model = teacher.require_fp32("distillation (as the teacher)")
    kwargs = dict(student_kwargs or {})
    skipped = {}
    if isinstance(student, str) and not is_builtin(student) and "width" in kwargs:
        kwargs.pop("width")  # a width multiplier fits only the built-in nets
        skipped["student_width"] = "a width multiplier fits only the built-in nets"
    torch.manual_seed(seed)
    if isinstance(student, str):
        student_name = model_reference(student)
        net = create_model(
            student_name, num_classes=teacher.num_classes, input_shape=teacher.input_shape,
            **kwargs,
        )  # fmt: skip
    else:
        net, student_name = student, reference_of(student)
    recipe = trained_config(teacher.result)
    if finetune == "auto" and recipe is not None and recipe.get("model") != student_name:
        recipe = None  # the teacher's recipe is tuned for its own net: a seed_cnn diverged (10 %)
    how = settings_for(recipe, lr=lr, batch_size=batch_size, from_scratch=True, how=finetune)
    hyper = {
        "student": student_name, "student_kwargs": kwargs, "temperature": temperature,
        "alpha": alpha, "epochs": epochs, "lr": how.lr, "batch_size": batch_size, "seed": seed,
        "optimizer": how.optimizer, "finetune": how.describe(), "teacher_model": teacher.model_name,
    }  # fmt: skip

    def build(tracker: Any, d: Any, rid: str) -> Built:
        with tracker.phase("train"):
            net.to(device)
            teacher_on = teacher_model.to(device)
            stats = fit(
                net, d.batches(batch_size, seed, device=device), epochs, lr=lr,
                loss_fn=hinton_loss_fn(temperature, alpha), teacher=teacher_on, ddp=d.ddp,
                settings=how, steps_per_epoch=d.steps(batch_size),
                on_epoch=epoch_reporter(f"distill {rid}", epochs, env.progress),
            )  # fmt: skip
        net.to("cpu").eval()
        teacher_model.to("cpu")
        counts = param_counts(net)

        save = blob_saver(
            lambda: variant_file_bytes(net, teacher, "distilled", rid, student_name, kwargs)
        )
        return Built(
            predict=net, save=save, file_suffix=".pt", params=counts["params"],
            nonzero_params=counts["nonzero_params"], dense_size_bytes=dense_bytes(net),
            details={
                "losses": list(stats.epoch_losses), "teacher_run_id": teacher.run_id,
                "skipped_settings": skipped or None,
            },
            weights_sha256=weights_sha256(net),
            epoch_losses={"train_loss": list(stats.epoch_losses)},
            runtime_source=RuntimeSource(net),
        )  # fmt: skip

    return run_variant(
        variant="distilled", parent=teacher, env=env, data=data, hyperparameters=hyper,
        step_name="distill", build=build, model_name=student_name, device=device, run_id=run_id,
        trains=True,
    )  # fmt: skip


def _from_study(ctx: Any) -> dict[str, Any]:
    from greenai.lifecycle.steps import _study

    st = _study.settings(ctx)
    student = st["student"]
    model, width = student["model"], float(student.get("width", 1.0))
    if model == "auto":  # the teacher's own net at a fraction of its width
        teacher = (ctx.parent_result or {}).get("hyperparameters") or {}
        model = teacher.get("model") or "seed_cnn"
        width *= float(teacher.get("width") or 1.0)
    return distill(
        _study.parent(ctx), _study.env(ctx), _study.data(ctx), student=model,
        student_kwargs={"width": width} if width != 1.0 else {},
        temperature=float(st["temperature"]), alpha=float(st["alpha"]),
        epochs=int(st["distill_epochs"]), batch_size=_study.batch_size(ctx),
        device=_study.device(ctx), run_id=ctx.run_id,
    )  # fmt: skip


register_step(
    StepKind(
        "distilled",
        "Distilled",
        FP32,
        50,
        study_settings=("student", "distill_epochs", "temperature", "alpha"),
        run=_from_study,
    )
)
