"""The runtimes greenai knows, which are installed, and which a run is asked to try."""

from __future__ import annotations

import os

from greenai.ml.runtimes.base import Backend
from greenai.ml.runtimes.executorch import ExecuTorch
from greenai.ml.runtimes.onnxrt import OnnxRuntime
from greenai.ml.runtimes.openvino import OpenVino
from greenai.ml.runtimes.pytorch import Compiled, Eager

BACKENDS: dict[str, Backend] = {
    b.name: b for b in (Eager(), Compiled(), OnnxRuntime(), OpenVino(), ExecuTorch())
}
#: what "auto" tries: every installed runtime but ExecuTorch, whose lowering to XNNPACK takes
#: ~30 s per model here (edge deployment; ``--runtimes all`` or ``greenai export --format
#: executorch`` measure it)
AUTO = ("pytorch_eager", "pytorch_compiled", "onnxruntime", "openvino")
ENV = "GREENAI_RUNTIMES"
#: "pytorch": the variant as its step built it (FP32 eager, INT8 compiled), no other runtime
CHOICES = ("auto", "all", "pytorch", *BACKENDS)


def resolve_runtimes(spec: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(runtimes to try, {runtime: why skipped}) for ``spec``: "auto" (the installed runtimes of ``AUTO``,
    the default), "all" (every installed runtime), "pytorch" (only the variant as its step built it), or a comma list of names.
    ``spec`` None reads ``$GREENAI_RUNTIMES``. Raises ValueError naming an unknown runtime."""
    spec = (spec if spec is not None else os.environ.get(ENV) or "auto").strip().lower()
    if spec == "pytorch":
        return [], {}
    if spec in ("auto", "all"):
        names = list(AUTO if spec == "auto" else BACKENDS)
    else:
        names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(
            f"unknown runtime {unknown[0]!r}; choose auto, all, pytorch or a comma list of "
            + ", ".join(BACKENDS)
        )
    tried, skipped = [], {}
    for name in names:
        why = BACKENDS[name].missing()
        if why is None:
            tried.append(name)
        else:
            skipped[name] = why
    return tried, skipped
