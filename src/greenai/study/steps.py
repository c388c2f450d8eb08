"""The real step functions: each calls another layer's Python function (never a subprocess).

Every function takes a ``StepContext`` and returns the result dict, which the called function has
already written as ``results/<dataset>_<variant>_<run_id>.json`` and recorded in the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from greenai.study.runner import StepContext, StepFn


def _train_config(ctx: StepContext) -> Any:
    from greenai.ml.training.config import TrainConfig

    return TrainConfig(**{**ctx.step.config["train"], "device": ctx.step.device}).validate()


def baseline(ctx: StepContext) -> Mapping[str, Any]:
    """Train the baseline (continuing an interrupted run from its checkpoint when there is one)."""
    from greenai.lifecycle.training_session import train_run
    from greenai.ml.training.config import paths_for

    resume = ctx.resume and paths_for(ctx.out_dir, ctx.run_id)["checkpoint"].is_file()
    return train_run(
        _train_config(ctx),
        out_dir=ctx.out_dir,
        store=ctx.store,
        carbon=ctx.carbon,
        variant="baseline",
        run_id=ctx.run_id,
        group=ctx.group,
        resume=resume,
        progress=ctx.progress,
        mlflow=ctx.mlflow,
    )


def _common_flags(ctx: StepContext) -> list[str]:
    """The flags every compression command shares, from the study's configuration."""
    train, carbon = ctx.step.config["train"], ctx.step.config["carbon"]
    flags = ["--out", str(ctx.out_dir), "--group", ctx.group, "--device", ctx.step.device]
    if ctx.store_url:
        flags += ["--store", ctx.store_url]
    for flag, value in (
        ("--data-dir", train.get("data_dir")),
        ("--limit-train", train.get("limit_train")),
        ("--limit-test", train.get("limit_test")),
        ("--batch-size", train.get("batch_size")),
        ("--country", carbon.get("country")),
        ("--pue", carbon.get("pue")),
        ("--intensity", carbon.get("intensity")),
    ):
        if value is not None:
            flags += [flag, str(value)]
    return flags if ctx.progress else [*flags, "--no-progress"]


def _variant_flags(ctx: StepContext) -> list[str]:
    st, parent = ctx.step.config["settings"], str(ctx.parent_result["run_id"])  # type: ignore[index]
    v = ctx.step.variant
    if v.startswith("pruned_"):
        return [
            "prune", "--from", parent, "--kind", v.removeprefix("pruned_"),
            "--sparsity", str(st["sparsity"]), "--finetune-epochs", str(st["finetune_epochs"]),
        ]  # fmt: skip
    if v == "quantized_ptq":
        return ["quantize", "--from", parent, "--method", "ptq",
                "--calib-batches", str(st["calib_batches"])]  # fmt: skip
    if v == "quantized_qat":
        return ["quantize", "--from", parent, "--method", "qat", "--epochs", str(st["qat_epochs"]),
                "--calib-batches", str(st["calib_batches"])]  # fmt: skip
    if v == "distilled":
        student = st["student"]
        return [
            "distill", "--teacher", parent, "--student", student["model"],
            "--student-width", str(student["width"]), "--epochs", str(st["distill_epochs"]),
            "--temperature", str(st["temperature"]), "--alpha", str(st["alpha"]),
        ]  # fmt: skip
    raise ValueError(f"no command for variant {v!r}")


def compression(ctx: StepContext) -> Mapping[str, Any]:
    """Run ``greenai prune|quantize|distill`` in this process on the step's parent, and return the
    result it wrote (the one new result file of this variant)."""
    from greenai.cli.main import build_parser
    from greenai.results.resultfile import load_result

    argv = [*_variant_flags(ctx), *_common_flags(ctx)]
    results = ctx.out_dir / "results"
    before = set(results.glob(f"*_{ctx.step.variant}_*.json"))
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:  # argparse printed why; a step must not end the study
        raise RuntimeError(
            f"greenai {argv[0]} refused the study's flags: {' '.join(argv)}"
        ) from None
    if ctx.mlflow is not None:
        args.mlflow_logger = ctx.mlflow  # the study's logger: the run nests under the study's
    args.func(args)
    new = sorted(set(results.glob(f"*_{ctx.step.variant}_*.json")) - before)
    if len(new) != 1:
        raise RuntimeError(f"greenai {argv[0]} wrote {len(new)} {ctx.step.variant} results, not 1")
    return load_result(new[0])


def default_steps() -> dict[str, StepFn]:
    """Variant name -> step function."""
    steps: dict[str, StepFn] = {"baseline": baseline}
    for variant in (
        "pruned_unstructured", "pruned_structured", "quantized_ptq", "quantized_qat", "distilled"
    ):  # fmt: skip
        steps[variant] = compression
    return steps
