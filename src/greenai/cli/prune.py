"""``greenai prune``: magnitude pruning made permanent, fine-tuned, measured, with its lineage."""

from __future__ import annotations

import argparse
from typing import Any

from greenai.cli import _compression, _torchrun, argtypes
from greenai.lifecycle.steps.prune import CHANNEL_MULTIPLE


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prune", help="prune a trained model (unstructured or structured)", description=__doc__
    )
    _compression.add_parent_args(p)
    p.add_argument(
        "--sparsity", type=argtypes.fraction, default=0.3,
        help="fraction of each conv weight (unstructured; linear too with --include-linear) or "
        "of channels (structured) removed, in [0, 1)",
    )  # fmt: skip
    p.add_argument("--kind", choices=("unstructured", "structured"), default="unstructured")
    p.add_argument(
        "--include-linear", "--include_linear", dest="include_linear", action="store_true",
        help="unstructured: prune linear weights too (a model without convs needs it; the "
        "result lists the pruned and the dense layers)",
    )  # fmt: skip
    p.add_argument(
        "--norm", type=int, choices=(1, 2), default=1, help="structured: L1 or L2 ranking"
    )
    p.add_argument(
        "--channel-multiple", "--channel_multiple", dest="channel_multiple",
        type=argtypes.positive_int, default=CHANNEL_MULTIPLE,
        help=f"structured: round each layer's kept channels to a multiple of N (default "
        f"{CHANNEL_MULTIPLE}: CPU kernels vectorise over channels, 16 FP32 to an AVX-512 vector; "
        "1: exactly --sparsity per layer)",
    )  # fmt: skip
    p.add_argument(
        "--finetune-epochs", "--finetune_epochs", dest="finetune_epochs", type=argtypes.nonneg_int,
        default=1, help="fine-tuning epochs after pruning (default 1)",
    )  # fmt: skip
    p.add_argument(
        "--lr",
        type=argtypes.positive_float,
        default=5e-4,
        help="fine-tuning Adam lr (default 5e-4)",
    )
    _compression.add_finetune_arg(p, "0.3x its LR, decaying to zero")
    p.add_argument("--batch-size", dest="batch_size", type=argtypes.positive_int, default=128)
    _torchrun.add_launch_args(p)  # fine-tuning under DDP
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from greenai.lifecycle.steps.prune import prune

    def step(env: Any, parent: Any, data: Any, device: str) -> dict[str, Any]:
        return prune(
            parent, env, data, sparsity=args.sparsity, kind=args.kind,
            include_linear=args.include_linear, norm=args.norm,
            finetune_epochs=args.finetune_epochs, lr=args.lr, batch_size=args.batch_size,
            device=device, channel_multiple=args.channel_multiple, finetune=args.finetune,
        )  # fmt: skip

    return _compression.run_step(args, step)
