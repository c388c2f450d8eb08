"""Magnitude pruning made permanent, and a compact encoding of sparse state dicts.

Two kinds:

- ``unstructured``: the smallest-magnitude fraction of each conv (optionally linear) weight is set to
  zero, in place. No masks or original weights remain on the module, so nothing doubles on disk (the
  study's pruned file grew from 2.38 MB to 4.09 MB because ``torch.nn.utils.prune`` keeps both).
  ``encode_state_dict`` then stores each sparse tensor as a bitmask plus its nonzero values whenever
  that is smaller than the dense tensor, so a pruned file is never larger than the dense one.
- ``structured``: whole conv output channels removed (``structured.py``, re-exported here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

# structured pruning lives in its own module; its functions are part of this one's interface
from greenai.ml.compression.structured import (
    check_sparsity,
    check_structured,
    fit_to_state_dict,
    kept_channels,
    prune_structured,
)

KINDS = ("unstructured", "structured")
ENCODING = "greenai-sparse-v1"


def prunable_weights(
    model: nn.Module, include_linear: bool = False
) -> list[tuple[str, nn.Parameter]]:
    """The (qualified name, weight) pairs that unstructured pruning touches."""
    kinds: tuple[type, ...] = (nn.Conv2d, nn.Linear) if include_linear else (nn.Conv2d,)
    return [
        (f"{n}.weight" if n else "weight", m.weight)
        for n, m in model.named_modules()
        if isinstance(m, kinds)
    ]


@torch.no_grad()
def prune_unstructured(
    model: nn.Module, sparsity: float, include_linear: bool = False
) -> dict[str, float]:
    """Zero the ``sparsity`` fraction of smallest-|w| entries of each conv (and linear) weight.

    In place and permanent: plain tensors, no masks, no hooks. Returns the achieved zero fraction
    per weight name. Exactly ``round(sparsity * numel)`` entries per tensor become zero.
    """
    check_sparsity(sparsity)
    check_prunable(model, include_linear)
    achieved = {}
    for name, weight in prunable_weights(model, include_linear):
        flat = weight.view(-1)
        k = round(sparsity * flat.numel())
        if k:
            idx = torch.argsort(flat.abs(), stable=True)[:k]
            flat[idx] = 0.0
        achieved[name] = float((flat == 0).sum()) / flat.numel()
    return achieved


def check_prunable(model: nn.Module, include_linear: bool = False) -> None:
    """Refuse (``UsageError``, one line) a model in which unstructured pruning would touch nothing:
    a pruned copy identical to its parent would be recorded as a compressed variant."""
    if prunable_weights(model, include_linear):
        return
    from greenai.errors import UsageError

    linear = sum(isinstance(m, nn.Linear) for m in model.modules())
    if linear and not include_linear:
        raise UsageError(
            f"nothing to prune: the model has no conv layers; add --include-linear "
            f"(include_linear=True) to prune its {linear} linear layer(s)"
        )
    raise UsageError("nothing to prune: the model has no conv or linear weight layers")


def skipped_weights(model: nn.Module, include_linear: bool = False) -> list[str]:
    """Weight names of the linear layers that pruning leaves dense (empty with ``include_linear``)."""
    pruned = {n for n, _ in prunable_weights(model, include_linear)}
    return [n for n, _ in prunable_weights(model, True) if n not in pruned]


def zero_masks(model: nn.Module, include_linear: bool = False) -> dict[str, torch.Tensor]:
    """Boolean masks (True = kept) of the currently nonzero prunable weights."""
    return {n: w.detach() != 0 for n, w in prunable_weights(model, include_linear)}


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Re-zero pruned weights (call after each optimizer step while fine-tuning)."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask)


def channels_removed_fraction(changed: dict[str, tuple[int, int]]) -> float:
    """The fraction of all the pruned layers' channels removed, from ``prune_structured``'s
    ``{layer: (channels_before, channels_after)}``."""
    before = sum(c for c, _ in changed.values())
    return 1 - sum(k for _, k in changed.values()) / before


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, nonzero) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    return total, nonzero


# --- compact storage ---------------------------------------------------------------------------


def encode_state_dict(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Encode a state dict so sparse float tensors take bitmask + nonzero values.

    Each tensor is stored whichever way is smaller, so the encoding is never larger than the dense
    state dict (apart from a few bytes of keys). Loadable with ``torch.load(weights_only=True)``.
    """
    out: dict[str, Any] = {}
    for name, t in state.items():
        t = t.detach().cpu()
        if t.is_floating_point() and t.numel() >= 64:
            nz = t != 0
            n_nz = int(nz.sum())
            sparse_bytes = math.ceil(t.numel() / 8) + n_nz * t.element_size()
            if sparse_bytes < t.numel() * t.element_size():
                bits = np.packbits(nz.reshape(-1).numpy())
                out[name] = {
                    "shape": list(t.shape),
                    "mask": torch.from_numpy(bits),
                    "values": t[nz].clone(),
                }
                continue
        out[name] = t.clone()
    return {"encoding": ENCODING, "tensors": out}


def decode_state_dict(blob: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Inverse of ``encode_state_dict``; a plain state dict passes through unchanged."""
    if blob.get("encoding") != ENCODING:
        return blob
    state = {}
    for name, item in blob["tensors"].items():
        if isinstance(item, dict):
            shape = item["shape"]
            n = math.prod(shape)
            mask = np.unpackbits(item["mask"].numpy(), count=n).astype(bool)
            dense = torch.zeros(n, dtype=item["values"].dtype)
            dense[torch.from_numpy(mask)] = item["values"]
            state[name] = dense.view(shape)
        else:
            state[name] = item
    return state


def dense_size_bytes(state: dict[str, torch.Tensor]) -> int:
    """Bytes of the tensor data of a dense state dict (what a plain ``torch.save`` mostly holds)."""
    return sum(t.numel() * t.element_size() for t in state.values())


# --- structured pruning ------------------------------------------------------------------------


def layer_sparsity(model: nn.Module, names: Iterable[str] | None = None) -> dict[str, float]:
    """Zero fraction of each conv/linear weight (all of them, or ``names``)."""
    pairs = prunable_weights(model, include_linear=True)
    wanted = set(names) if names is not None else None
    return {n: float((w == 0).sum()) / w.numel() for n, w in pairs if wanted is None or n in wanted}


__all__ = [
    "ENCODING",
    "KINDS",
    "apply_masks",
    "channels_removed_fraction",
    "check_prunable",
    "check_sparsity",
    "check_structured",
    "count_params",
    "decode_state_dict",
    "dense_size_bytes",
    "encode_state_dict",
    "fit_to_state_dict",
    "kept_channels",
    "layer_sparsity",
    "prunable_weights",
    "prune_structured",
    "prune_unstructured",
    "skipped_weights",
    "zero_masks",
]
