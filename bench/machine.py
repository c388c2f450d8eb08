"""One line naming the CPU and the vector extensions that decide INT8 and bf16 speed here.

The benches print it first: the same code gives other ratios on a CPU with AMX (int8 and bf16
tile units, Intel Sapphire Rapids and later) than on one with only AVX-512 VNNI/BF16.
"""

from __future__ import annotations

from pathlib import Path

from greenai.sensors.cpu_model import read_cpuinfo

ISA = ("avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def _flags(cpuinfo: Path) -> set[str]:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def describe(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """'cpu: <model name>; has ...; lacks ...' (the model as the meter's CPU table reads it)."""
    flags = _flags(Path(cpuinfo))
    have = [f for f in ISA if f in flags]
    lacks = [f for f in ISA if f not in flags]
    return (
        f"cpu: {read_cpuinfo(cpuinfo).model_name}; has {' '.join(have) or 'none of ' + ' '.join(ISA)}"
        + (f"; lacks {' '.join(lacks)}" if lacks else "")
    )
