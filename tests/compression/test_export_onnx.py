from __future__ import annotations

import pytest
import torch
from compression_nets import TinyNet, trained_bn

pytest.importorskip("onnxruntime")
from greenai.ml.compression import export_onnx


def test_onnx_fp32_and_int8_agree_with_torch(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(64, 3, 32, 32)
    model = trained_bn(TinyNet(width=8), x)
    fp32 = tmp_path / "m.onnx"
    int8 = tmp_path / "m.int8.onnx"
    fp32_bytes = export_onnx.export(model, fp32, x)
    with torch.no_grad():
        ref = model(x)
    got = export_onnx.session(fp32, threads=1)(x)
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)
    int8_bytes = export_onnx.quantize_static_int8(fp32, int8, [x[:32], x[32:]])
    assert int8_bytes < fp32_bytes / 2
    q = export_onnx.session(int8, threads=1)(x)
    assert float((q.argmax(1) == ref.argmax(1)).float().mean()) >= 0.9


def test_sessions_do_not_spin_between_calls():
    # a spinning ORT pool halved the next runtime's throughput when timed side by side
    opts = export_onnx.session_options(threads=2)
    assert opts.intra_op_num_threads == 2
    for pool in ("intra_op", "inter_op"):
        assert opts.get_session_config_entry(f"session.{pool}.allow_spinning") == "0"
    assert export_onnx.session_options().intra_op_num_threads == 0  # ORT's default: its own choice
