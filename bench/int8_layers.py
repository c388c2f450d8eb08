"""Where INT8's speed-up over FP32 comes from, layer by layer (seed_cnn, batch 256, CPU).

    .venv/bin/python bench/int8_layers.py [--rounds 5]

Profiles the compiled FP32 (channels_last, freezing) and compiled INT8 PT2E programs of seed_cnn,
alternating them round by round, and prints each conv/linear kernel's median time per batch, its
achieved rate (GMAC/s: multiply-accumulates per second) and the INT8/FP32 ratio. On a CPU whose
INT8 unit is AVX-512 VNNI (4 int8 multiply-accumulates per 32-bit lane where FP32 does one fused
multiply-add), the compute-bound layers cannot run much more than 4x faster; AMX tiles raise that
bound. Weights are random: speed does not depend on their values, and nothing is downloaded.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import warnings

import torch
from torch.profiler import ProfilerActivity, profile

from greenai.ml.compression import int8_compile, quantize
from greenai.ml.models import create_model

sys.path.insert(0, os.path.dirname(__file__))
from machine import describe

KERNELS = ("mkldnn::_convolution_pointwise", "mkl::_mkl_linear", "onednn::qconv_pointwise",
           "onednn::qlinear_pointwise")  # fmt: skip


def layer_macs(model: torch.nn.Module, x: torch.Tensor) -> list[tuple[str, int]]:
    """(layer name, multiply-accumulates per image) of each conv and linear, in forward order."""
    out: list[tuple[str, int]] = []
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):

            def hook(mod, _inp, res, name=name):
                per_out = mod.weight[0].numel()
                out.append((name, per_out * res[0].numel()))

            hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model(x[:1])
    for h in hooks:
        h.remove()
    return out


def kernel_times_ms(fn, x: torch.Tensor, calls: int) -> list[float]:
    """Wall milliseconds per batch of each conv/linear kernel, in call order (mean over calls)."""
    with torch.no_grad():
        fn(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                fn(x)
    events = [e for e in prof.events() if e.name in KERNELS]
    per_call = len(events) // calls
    wall = [0.0] * per_call
    for i, e in enumerate(events):
        wall[i % per_call] += (e.time_range.end - e.time_range.start) / 1000 / calls
    return wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=10)
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    print(f"# {describe()}; threads={torch.get_num_threads()}")
    base = create_model("seed_cnn").eval()
    x = torch.randn(256, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    macs = layer_macs(base, x)
    calib = [torch.randn(128, 3, 32, 32) for _ in range(4)]
    q = quantize.quantize_ptq(copy.deepcopy(base), calib, x[:2].contiguous())
    fns = {
        "fp32": int8_compile.compile_for_cpu(
            copy.deepcopy(base).to(memory_format=torch.channels_last)
        ),
        "int8": int8_compile.compile_for_cpu(q.module),
    }
    samples: dict[str, list[list[float]]] = {k: [] for k in fns}
    for _ in range(args.rounds):  # alternate, so drift hits both alike
        for name, fn in fns.items():
            samples[name].append(kernel_times_ms(fn, x, args.calls))
    med = {k: [statistics.median(col) for col in zip(*v, strict=True)] for k, v in samples.items()}
    print(
        f"\nper batch of {len(x)}, median of {args.rounds} alternating rounds x {args.calls} calls"
    )
    print(
        f"{'layer':16} {'MMAC/img':>9} {'fp32 ms':>8} {'GMAC/s':>7} {'int8 ms':>8} {'GMAC/s':>7} {'ratio':>6}"
    )
    for (layer, mac), f, i in zip(macs, med["fp32"], med["int8"], strict=True):
        total = mac * len(x) / 1e9
        print(f"{layer:16} {mac / 1e6:9.2f} {f:8.2f} {total / f * 1e3:7.0f} {i:8.2f} "
              f"{total / i * 1e3:7.0f} {f / i:6.2f}")  # fmt: skip
    f_all, i_all = sum(med["fp32"]), sum(med["int8"])
    print(f"{'conv+linear':16} {sum(m for _, m in macs) / 1e6:9.2f} {f_all:8.2f} {'':7} "
          f"{i_all:8.2f} {'':7} {f_all / i_all:6.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
