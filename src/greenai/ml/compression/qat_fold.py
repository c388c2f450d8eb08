"""QAT's conv + batch-norm folding, searched only for the kinds of conv a program holds.

``convert_pt2e`` folds each QAT conv/batch-norm pair into the conv by matching patterns that torchao
builds by exporting small programs: 30 for each of conv1d, conv2d and their transposes, about half a
second each on a 2-core CPU, so a QAT convert spent ~25 s (idle) to ~55 s (loaded) on patterns,
three quarters of them for kinds of conv a CNN does not hold. ``folding_present_convs`` makes
``convert_pt2e`` call the same torchao pattern pass for the present kinds only: a pattern of one
kind cannot match a conv of another, so the program it returns is the same. Where torchao's private
names differ (another version) nothing is changed and its own pass runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F

# torchao's example inputs for its conv1d and conv2d patterns (qat_utils._fold_conv_bn_qat):
# x, conv weight, bn weight, bn bias, bn running mean, bn running var
_SHAPES_1D = ((1, 1, 3), (1, 1, 1), (1,), (1,), (1,), (1,))
_SHAPES_2D = ((1, 1, 3, 3), (1, 1, 1, 1), (1,), (1,), (1,), (1,))
_KINDS = (  # aten op of each kind, torchao's pattern function, its example input shapes
    ("conv1d", F.conv1d, _SHAPES_1D),
    ("conv2d", F.conv2d, _SHAPES_2D),
    ("conv_transpose1d", F.conv_transpose1d, _SHAPES_1D),
    ("conv_transpose2d", F.conv_transpose2d, _SHAPES_2D),
)


def present_kinds(graph: torch.fx.Graph) -> set[str]:
    """The conv kinds (``conv2d``, ...) called in ``graph``."""
    names = {
        getattr(getattr(n.target, "overloadpacket", None), "__name__", None)
        for n in graph.nodes
        if n.op == "call_function"
    }
    return {kind for kind, _fn, _shapes in _KINDS if kind in names}


def _fold_present(m: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """torchao's ``_fold_conv_bn_qat`` restricted to the conv kinds in ``m``."""
    from torchao.quantization.pt2e import qat_utils
    from torchao.quantization.pt2e.utils import _is_bn_node

    if not any(_is_bn_node(n) for n in m.graph.nodes):
        return m
    kinds = present_kinds(m.graph)
    for is_cuda in [True, False] if torch.cuda.is_available() else [False]:
        for kind, fn, shapes in _KINDS:
            if kind in kinds:
                example = tuple(torch.randn(s) for s in shapes)
                m = qat_utils._fold_conv_bn_qat_helper(m, fn, example, is_cuda=is_cuda)
    for node in m.graph.nodes:  # as torchao does: drop batch norm's in-place step counter
        if (
            node.target == torch.ops.aten.add_.Tensor
            and node.args[0].op == "get_attr"
            and node.args[1] == 1
            and "torch.nn.modules.batchnorm.BatchNorm2d"
            in [val[1] for _, val in node.meta.get("nn_module_stack", {}).items()]
        ):
            m.graph.erase_node(node)
    m.graph.eliminate_dead_code()
    m.recompile()
    return m


@contextlib.contextmanager
def folding_present_convs() -> Iterator[None]:
    """Within the block, ``convert_pt2e`` folds QAT conv/batch-norm pairs with ``_fold_present``."""
    try:
        from torchao.quantization.pt2e import qat_utils, quantize_pt2e, utils
    except ImportError:
        yield
        return
    original = getattr(quantize_pt2e, "_fold_conv_bn_qat", None)
    calls = hasattr(qat_utils, "_fold_conv_bn_qat_helper") and hasattr(utils, "_is_bn_node")
    if original is None or not calls:  # another torchao: its own pass
        yield
        return
    quantize_pt2e._fold_conv_bn_qat = _fold_present
    try:
        yield
    finally:
        quantize_pt2e._fold_conv_bn_qat = original
