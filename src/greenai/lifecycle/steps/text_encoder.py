"""The text-encoder workload through the library core: all-MiniLM-L6-v2 and its variants as runs.

The pretrained model is registered as an external lineage root (``text_registered``): it was
trained by others, outside greenai, and no measurement of that training exists, so its training
energy is *unknown* — the result says so (``energy.lifecycle.note``, ``parent_energy_known: false``)
and counts nothing for it, never zero by silence. Its own step is loading it and measuring its FP32
embeddings. Each variant (``text_int8_dynamic``, ``text_bf16``, ``text_onnx_int8``) is a child run
whose step is building the variant and computing its embeddings; its lifecycle adds the root's.

Every run's result carries the work-normalised figures of ``greenai.ml.text.measure`` (J per 1,000
sentences and tokens over a steady-state window, batch size and threads stated), its size, and
``metrics.fidelity_cosine`` (mean cosine similarity to the FP32 embeddings over the corpus) in place
of an accuracy; variants get a break-even against the root (``results.lineage.break_even``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from greenai.lifecycle.registry import FP32, ROOT, StepKind, register_step

ROOT_VARIANT = "text_registered"
DATASET = "stdlib_sentences"
UNKNOWN_TRAINING = (
    "all-MiniLM-L6-v2 was trained outside greenai (by sentence-transformers) and no measurement "
    "of that training was given"
)


def _section(
    encoder: Any, embeddings: Any, state: dict[str, Any], env: Any, batch_size: int,
    min_seconds: float,
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """(metrics, inference) of one encoder whose corpus embeddings are ``embeddings``."""
    from greenai.ml.text import encoder as text
    from greenai.ml.text import measure

    batches, singles, reference = state["batches"], state["singles"], state["reference"]
    metrics = {
        "fidelity_cosine": text.fidelity(embeddings, reference),
        "fidelity_sentences": int(embeddings.shape[0]),
        "file_size_bytes": encoder.size_bytes,
        "file_size_mib": encoder.size_bytes / 2**20,
        "precision": encoder.precision,
    }
    inference = measure.figures(
        encoder, batches, singles, batch_size=batch_size, carbon=env.carbon,
        min_seconds=min_seconds,
    )  # fmt: skip
    return metrics, inference


def run_text_workload(
    env: Any,
    *,
    variants: Sequence[str] = ("int8_dynamic", "bf16", "onnx_int8"),
    n_sentences: int = 3000,
    batch_size: int = 32,
    min_seconds: float = 2.0,
    model_path: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Register MiniLM and run each of ``variants`` from it (``env``: a ``RunEnv``). Returns the
    results, root first. The fidelity is over the corpus' first ``n_sentences`` sentences."""
    import torch

    from greenai.errors import UsageError
    from greenai.lifecycle.run import MeteredRun, RunSpec
    from greenai.ml.text import encoder as text
    from greenai.ml.text.corpus import provenance, sentences

    unknown = [v for v in variants if v not in text.VARIANTS or v == "fp32"]
    if unknown or not 1 <= batch_size <= 1024 or n_sentences < batch_size:
        raise UsageError(
            f"text workload: variants from {', '.join(text.VARIANTS[1:])} (got {list(variants)}), "
            f"batch size 1..1024 and at least one batch of sentences"
        )
    corpus = sentences(n_sentences)
    hyper = {"n_sentences": len(corpus), "batch_size": batch_size, "max_tokens": text.MAX_TOKENS,
             "threads": torch.get_num_threads(), "corpus": provenance()}  # fmt: skip
    state: dict[str, Any] = {}

    def load(tracker: Any) -> dict[str, Any]:
        with tracker.phase("load"):
            model, tokenizer = text.load_minilm(model_path)
            batches = text.batches(tokenizer, corpus, batch_size)
            singles = text.batches(tokenizer, corpus[:8], 1)
        with tracker.phase("eval"):
            fp32 = text.build_variant("fp32", model, batches[0], Path("."))
            reference = text.embed(fp32, batches)
        state.update(model=model, batches=batches, singles=singles, reference=reference)
        return fp32

    def finish(fp32: Any, m: Any) -> dict[str, Any]:
        metrics, inference = _section(fp32, state["reference"], state, env, batch_size,
                                      min_seconds)  # fmt: skip
        metrics["params"] = sum(p.numel() for p in state["model"].parameters())
        return {"metrics": metrics, "inference": inference, "precision": "fp32"}

    root_spec = RunSpec(
        variant=ROOT_VARIANT, model=text.MODEL_NAME, dataset=DATASET, device="cpu",
        hyperparameters={**hyper, "training": "outside greenai (sentence-transformers)"},
        parent_note=UNKNOWN_TRAINING,
    )  # fmt: skip
    root = MeteredRun(root_spec, env).execute(load, finish)
    results = [root]
    with text.workdir() as tmp:
        for variant in variants:
            results.append(_variant_run(variant, root, state, env, hyper, Path(tmp),
                                        batch_size, min_seconds))  # fmt: skip
    return results


def _variant_run(
    variant: str, root: dict[str, Any], state: dict[str, Any], env: Any, hyper: dict[str, Any],
    tmp: Path, batch_size: int, min_seconds: float,
) -> dict[str, Any]:  # fmt: skip
    from greenai.lifecycle.run import MeteredRun, RunSpec
    from greenai.ml.text import encoder as text

    def build(tracker: Any) -> tuple[Any, Any]:
        with tracker.phase("build"):
            encoder = text.build_variant(variant, state["model"], state["batches"][0], tmp)
        with tracker.phase("eval"):
            return encoder, text.embed(encoder, state["batches"])

    def finish(built: tuple[Any, Any], m: Any) -> dict[str, Any]:
        encoder, embeddings = built
        metrics, inference = _section(encoder, embeddings, state, env, batch_size, min_seconds)
        return {"metrics": metrics, "inference": inference, "precision": encoder.precision,
                "details": {"built_with": encoder.detail}}  # fmt: skip

    spec = RunSpec(
        variant=f"text_{variant}", model=text.MODEL_NAME, dataset=DATASET, device="cpu",
        hyperparameters={**hyper, "variant": variant}, parent_run_id=root["run_id"],
        parent_result=root, break_even=True,
    )  # fmt: skip
    return MeteredRun(spec, env).execute(build, finish)


register_step(StepKind(ROOT_VARIANT, "MiniLM (registered, FP32)", ROOT, 40))
register_step(StepKind("text_int8_dynamic", "MiniLM INT8 dynamic (torch)", FP32, 41))
register_step(StepKind("text_bf16", "MiniLM bf16", FP32, 42))
register_step(StepKind("text_onnx_int8", "MiniLM ONNX Runtime INT8", FP32, 43))
