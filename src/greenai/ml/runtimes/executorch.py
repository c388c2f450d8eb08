"""ExecuTorch, the edge format: a ``.pte`` program lowered to the XNNPACK delegate (the CPU
kernels ExecuTorch ships for phones and embedded Linux), run by ExecuTorch's own runtime.
Chosen over LiteRT because it installs beside this project's torch and exports from it directly
(LiteRT needs a PyTorch-to-TFLite converter pinned to other torch versions). INT8 is XNNPACK's
PT2E quantizer (symmetric, per-channel weights)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from greenai.ml.runtimes.base import Backend, Prepared, quiet_fds

BATCH = 256  # the batch the program's main method is exported at (inputs are chunked to it)


class ExecuTorch(Backend):
    name = "executorch"
    label = "ExecuTorch (XNNPACK)"
    modules = ("executorch",)
    extra = "edge"

    def fp32(self, model: nn.Module, example: torch.Tensor, work: Path) -> Prepared:
        start = time.perf_counter()
        path = work / "model.pte"
        write_pte(model, example, path)
        return Prepared(
            self.name, "fp32", load(path), "torch.export, XNNPACK delegate (.pte)",
            time.perf_counter() - start,
        )  # fmt: skip

    def int8(
        self, model: nn.Module, example: torch.Tensor, calib: Sequence[torch.Tensor], work: Path
    ) -> list[Prepared]:
        start = time.perf_counter()
        path = work / "model.int8.pte"
        write_pte(model, example, path, calib=calib)
        how = "XNNPACKQuantizer static PTQ (per-channel), XNNPACK delegate (.pte)"
        return [Prepared(self.name, "int8", load(path), how, time.perf_counter() - start)]


def write_pte(
    model: nn.Module,
    example: torch.Tensor,
    path: Path,
    calib: Sequence[torch.Tensor] | None = None,
) -> int:
    """Write ``model`` (INT8 when ``calib`` is given) as an XNNPACK-delegated ``.pte`` with two
    static-shape methods, ``forward`` at batch ``BATCH`` and ``forward_b1`` at batch 1 (this
    ExecuTorch's dynamic batch failed past 15 images here); returns its size in bytes."""
    with torch.no_grad(), quiet_fds():
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        model = model.eval()
        if calib is not None:
            model = _quantized(torch.export.export(model, (example[:1],)).module(), calib)
        shape = tuple(example.shape[1:])
        programs = {
            method: torch.export.export(model, (torch.zeros(n, *shape),))
            for method, n in (("forward", BATCH), ("forward_b1", 1))
        }
        lowered = to_edge_transform_and_lower(programs, partitioner=[XnnpackPartitioner()])
        blob = lowered.to_executorch().buffer
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return len(blob)


def _quantized(graph: Any, calib: Sequence[torch.Tensor]) -> Any:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    config = get_symmetric_quantization_config(is_per_channel=True)
    prepared = prepare_pt2e(graph, XNNPACKQuantizer().set_global(config))
    for batch in calib:
        prepared(batch)
    return convert_pt2e(prepared)


def load(path: Path) -> Any:
    """A predictor over the ``.pte`` at ``path``, run by ExecuTorch's runtime."""
    from executorch.runtime import Runtime

    with quiet_fds():
        program = Runtime.get().load_program(str(path))
        full, single = program.load_method("forward"), program.load_method("forward_b1")

    def predict(x: torch.Tensor) -> torch.Tensor:
        if len(x) == 1:
            return single.execute([x.contiguous()])[0]
        outs = []
        for i in range(0, len(x), BATCH):  # the last chunk padded to the program's batch
            chunk = x[i : i + BATCH]
            padded = torch.cat([chunk, chunk.new_zeros(BATCH - len(chunk), *chunk.shape[1:])])
            outs.append(full.execute([padded.contiguous()])[0][: len(chunk)])
        return torch.cat(outs)

    return predict
