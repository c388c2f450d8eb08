"""Compression algorithms on plain ``nn.Module``s: pruning, INT8 quantization, distillation, ONNX."""
