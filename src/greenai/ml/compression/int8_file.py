"""The INT8 file format: a converted PT2E program on disk, and loading it back to run.

Layout: the magic line ``MAGIC``, then one JSON header line (the caller's meta plus ``method``,
``route``, ``format`` and ``how_to_run``), then the ``torch.export.save`` archive of the program,
zlib-compressed. Before saving, the program is re-exported without the stale FP32 copies of its
weights (convert keeps them as unused attributes), so the file holds INT8 weights, their scales,
the FP32 biases and the graph.

Loading: ``read_quantized_meta`` reads the header only (safe on any file). ``load_quantized``
returns a module that computes exactly what the saved one did (eagerly: slower than FP32);
``load_for_inference`` returns it compiled by ``int8_compile.compile_for_cpu``, ready to run fast,
reusing the predictor ``compile_saved`` already compiled for the same bytes.
"""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from greenai.errors import DataError
from greenai.fsutil import atomic_write_bytes
from greenai.ml.compression.int8_compile import compile_for_cpu, recall, remember
from greenai.ml.compression.quantize import Quantized, pt2e_modules, quiet_torchao

MAGIC = b"GREENAI-INT8-PT2E-1\n"
HOW_TO_RUN = (
    "load with greenai.ml.compression.int8_file.load_for_inference(path): it returns the program "
    "compiled by torch.compile(inductor, freezing), the INT8 oneDNN kernels; the plain "
    "torch.export.load(...).module() runs the quantize/dequantize graph eagerly, slower than FP32"
)


def _strip_unused(gm: torch.fx.GraphModule) -> None:
    """Delete parameters/buffers the graph no longer reads (convert leaves FP32 weight copies)."""
    used = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    names = [n for n, _ in gm.named_parameters()] + [n for n, _ in gm.named_buffers()]
    for name in names:
        if name in used:
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = gm.get_submodule(owner_name) if owner_name else gm
        delattr(owner, attr)


def quantized_bytes(q: Quantized, meta: dict[str, Any] | None = None) -> bytes:
    """The on-disk encoding of a converted program: magic, JSON meta line, zlib(export archive)."""
    gm = q.module
    _strip_unused(gm)
    batch = torch.export.Dim("batch", min=1, max=65536)
    example = torch.cat([q.example_input[:1], q.example_input[:1]]).clone()
    with quiet_torchao():
        program = torch.export.export(gm, (example,), dynamic_shapes=({0: batch},))
    buf = io.BytesIO()
    torch.export.save(program, buf)
    head = dict(
        meta or {}, method=q.method, route=q.route, format="torch.export archive, zlib",
        how_to_run=HOW_TO_RUN,
    )  # fmt: skip
    return MAGIC + json.dumps(head).encode() + b"\n" + zlib.compress(buf.getvalue(), 9)


def save_quantized(path: str | Path, q: Quantized, meta: dict[str, Any] | None = None) -> int:
    """Write atomically; returns the file size in bytes."""
    data = quantized_bytes(q, meta)
    atomic_write_bytes(path, data)
    return len(data)


def is_quantized_file(path: str | Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def read_quantized_meta(path: str | Path) -> dict[str, Any]:
    """The JSON meta line of an INT8 file, read without touching its program: safe on any file."""
    with open(path, "rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise DataError(f"{path} is not a greenai INT8 file")
        head = handle.readline(1 << 20)
    return _meta(path, head)


def _meta(path: str | Path, head: bytes) -> dict[str, Any]:
    """An INT8 file's JSON meta line, checked."""
    try:
        meta = json.loads(head)
    except ValueError as exc:
        raise DataError(f"{path} is corrupt: its header is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path} is corrupt: its header is not a JSON object")
    return meta


def load_for_inference(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load an INT8 file ready to run fast: (predictor, meta).

    The predictor is ``compile_for_cpu`` of the loaded program (inductor with freezing lowers the
    quantize/dequantize pattern to oneDNN INT8 kernels): its first call per input shape compiles
    (seconds), later calls run INT8. Same trust rule as ``load_quantized``. A file whose bytes
    this process compiled already (``compile_saved``) returns that predictor: no second compile."""
    data = Path(path).read_bytes()
    compiled = recall(data)
    if compiled is not None:
        return compiled, _parse(path, data)[0]
    module, meta = _module(path, data)
    return compile_for_cpu(module), meta


def compile_saved(q: Quantized, data: bytes) -> Any:
    """``compile_for_cpu`` of ``q``'s program, remembered for its file bytes ``data``
    (``quantized_bytes(q, ...)``): ``load_for_inference`` of that file then reuses it."""
    compiled = compile_for_cpu(q.module)
    remember(data, compiled)
    return compiled


def load_quantized(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Load a file written by ``save_quantized``: (runnable module, meta).

    The module runs eagerly: right figures, but slower than its FP32 parent (every quantize and
    dequantize is a separate op). To run it fast, use ``load_for_inference`` (or wrap the module
    with ``compile_for_cpu``); the file's header says so too (``how_to_run``).

    ``torch.export.load`` unpickles parts of the archive (it is not ``weights_only``): only for files
    this process wrote or otherwise trusts. Files named by a user are read with
    ``read_quantized_meta``, which never touches the program."""
    return _module(path, Path(path).read_bytes())


def _parse(path: str | Path, data: bytes) -> tuple[dict[str, Any], bytes]:
    """(meta, compressed program) of an INT8 file's bytes."""
    if not data.startswith(MAGIC):
        raise DataError(f"{path} is not a greenai INT8 file")
    head, _, body = data[len(MAGIC) :].partition(b"\n")
    return _meta(path, head), body


def _module(path: str | Path, data: bytes) -> tuple[nn.Module, dict[str, Any]]:
    meta, body = _parse(path, data)
    try:
        with quiet_torchao():
            pt2e_modules()  # registers the quantized_decomposed ops the program uses
            program = torch.export.load(io.BytesIO(zlib.decompress(body)))
    except (ValueError, zlib.error, RuntimeError) as exc:
        raise DataError(f"{path} is corrupt: {exc}") from None
    return program.module(), meta
