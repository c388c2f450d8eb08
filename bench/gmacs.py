"""Multiply-accumulates per image and an ASSUMED peak of this CPU, so a bench can print how far
its achieved GMAC/s are from what the vector units could do.

MACs are counted with forward hooks on ``nn.Conv2d`` and ``nn.Linear`` (the layers that carry
all but a sliver of a CNN's work; pooling, ReLU and biases are not counted), so a structured-pruned
net, with fewer channels, counts fewer. The peak is arithmetic on the CPU flags and the clock that
/proc/cpuinfo reports, never a measurement: per-cycle figures below, times the cores used (the
torch thread count), times the nominal clock (AVX-512 and AMX code may run below it; a turbo above).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# MACs per cycle per core, and where the figure comes from.
#: AVX-512 FMA: 2 FMA units (ports 0 and 5 on Xeon Gold/Platinum; some Silver/Bronze parts have
#: one) x 16 FP32 lanes. Intel 64 and IA-32 Optimization Reference Manual, Skylake-SP chapter.
FP32_AVX512 = 2 * 16
#: AVX2 FMA without AVX-512: 2 units x 8 FP32 lanes.
FP32_AVX2 = 2 * 8
#: AVX-512 VNNI (VPDPBUSD): 16 int32 lanes x 4 u8*s8 products = 64 MACs per instruction, 2 units.
INT8_VNNI = 2 * 64
#: AMX (TDPBUSD / TDPBF16PS on the TMUL unit): Intel quotes 2,048 INT8 and 1,024 BF16 operations
#: per cycle per core (an operation = a multiply or an add, so half as many MACs). Intel AMX
#: overview, "Accelerate AI Workloads with Intel AMX" (Intel, 2023).
INT8_AMX = 1024
BF16_AMX = 512


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass per image, conv and linear layers, counted on a
    float model run once over ``example`` (a batch; the count is divided by its size)."""
    total = 0

    def conv(m: nn.Conv2d, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear(m: nn.Linear, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear))
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for h in hooks:
            h.remove()
    return total // len(example)


def _cpuinfo(path: Path) -> tuple[set[str], float | None]:
    """(flags, 'cpu MHz' of the first processor) from /proc/cpuinfo; empty/None when unreadable."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set(), None
    flags: set[str] = set()
    mhz = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "flags" and not flags:
            flags = set(value.split())
        elif key == "cpu MHz" and mhz is None:
            with contextlib.suppress(ValueError):
                mhz = float(value)
    return flags, mhz


@dataclass(frozen=True)
class Peak:
    """An assumed peak in GMAC/s and the arithmetic behind it."""

    gmac_s: float
    basis: str


def peaks(cores: int, cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Peak]:
    """Assumed peaks {"fp32": ..., "int8": ..., and "int8_amx"/"bf16_amx" where the CPU has AMX};
    {} when the clock cannot be read. ``int8`` is the VNNI figure (or, without VNNI, the FP32 one:
    INT8 without VNNI gains no MACs per cycle on AVX-512)."""
    flags, mhz = _cpuinfo(Path(cpuinfo))
    if not mhz:
        return {}
    ghz = mhz / 1000
    clock = f"{cores} core(s) x {ghz:.2f} GHz nominal ('cpu MHz' in /proc/cpuinfo)"

    def peak(per_cycle: int, what: str) -> Peak:
        return Peak(per_cycle * cores * ghz, f"{what} = {per_cycle} MAC/cycle/core x {clock}")

    out: dict[str, Peak] = {}
    if "avx512f" in flags:
        out["fp32"] = peak(FP32_AVX512, "AVX-512 FMA, 2 units x 16 FP32 lanes")
    elif "fma" in flags:
        out["fp32"] = peak(FP32_AVX2, "AVX2 FMA, 2 units x 8 FP32 lanes")
    if "avx512_vnni" in flags:
        out["int8"] = peak(INT8_VNNI, "AVX-512 VNNI, 2 units x 64 INT8 MACs")
    elif "fp32" in out:
        out["int8"] = Peak(out["fp32"].gmac_s, "no VNNI: INT8 assumed no faster than FP32 FMA")
    if "amx_int8" in flags:
        out["int8_amx"] = peak(INT8_AMX, "AMX TMUL, Intel's 2,048 INT8 ops/cycle/core")
    if "amx_bf16" in flags:
        out["bf16_amx"] = peak(BF16_AMX, "AMX TMUL, Intel's 1,024 BF16 ops/cycle/core")
    return out
