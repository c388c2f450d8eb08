"""A saved INT8 variant loads ready to run fast (compiled to the INT8 kernels), and its file says how
to run it for whoever loads it another way."""

from __future__ import annotations

import pytest
import torch
from compression_nets import TinyNet, trained_bn

from greenai.ml.compression import int8_file, quantize


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    x = torch.randn(64, 3, 32, 32)
    model = trained_bn(TinyNet(width=8), x)
    q = quantize.quantize_ptq(model, [x[:32]], x[:2])
    path = tmp_path_factory.mktemp("int8") / "m.int8.pt2z"
    int8_file.save_quantized(path, q, {"model": "tiny"})
    return path, q, x


def test_the_file_header_says_how_to_run_it_fast(saved):
    path, _, _ = saved
    meta = int8_file.read_quantized_meta(path)
    assert "load_for_inference" in meta["how_to_run"] and "slower than FP32" in meta["how_to_run"]


@pytest.mark.slow
def test_load_for_inference_returns_the_compiled_program(saved):
    from torch._dynamo.utils import counters

    path, q, x = saved
    predict, meta = int8_file.load_for_inference(path)
    assert meta["model"] == "tiny" and not isinstance(predict, torch.nn.Module)
    before = counters["stats"]["unique_graphs"]
    with torch.no_grad():
        got, ref = predict(x[:16]), q.module(x[:16])
    assert counters["stats"]["unique_graphs"] > before  # compiled by inductor, not run eagerly
    assert (got.argmax(1) == ref.argmax(1)).float().mean() >= 0.9


def test_a_file_this_process_compiled_is_not_compiled_again(saved, tmp_path):
    _, q, _ = saved
    mine = tmp_path / "mine.int8.pt2z"
    int8_file.save_quantized(mine, q, {"model": "mine"})
    compiled = int8_file.compile_saved(q, mine.read_bytes())  # as the quantize step does
    predict, meta = int8_file.load_for_inference(mine)
    assert predict is compiled and meta["model"] == "mine"
    copy = tmp_path / "copy.int8.pt2z"  # other bytes (another header): loaded and compiled anew
    copy.write_bytes(mine.read_bytes().replace(b'"mine"', b'"copy"', 1))
    other, other_meta = int8_file.load_for_inference(copy)
    assert other is not compiled and other_meta["model"] == "copy"


def test_only_the_last_few_compiled_programs_are_kept():
    from greenai.ml.compression import int8_compile

    first = object()
    int8_compile.remember(b"file 0", first)
    assert int8_compile.recall(b"file 0") is first
    for i in range(1, int8_compile.KEEP + 1):
        int8_compile.remember(f"file {i}".encode(), object())
    assert int8_compile.recall(b"file 0") is None  # evicted: the oldest of KEEP + 1
    assert int8_compile.recall(f"file {int8_compile.KEEP}".encode()) is not None
