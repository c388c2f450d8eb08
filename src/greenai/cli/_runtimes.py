"""``--runtimes`` and ``--runtime``: which deployment runtimes every variant is measured on, and
pinning one (on baseline, the compression commands, study and search)."""

from __future__ import annotations

import argparse
import os

RUNTIMES_ENV = "GREENAI_RUNTIMES"  # greenai.ml.runtimes.registry.ENV (not imported: no torch)
PIN_ENV = "GREENAI_RUNTIME"  # greenai.lifecycle.inference.PIN_ENV
NAMES = ("pytorch_eager", "pytorch_compiled", "onnxruntime", "openvino", "executorch")


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("deployment runtimes")
    g.add_argument(
        "--runtimes", default=None, metavar="LIST",
        help="runtimes each model's inference is measured on, its fastest taken for comparisons: "
        "auto (installed ones of PyTorch eager/compiled, ONNX Runtime, OpenVINO; the default), "
        "all (also ExecuTorch), pytorch (the model as its step built it, nothing else), or a "
        f"comma list of {', '.join(NAMES)} (default: $GREENAI_RUNTIMES, then auto)",
    )  # fmt: skip
    g.add_argument(
        "--runtime", default=None, choices=NAMES, metavar="NAME",
        help="take this runtime's figures for comparisons and break-even instead of the fastest "
        f"(one of {', '.join(NAMES)}; default: $GREENAI_RUNTIME, then the fastest)",
    )  # fmt: skip


def apply_runtime_args(args: argparse.Namespace) -> None:
    """Check the runtime flags (else the variables) now, and hand them to every step of this
    process and its children through the variables (the flags beat the environment)."""
    from greenai.errors import UsageError

    spec = getattr(args, "runtimes", None)
    if spec is not None:
        os.environ[RUNTIMES_ENV] = spec
    pin = getattr(args, "runtime", None)
    if pin is not None:
        os.environ[PIN_ENV] = pin
    given = os.environ.get(RUNTIMES_ENV, "").strip().lower()
    if given and given not in ("auto", "all", "pytorch"):
        unknown = [n.strip() for n in given.split(",") if n.strip() not in NAMES]
        if unknown or not given.replace(",", "").strip():
            raise UsageError(
                f"--runtimes: unknown runtime {unknown[0] if unknown else given!r}; choose auto, "
                f"all, pytorch or a comma list of {', '.join(NAMES)}"
            )
    pinned = os.environ.get(PIN_ENV, "").strip().lower()
    if pinned and pinned not in NAMES:
        raise UsageError(f"$GREENAI_RUNTIME: unknown runtime {pinned!r}; choose {', '.join(NAMES)}")
