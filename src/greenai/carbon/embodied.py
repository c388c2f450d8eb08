"""Embodied carbon of a run: the hardware's manufacturing emissions, amortised by time.

The Software Carbon Intensity specification's embodied term, ``M = TE × (TR / EL) × RS``:

* ``TE``: the hardware's total embodied emissions, from ``greenai/reference/embodied_carbon.csv``
  (BoaviztAPI 2.5.0's published server and GPU figures, with their min/max as the band; provenance
  in ``reference/PROVENANCE.txt``):

  - a CPU-only run: one server (BoaviztAPI's default ``platform_compute_medium``, 900 kg);
  - a GPU run on ``g`` GPUs: per GPU, one GPU (244.9 kg) plus an eighth of an 8-GPU server's host
    (1,841 kg / 8), i.e. the run reserves its GPUs' slice of a GPU server.
* ``TR``: the run's time (its step's duration: every process and meter window of it).
* ``EL``: the hardware's life, ``DEFAULT_LIFE_YEARS`` = 4 years (BoaviztAPI's 35,040 hours).
* ``RS``: the share of the hardware the run reserved. A physical machine: 1 (the machine was the
  run's for that time). A virtual machine (the ``hypervisor`` CPU flag) without GPUs: its visible
  logical CPUs over the default server's ``SERVER_THREADS`` (2 × 24 cores × 2 threads = 96).

Per machine, flags and the environment override these (a flag beats its variable):
``--embodied-kg`` / ``GREENAI_EMBODIED_KG`` (this machine's own ``TE``, kg CO2e; taken as exact, no
band), ``--lifetime-years`` / ``GREENAI_EMBODIED_LIFE_YEARS`` (``EL``), ``--embodied-share`` /
``GREENAI_EMBODIED_SHARE`` (``RS``, 0 to 1). ``apply_flags`` checks a command's flags and hands them
to every meter of the process and its children through the variables (as ``--cpu-watts`` does),
naming them in ``GREENAI_EMBODIED_FROM_FLAGS`` so the result says which flag gave a figure: each
override is listed under ``user_given`` in ``embodied.step`` (figure -> flag or variable). The
result keeps embodied carbon in its own section, beside the operational CO2, never added into it;
``embodied_section`` builds that section for any run (a lifecycle step, ``greenai.track``,
``greenai measure``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from greenai.carbon.intensity import _rows
from greenai.errors import UsageError

TABLE_NAME = "embodied_carbon.csv"
DEFAULT_LIFE_YEARS = 4.0
SERVER_THREADS = 96
GPUS_PER_SERVER = 8
HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class Embodied:
    """One item of the table: kg CO2e with its low/high and source."""

    kg: float
    low: float
    high: float
    source: str


@functools.lru_cache(maxsize=1)
def table() -> dict[str, Embodied]:
    return {
        r["item"]: Embodied(
            float(r["kg_co2e"]), float(r["kg_low"]), float(r["kg_high"]), r["source"]
        )
        for r in _rows(TABLE_NAME)
    }


KG_ENV = "GREENAI_EMBODIED_KG"
LIFE_ENV = "GREENAI_EMBODIED_LIFE_YEARS"
SHARE_ENV = "GREENAI_EMBODIED_SHARE"
FROM_FLAGS_ENV = "GREENAI_EMBODIED_FROM_FLAGS"
# (flag, its variable, the figure it sets in embodied.step, range: low, high, low allowed)
OVERRIDES = (
    ("--embodied-kg", KG_ENV, "total_kg", 0.0, None, True),
    ("--lifetime-years", LIFE_ENV, "life_years", 0.0, None, False),
    ("--embodied-share", SHARE_ENV, "share", 0.0, 1.0, True),
)


def _env_number(
    env: Mapping[str, str], name: str, lo: float, hi: float | None, lo_ok: bool
) -> float | None:
    """The number in ``env[name]`` (None when unset), checked against its range."""
    return _number((env.get(name) or "").strip(), name, lo, hi, lo_ok)


def _number(raw: str, name: str, lo: float, hi: float | None, lo_ok: bool) -> float | None:
    """``raw`` as a number in its range (None when empty); one UsageError line naming ``name``."""
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name} must be a number, got {raw!r}") from None
    above = value >= lo if lo_ok else value > lo
    if not (above and value != float("inf") and (hi is None or value <= hi)):
        bound = f"{'>=' if lo_ok else '>'} {lo:g}" + ("" if hi is None else f" and <= {hi:g}")
        raise UsageError(f"{name} must be {bound}, got {raw!r}")
    return value


def check_env(env: Mapping[str, str] = os.environ) -> None:
    """Refuse malformed overrides (one UsageError line) before a command writes anything."""
    for _flag, name, _key, lo, hi, lo_ok in OVERRIDES:
        _env_number(env, name, lo, hi, lo_ok)


def apply_flags(
    given: Mapping[str, str | None], env: MutableMapping[str, str] = os.environ
) -> None:
    """Check a command's embodied flags (``{"--embodied-kg": "1200", ...}``, None: not given), one
    UsageError line naming the flag, then set their variables in ``env`` (the flag beats the
    environment; child processes inherit them) and name them in ``GREENAI_EMBODIED_FROM_FLAGS``."""
    chosen = {}
    for flag, name, _key, lo, hi, lo_ok in OVERRIDES:
        raw = given.get(flag)
        if raw is not None:
            if not raw.strip():
                raise UsageError(f"{flag} needs a number, got {raw!r}")
            _number(raw.strip(), flag, lo, hi, lo_ok)
            chosen[name] = raw.strip()
    if not chosen:
        return
    marked = {n for n in (env.get(FROM_FLAGS_ENV) or "").split(",") if n}
    env.update(chosen)
    env[FROM_FLAGS_ENV] = ",".join(sorted(marked | set(chosen)))


def _origins(env: Mapping[str, str]) -> dict[str, str]:
    """{figure: the flag or variable that gave it} for every override set in ``env``."""
    flagged = set((env.get(FROM_FLAGS_ENV) or "").split(","))
    return {
        key: flag if name in flagged else name
        for flag, name, key, *_range in OVERRIDES
        if (env.get(name) or "").strip()
    }


def embodied_step(
    duration_s: float,
    gpus: int,
    logical_cpus: int,
    virtual: bool,
    env: Mapping[str, str] = os.environ,
) -> dict[str, Any]:
    """The result's ``embodied.step``: kg CO2e with its band, and how it was reached."""
    life = _env_number(env, LIFE_ENV, 0.0, None, False) or DEFAULT_LIFE_YEARS
    own_kg = _env_number(env, KG_ENV, 0.0, None, True)
    share = _env_number(env, SHARE_ENV, 0.0, 1.0, True)
    given = _origins(env)
    t = table()
    if own_kg is not None:
        origin = given["total_kg"]
        te = Embodied(own_kg, own_kg, own_kg, f"{origin} (this machine, user-given)")
        what = f"this machine {own_kg:g} kg ({origin})"
        default_share, share_why = 1.0, "the whole machine"
    elif gpus > 0:
        gpu, host = t["gpu"], t["gpu_server_host"]
        te = Embodied(
            gpus * (gpu.kg + host.kg / GPUS_PER_SERVER),
            gpus * (gpu.low + host.low / GPUS_PER_SERVER),
            gpus * (gpu.high + host.high / GPUS_PER_SERVER),
            f"{gpu.source}; host: {host.source}",
        )
        what = (
            f"{gpus} GPU(s) x ({gpu.kg:g} kg per GPU + {host.kg:g} kg GPU-server host / "
            f"{GPUS_PER_SERVER}) = {te.kg:.4g} kg (BoaviztAPI)"
        )
        default_share, share_why = 1.0, "its GPUs' slice of a GPU server"
    else:
        server = t["server"]
        te = server
        what = f"one server {server.kg:g} kg (BoaviztAPI platform_compute_medium)"
        if virtual:
            default_share = min(1.0, logical_cpus / SERVER_THREADS)
            share_why = (
                f"a virtual machine: {logical_cpus} of the server's {SERVER_THREADS} threads"
            )
        else:
            default_share, share_why = 1.0, "a physical machine, reserved for the run"
    if share is None:
        share = default_share
    else:
        share_why = f"user-given, {given['share']}"
    factor = duration_s / 3600.0 / (life * HOURS_PER_YEAR) * share
    life_why = f" (user-given, {given['life_years']})" if "life_years" in given else ""
    method = (
        f"SCI M = TE x TR / EL x RS: TE {what}; TR {duration_s:.4g} s; EL {life:g} years"
        f"{life_why}; RS {share:.4g} ({share_why}); band: the table's low-high"
    )
    return {
        "co2_kg": te.kg * factor,
        "co2_kg_low": te.low * factor,
        "co2_kg_high": te.high * factor,
        "total_kg": te.kg,
        "life_years": life,
        "share": share,
        "duration_s": duration_s,
        "method": method,
        "source": te.source,
        "user_given": given,  # figure -> the flag or variable that gave it ({}: the defaults)
    }


