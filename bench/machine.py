"""One line naming the CPU and the vector extensions that decide INT8 and bf16 speed here.

The benches print it first: the same code gives other ratios on a CPU with AMX (int8 and bf16
tile units, Intel Sapphire Rapids and later) than on one with only AVX-512 VNNI/BF16.
"""

from __future__ import annotations

from pathlib import Path

ISA = ("avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def describe(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """'model name; isa: ... ; no: ...' from /proc/cpuinfo (unknown fields say so)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "cpu: unknown (no /proc/cpuinfo)"
    model, flags = "unknown", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown":
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    have = [f for f in ISA if f in flags]
    lacks = [f for f in ISA if f not in flags]
    return f"cpu: {model}; has {' '.join(have) or 'none of ' + ' '.join(ISA)}" + (
        f"; lacks {' '.join(lacks)}" if lacks else ""
    )
