"""Which CPU this is, and how many watts one busy logical CPU draws, from the TDP table.

The CPU's model name (``/proc/cpuinfo``) is matched against ``cpu_tdp_watts.csv`` (package data) after
normalising both (case, "(R)", "(TM)", "CPU", "Processor", "@ 2.20GHz", "64-Core"):

* ``exact``: the normalised names are equal (reported as "same name").
* ``partial``: a table name's words are all in the CPU's name and include its model number (the word
  with a digit); the longest such name wins. Reported as partial.
* ``none``: nothing matched, or the CPU's name has no model number (virtual machines often say only
  "AMD EPYC"): then the table's rows for that family are counted and reported, none is chosen.

Watts per busy logical CPU = TDP / logical CPUs per package (``siblings``). When nothing matched, or the
CPU is virtual (``hypervisor`` flag: the visible CPUs are not the package's), the documented default
``DEFAULT_W_PER_CPU`` is used instead, and the reason is part of the label.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path

TABLE_NAME = "cpu_tdp_watts.csv"
DATA_DIR = Path(__file__).resolve().parent.parent / "reference"  # package data, beside the code
#: Watts per busy logical CPU when the TDP cannot be used: CodeCarbon's own default for an unknown CPU
#: (``DEFAULT_POWER_PER_CORE = 4`` W per thread, codecarbon/core/cpu.py, 3.x). It is also close to what
#: current server parts give (AMD EPYC 7763: 280 W / 128 threads = 2.2 W; Xeon Platinum 8380: 270 W /
#: 80 threads = 3.4 W; desktop Core i7-8700: 65 W / 12 threads = 5.4 W).
DEFAULT_W_PER_CPU = 4.0

_NOISE = re.compile(r"\(r\)|\(tm\)|®|™|\bcpu\b|\bprocessor\b|\b\d+-core\b|@.*$|\bwith\b.*$")


def normalise(name: str) -> str:
    return " ".join(_NOISE.sub(" ", name.lower()).split())


@functools.lru_cache(maxsize=1)
def _table_text() -> tuple[str, str]:
    text = (DATA_DIR / TABLE_NAME).read_text(encoding="utf-8")
    return text, text.lower()


def _lines_containing(keys: list[str]) -> list[str]:
    """Data lines of the table holding any of ``keys`` (lower case), found without a per-line scan."""
    text, low = _table_text()
    found: dict[int, str] = {}
    for key in keys:
        pos = low.find(key)
        while pos != -1:
            start = text.rfind("\n", 0, pos) + 1
            end = text.find("\n", pos)
            end = len(text) if end == -1 else end
            if start > 0:  # not the header
                found[start] = text[start:end]
            pos = low.find(key, end)
    return [found[k] for k in sorted(found)]


def _parse(lines: list[str] | tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    rows = []
    for line in lines:
        name, _, tdp = line.rpartition(",")  # the TDP never holds a comma; some names do
        if name.startswith('"'):
            name = next(csv.reader([name]))[0]
        try:
            rows.append((name, float(tdp)))
        except ValueError:  # four old Celerons list a range such as "27.29.5": not usable
            continue
    return tuple(rows)


@functools.lru_cache(maxsize=1)
def tdp_table() -> tuple[tuple[str, float], ...]:
    """(name, TDP watts) rows of the package's TDP table, read once, on first use."""
    return _parse(_table_text()[0].splitlines()[1:])


@dataclass(frozen=True)
class CpuInfo:
    model_name: str
    logical_per_package: int
    packages: int
    virtual: bool


def read_cpuinfo(path: str | Path = "/proc/cpuinfo") -> CpuInfo:
    """Model name, logical CPUs per package, package count and the hypervisor flag."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    model, siblings, packages, virtual, logical = "", 0, set(), False, 0
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "processor":
            logical += 1
        elif key == "model name" and not model:
            model = value
        elif key == "siblings" and value.isdigit():
            siblings = int(value)
        elif key == "physical id":
            packages.add(value)
        elif key == "flags" and "hypervisor" in value.split():
            virtual = True
    n_packages = max(1, len(packages))
    return CpuInfo(
        model or "unknown CPU", siblings or max(1, logical // n_packages), n_packages, virtual
    )


@dataclass(frozen=True)
class TdpMatch:
    kind: str  # "exact" | "partial" | "none"
    row: str | None
    tdp_w: float | None
    note: str  # what was matched, or why nothing was


@functools.lru_cache(maxsize=8)
def match_tdp(model_name: str, table: tuple[tuple[str, float], ...] | None = None) -> TdpMatch:
    """Find ``model_name`` in the TDP table (see the module docstring for the rules)."""
    wanted = normalise(model_name)
    words = set(wanted.split())
    numbers = [w for w in words if any(c.isdigit() for c in w)]
    # Only rows holding the model number (or, without one, the whole name) can match: a cheap
    # substring filter keeps the first start fast (parsing and normalising all 4,900 rows: ~50 ms).
    keys = numbers or [wanted]
    if not keys[0]:
        candidates: tuple[tuple[str, float], ...] = ()
    elif table is None:  # filter the raw lines first: parsing only the few that can match
        candidates = _parse(_lines_containing(keys))
    else:
        candidates = tuple((n, t) for n, t in table if any(k in n.lower() for k in keys))
    best: tuple[str, float, int] | None = None
    family: list[float] = []
    for name, tdp in candidates:
        norm = normalise(name)
        if norm == wanted:
            return TdpMatch("exact", name, tdp, f"'{model_name}' matched '{name}' (same name)")
        row_words = set(norm.split())
        if row_words <= words and any(c.isdigit() for c in norm):
            if best is None or len(row_words) > best[2]:
                best = (name, tdp, len(row_words))
        elif words <= row_words:
            family.append(tdp)
    if best is not None:
        note = (
            f"'{model_name}' matched '{best[0]}' partially (table name's words found in the CPU's)"
        )
        return TdpMatch("partial", best[0], best[1], note)
    if family and not numbers:
        note = (
            f"'{model_name}' names no model number; {len(family)} table rows start with it "
            f"(TDP {min(family):g}-{max(family):g} W), none can be chosen"
        )
    else:
        note = f"'{model_name}' not found in {TABLE_NAME}"
    return TdpMatch("none", None, None, note)


@dataclass(frozen=True)
class CpuPower:
    """Watts drawn per busy logical CPU, and how that figure was reached (for the method label)."""

    w_per_cpu: float
    detail: str
    match: TdpMatch | None
    user_given: bool = False  # from --cpu-watts / $GREENAI_CPU_WATTS, not the TDP table


def cpu_power(info: CpuInfo, table: tuple[tuple[str, float], ...] | None = None) -> CpuPower:
    """Per-logical-CPU watts for this CPU: TDP / logical CPUs per package, else the default."""
    match = match_tdp(info.model_name, table)
    if match.tdp_w is not None and not info.virtual:
        w = match.tdp_w / info.logical_per_package
        detail = (
            f"{match.note}: TDP {match.tdp_w:g} W / {info.logical_per_package} logical CPUs per "
            f"package = {w:.3g} W per busy CPU"
        )
        return CpuPower(w, detail, match)
    if match.tdp_w is not None:
        reason = (
            f"{match.note} (TDP {match.tdp_w:g} W), but this is a virtual machine: the package's "
            "CPU count is unknown"
        )
    else:
        reason = match.note
    detail = (
        f"{reason}; default {DEFAULT_W_PER_CPU:g} W per busy CPU (CodeCarbon's default per thread)"
    )
    return CpuPower(DEFAULT_W_PER_CPU, detail, match)