def embodied_section(
    duration_s: float,
    gpus: int,
    parent_result: Mapping[str, Any] | None = None,
    env: Mapping[str, str] = os.environ,
) -> dict[str, Any]:
    """A result's ``embodied`` section (``step`` and ``lifecycle``) for a run of ``duration_s`` on
    ``gpus`` GPUs of this machine (its CPUs and whether it is virtual read from ``/proc/cpuinfo``)."""
    from greenai.sensors.cpu_model import read_cpuinfo

    info = read_cpuinfo()
    own = embodied_step(
        duration_s, gpus, info.logical_per_package * info.packages, info.virtual, env
    )
    return {"step": own, "lifecycle": embodied_lifecycle(own, parent_result)}


def for_machines(
    section: Mapping[str, Any], machines: int, parent_result: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One machine's ``embodied`` section for a job that ran on ``machines`` machines (a
    multi-node torchrun/SLURM job): each is taken to be like the one that formed the total (the
    others' hardware is not read), so the step's figure and band are ``machines`` times it."""
    if machines <= 1:
        return dict(section)
    step = dict(section["step"])
    for k in ("co2_kg", "co2_kg_low", "co2_kg_high"):
        step[k] = float(step[k]) * machines
    step["machines"] = machines
    step["method"] = (
        f"{machines} machines, each taken to be like this one (their hardware is not read): "
        f"{machines} x ({step['method']})"
    )
    return {"step": step, "lifecycle": embodied_lifecycle(step, parent_result)}


def embodied_lifecycle(step: Mapping[str, Any], parent_result: Mapping[str, Any] | None) -> dict:
    """``embodied.lifecycle`` = this step's + the parent's lifecycle embodied (interval sum)."""
    keys = ("co2_kg", "co2_kg_low", "co2_kg_high")
    out = {k: float(step[k]) for k in keys}
    parent = ((parent_result or {}).get("embodied") or {}).get("lifecycle")
    if parent_result is not None and parent is None:
        out["note"] = "the parent's result has no embodied figure; this step's only"
    for k in keys if parent else ():
        out[k] += float(parent.get(k, parent["co2_kg"]))
    return out
