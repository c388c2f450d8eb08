"""What a step starts from: a parent model, found by run id or by model file, with its lineage.

Every model file greenai writes (a training checkpoint, an FP32 variant file, an INT8 file) names its
run, and the FP32 ones also carry the SHA-256 of their weights. So ``--from FILE`` finds the run that
wrote the file (in the store, else in ``<out>/results``) and, when the weights are the ones that run
recorded, counts that run's lifecycle exactly as ``--from RUN_ID`` does. Only a foreign file (or one
whose run is nowhere to be found) starts a lineage with "parent energy unknown".
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from greenai.errors import DataError, UsageError

VARIANT_FORMAT = "greenai-variant"
DEFAULT_INPUT_SHAPE = (3, 32, 32)


@dataclass
class Parent:
    """What a variant is derived from: an FP32 model (None when the file is INT8) and its run."""

    source: str  # the run id or file path as given
    model: nn.Module | None
    model_name: (
        str | None
    )  # a built-in name or a model reference (``MODULE:NAME``, ``file.py:NAME``)
    model_kwargs: dict[str, Any]
    num_classes: int
    run_id: str | None
    result: dict[str, Any] | None  # the parent run's result: its lifecycle is counted
    quantized: bool = False
    input_shape: tuple[int, int, int] = DEFAULT_INPUT_SHAPE
    note: str | None = None  # why the parent's energy is unknown (None when it is known)
    dataset: str | None = None  # the dataset spec the parent was trained on, when recorded

    def require_fp32(self, what: str) -> nn.Module:
        if self.quantized or self.model is None:
            raise UsageError(f"{self.source} is INT8: {what} needs its FP32 parent")
        return self.model


def resolve_parent(ref: str, out_dir: Path, store: Any) -> Parent:
    """A run id (store or ``results/``) or a model file path -> Parent. Unknown: UsageError."""
    path = Path(ref)
    if path.is_file():
        return _with_lineage(load_model_file(path), out_dir, store)
    result = find_result(ref, out_dir, store)
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
    parent = load_model_file(model_path)
    parent.source, parent.run_id, parent.result, parent.note = ref, ref, result, None
    parent.dataset = _dataset_of(result) or parent.dataset
    return parent


def find_result(run_id: str, out_dir: Path, store: Any) -> dict[str, Any] | None:
    """A finished run's result: from the store, else from ``<out>/results``; None if neither."""
    if store is not None and store.has_run(run_id):
        rec = store.get_run(run_id)
        if rec.result:
            return dict(rec.result)
    from greenai.results.resultfile import load_result

    matches = sorted((out_dir / "results").glob(f"*_{run_id}.json"))
    return load_result(matches[0]) if matches else None


def _with_lineage(parent: Parent, out_dir: Path, store: Any) -> Parent:
    """Attach the run that wrote a greenai model file, when it can be found and the weights match."""
    claimed = parent.run_id
    if claimed is None:
        parent.note = f"{parent.source} names no greenai run (a foreign file)"
        return parent
    result = find_result(claimed, out_dir, store)
    if result is None:
        parent.note = (
            f"{parent.source} names run {claimed}, which is in neither the store nor results"
        )
        parent.run_id = None
        return parent
    recorded = (result.get("metrics") or {}).get("weights_sha256")
    if parent.model is not None and recorded:
        from greenai.ml.training.checkpoint import weights_sha256

        if weights_sha256(parent.model) != recorded:
            parent.note = f"{parent.source}: its weights differ from those run {claimed} recorded"
            parent.run_id = None
            return parent
    parent.result, parent.note = result, None
    parent.dataset = _dataset_of(result) or parent.dataset
    return parent


def _dataset_of(result: dict[str, Any]) -> str | None:
    """The dataset spec a run recorded (a result from before specs: its built-in dataset name);
    None for data handed over in memory, which no string can rebuild."""
    spec = result.get("dataset_spec")
    if spec is not None:
        return spec or None
    name = result.get("dataset")
    return name if name in ("cifar10", "synthetic") else None


def load_model_file(path: Path) -> Parent:
    """Load a greenai checkpoint, a greenai variant file or an INT8 file (its run id as claimed)."""
    from greenai.ml.compression import int8_file
    from greenai.ml.training import checkpoint

    if int8_file.is_quantized_file(path):
        meta = int8_file.read_quantized_meta(path)  # never unpickles a user-given program
        return Parent(
            str(path), None, meta.get("model"), {}, int(meta.get("num_classes", 10)),
            meta.get("run_id"), None, quantized=True,
        )  # fmt: skip
    obj = checkpoint.load_torch_file(path)  # names a refused global (a malicious pickle)
    if isinstance(obj, dict) and obj.get("format") == checkpoint.FORMAT:
        model, ck = checkpoint.model_from_checkpoint(path)
        cfg = ck["config"]
        return Parent(
            str(path), model, cfg["model"], checkpoint.model_kwargs(cfg),
            int(ck.get("num_classes", 10)), ck.get("run_id"), None,
            input_shape=_shape(ck.get("input_shape")), dataset=cfg.get("dataset"),
        )  # fmt: skip
    if isinstance(obj, dict) and obj.get("format") == VARIANT_FORMAT:
        model = build_variant_model(obj, path)
        return Parent(
            str(path), model, obj["model"], dict(obj.get("model_kwargs") or {}),
            int(obj.get("num_classes", 10)), obj.get("run_id"), None,
            input_shape=_shape(obj.get("input_shape")), dataset=obj.get("dataset"),
        )  # fmt: skip
    raise UsageError(
        f"{path}: not a greenai checkpoint or variant (a bare state_dict names no model)"
    )


def _shape(value: Any) -> tuple[int, int, int]:
    return tuple(int(v) for v in value) if value else DEFAULT_INPUT_SHAPE  # type: ignore[return-value]


def build_variant_model(obj: dict[str, Any], path: Path | str = "<variant>") -> nn.Module:
    from greenai.ml.compression.prune import decode_state_dict, fit_to_state_dict
    from greenai.ml.models import create_model

    model = create_model(
        obj["model"], num_classes=int(obj.get("num_classes", 10)),
        input_shape=_shape(obj.get("input_shape")), **(obj.get("model_kwargs") or {}),
    )  # fmt: skip
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
    """The FP32 variant file: tagged with its run and weights hash, compact (bitmask+values where
    sparse), loadable with ``weights_only=True``."""
    import torch

    from greenai.ml.compression.prune import encode_state_dict
    from greenai.ml.training.checkpoint import weights_sha256

    obj = {
        "format": VARIANT_FORMAT,
        "version": 1,
        "model": model_name or parent.model_name,
        "model_kwargs": parent.model_kwargs if model_kwargs is None else model_kwargs,
        "num_classes": parent.num_classes,
        "input_shape": list(parent.input_shape),
        "dataset": parent.dataset,
        "variant": variant,
        "run_id": run_id,
        "parent_run_id": parent.run_id,
        "weights_sha256": weights_sha256(model),
        "state": encode_state_dict(model.state_dict()),
    }
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()
