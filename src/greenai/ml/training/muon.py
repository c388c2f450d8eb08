"""Muon: momentum whose update is orthogonalised by a Newton-Schulz iteration, with SGD beside it.

After Keller Jordan's Muon as used in KellerJordan/cifar10-airbench, file airbench94_muon.py (94.01%
CIFAR-10 in 8 epochs). For a weight matrix W with gradient G, Muon keeps a momentum buffer
M <- mu * M + G, takes the Nesterov look-ahead G + mu * M (or M), and replaces it by the nearest
semi-orthogonal matrix U V^T (of its SVD U S V^T), approximated by `newton_schulz` with quintic
coefficients tuned to push small singular values up fast (they land in about [0.5, 1.5], not at
exactly 1: the reference found that costs no accuracy). A 4-D conv weight (out, in, kh, kw) is
flattened to the 2-D matrix (out, in * kh * kw) for this and reshaped back.

Scale rule: the orthogonalised update is multiplied by ``max(1, rows / cols) ** 0.5`` (Keller
Jordan's Muon repository), so a tall matrix's update has the RMS a square one's would; for conv
filters (rows = out channels <= cols = in * kh * kw) it is 1, exactly airbench94_muon's step. With
``norm_weights`` (airbench94_muon's), each weight is first rescaled to Frobenius norm sqrt(rows):
a conv followed by batch norm computes the same function at any scale, and a fixed scale keeps the
LR's effect fixed (the reference uses no weight decay on these weights).

Groups with ``muon=False`` take plain Nesterov SGD (PyTorch's rule, coupled weight decay): biases,
batch-norm parameters and the head, which airbench94_muon trains with SGD. One optimizer object
keeps the training loop's schedule, gradient scaler and checkpoints working unchanged. Muon groups
keep their momentum under ``muon_momentum``: OneCycleLR rewrites every group's ``momentum``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # airbench94_muon's quintic: a, b, c
NS_STEPS = 3  # airbench94_muon's: 3 iterations suffice for a CNN (5 in the language-model Muon)


def newton_schulz(
    g: torch.Tensor, steps: int = NS_STEPS, eps: float = 1e-7, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Approximately orthogonalise the 2-D matrix `g` (U S V^T -> about U V^T); same shape and dtype.

    X = G / ||G||_F (so every singular value is <= 1), then `steps` times X <- a X + (b A + c A^2) X
    with A = X X^T, which maps each singular value s to a s + b s^3 + c s^5. Worked on the wide
    orientation (rows <= cols) so A is the small Gram matrix. float32 by default: on this 2-core
    CPU (under load) a 256x2304 filter took 97 ms in float32 and 121 ms in bfloat16 (the GPU
    reference's dtype), with the same singular values to 0.003.
    """
    if g.ndim != 2:
        raise ValueError(f"newton_schulz needs a 2-D matrix, got shape {tuple(g.shape)}")
    a, b, c = NS_COEFFICIENTS
    x = g.to(dtype)
    x = x / (x.norm() + eps)
    tall = g.size(0) > g.size(1)
    if tall:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    if tall:
        x = x.T
    return x.to(g.dtype)


def orthogonal_update(g: torch.Tensor, steps: int = NS_STEPS) -> torch.Tensor:
    """`newton_schulz` of `g` flattened to (rows, rest), reshaped back and scaled by the scale rule."""
    matrix = g.reshape(len(g), -1)
    rows, cols = matrix.shape
    scale = max(1.0, rows / cols) ** 0.5
    return newton_schulz(matrix, steps).view_as(g) * scale


class Muon(torch.optim.Optimizer):
    """Muon on groups with ``muon=True`` (default), Nesterov SGD on groups with ``muon=False``.

    Group options: ``lr``; ``muon_momentum`` and ``nesterov`` (Muon); ``momentum`` and
    ``weight_decay`` (SGD groups, PyTorch's coupled decay, dampening 0, always Nesterov when
    ``momentum`` > 0); ``norm_weights`` (Muon: rescale each weight to norm sqrt(rows) first);
    ``ns_steps``. Parameters of Muon groups must have at least 2 dimensions.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.02,
        muon_momentum: float = 0.6,
        nesterov: bool = True,
        momentum: float = 0.85,
        weight_decay: float = 0.0,
        norm_weights: bool = False,
        ns_steps: int = NS_STEPS,
    ) -> None:
        if lr < 0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        if not (0 <= muon_momentum < 1 and 0 <= momentum < 1):
            raise ValueError("momentum must be in [0, 1)")
        if nesterov and muon_momentum <= 0:
            raise ValueError("Nesterov momentum needs muon_momentum > 0")
        defaults = dict(
            lr=lr, muon=True, muon_momentum=muon_momentum, nesterov=nesterov, momentum=momentum,
            weight_decay=weight_decay, norm_weights=norm_weights, ns_steps=ns_steps,
        )  # fmt: skip
        super().__init__(params, defaults)
        for group in self.param_groups:
            if group["muon"] and any(p.ndim < 2 for p in group["params"]):
                raise ValueError("Muon groups take matrices and conv filters (>= 2 dimensions)")

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every parameter with a gradient; returns the closure's loss, if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    (self._muon if group["muon"] else self._sgd)(p, group)
        return loss

    def _buffer(self, p: torch.Tensor) -> torch.Tensor:
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p.grad)
        return state["momentum_buffer"]

    def _muon(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        mu = group["muon_momentum"]
        buf = self._buffer(p).mul_(mu).add_(p.grad)
        g = p.grad.add(buf, alpha=mu) if group["nesterov"] else buf
        if group["norm_weights"]:
            p.mul_(len(p) ** 0.5 / p.norm().clamp_min(1e-12))
        p.add_(orthogonal_update(g, group["ns_steps"]), alpha=-group["lr"])

    def _sgd(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        g = p.grad
        if group["weight_decay"]:
            g = g.add(p, alpha=group["weight_decay"])
        mu = group["momentum"]
        if mu > 0:
            buf = self._buffer(p).mul_(mu).add_(g)
            g = g.add(buf, alpha=mu)
        p.add_(g, alpha=-group["lr"])
