"""One job total from every rank's own measurement.

Each rank meters its share (``greenai.sensors.ranks``: node-shared counters on local rank 0, its own
processes' estimates, its own GPUs). ``rank_record`` turns a rank's ``Measurement`` into a plain
dict with who measured it; ``combine`` sums the records into one ``Measurement`` for the job and
the per-node / per-rank detail that says who measured what. ``gather`` moves the records to every
rank through ``torch.distributed`` (a process group must exist); a rank that is gone makes the
collective raise, so a total is never formed without it. Without a process group the records meet
in the run store instead (``lifecycle.rank_job``, ``storage.rank_rows``) and are summed here too.

What is summed: every component's energy over the ranks (each counter or process is read by
exactly one rank), per phase path likewise. The job's duration is the longest rank's window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from greenai.meter.types import COMPONENTS, Measurement, Method, PhaseResult


def rank_record(m: Measurement, identity: dict[str, Any]) -> dict[str, Any]:
    """A rank's measurement as a picklable dict with its identity (``RankInfo.identity()``)."""
    return {
        **identity,
        "start_time": m.start_time,
        "duration_s": m.duration_s,
        "energy_j": dict(m.energy_j),
        "co2_kg": m.co2_kg,
        "methods": {
            c: [meth.kind, meth.source, meth.detail, meth.band] for c, meth in m.methods.items()
        },
        "phases": [
            {
                "name": p.name,
                "path": p.path,
                "start_time": p.start_time,
                "duration_s": p.duration_s,
                "energy_j": dict(p.energy_j),
                "co2_kg": p.co2_kg,
            }
            for p in m.phases
        ],
    }


def _method(component: str, records: Sequence[dict[str, Any]]) -> Method:
    """One label for a component summed over ranks: the kinds and sources that contributed."""
    used = [r for r in records if r["methods"].get(component, ["none"])[0] != "none"]
    if not used:
        first = records[0]["methods"].get(component, ["none", "no device", "", None])
        return Method(first[0], first[1], first[2], first[3])
    kinds = sorted({r["methods"][component][0] for r in used})
    sources = sorted({r["methods"][component][1] for r in used})
    bands = [r["methods"][component][3] for r in used]
    who = ", ".join(f"rank {r['rank']} on {r['node']}" for r in used)
    band = None  # the documented default for the kind, unless a rank's sensor knows its own
    if any(b is not None for b in bands) and len(kinds) == 1 and len(sources) == 1:
        known = [b for b in bands if b is not None]
        band = (min(b[0] for b in known), max(b[1] for b in known))
    return Method(
        kinds[0] if len(kinds) == 1 else "estimated",  # a mix is only as good as its weakest part
        " + ".join(sources),
        f"summed over {len(used)} of {len(records)} ranks ({who}); "
        f"e.g. {used[0]['methods'][component][2]}",
        band,
    )


def combine(
    records: Sequence[dict[str, Any]], base: Measurement
) -> tuple[Measurement, dict[str, Any]]:
    """(the job's measurement, the detail) from every rank's ``rank_record``.

    ``base`` (this rank's measurement) gives the run id, name, start, carbon settings."""
    records = sorted(records, key=lambda r: r["rank"])
    energy = {c: sum(r["energy_j"].get(c, 0.0) for r in records) for c in COMPONENTS}
    phases: dict[str, dict[str, Any]] = {}
    for r in records:
        for p in r["phases"]:
            slot = phases.setdefault(
                p["path"],
                {**p, "energy_j": dict.fromkeys(COMPONENTS, 0.0), "duration_s": 0.0, "co2_kg": 0.0},
            )
            slot["duration_s"] = max(slot["duration_s"], p["duration_s"])
            slot["co2_kg"] += p["co2_kg"]
            for c, j in p["energy_j"].items():
                slot["energy_j"][c] = slot["energy_j"].get(c, 0.0) + j
    job = Measurement(
        run_id=base.run_id,
        name=base.name,
        start_time=base.start_time,
        duration_s=max(r["duration_s"] for r in records),
        energy_j=energy,
        methods={c: _method(c, records) for c in COMPONENTS},
        intensity=base.intensity,
        pue=base.pue,
        co2_kg=sum(r["co2_kg"] for r in records),  # each rank's own (a time-varying grid)
        phases=tuple(
            PhaseResult(
                base.run_id,
                p["name"],
                path,
                p["start_time"],
                p["duration_s"],
                p["energy_j"],
                p["co2_kg"],
            )
            for path, p in phases.items()
        ),
    )
    return job, detail(records)


def detail(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-rank and per-node figures (joules) and who measured each component."""
    ranks = [
        {
            **{k: r[k] for k in ("rank", "local_rank", "node_rank", "node", "host", "meters_node")},
            "duration_s": r["duration_s"],
            "energy_j": r["energy_j"],
            "methods": {c: m[0] + ": " + m[1] for c, m in r["methods"].items()},
        }
        for r in sorted(records, key=lambda r: r["rank"])
    ]
    nodes: dict[str, dict[str, Any]] = {}
    for r in ranks:
        node = nodes.setdefault(
            r["node"],
            {
                "node": r["node"],
                "node_rank": r["node_rank"],
                "host": r["host"],
                "ranks": [],
                "energy_j": dict.fromkeys(COMPONENTS, 0.0),
                "duration_s": 0.0,
            },
        )
        node["ranks"].append(r["rank"])
        node["duration_s"] = max(node["duration_s"], r["duration_s"])
        for c, j in r["energy_j"].items():
            node["energy_j"][c] = node["energy_j"].get(c, 0.0) + j
    return {
        "world_size": len(ranks),
        "nodes": sorted(nodes.values(), key=lambda n: n["node_rank"]),
        "ranks": ranks,
        "summed": "every component over all ranks; node-shared counters (RAPL) are read by "
        "local rank 0 of each node only, estimates follow each rank's own processes, "
        "each rank reads only its own GPUs",
    }


def gather(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's record, on every rank, through the default ``torch.distributed`` group."""
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, record)
    return out


def job_total(m: Measurement, info: Any = None) -> tuple[Measurement, dict[str, Any] | None]:
    """``m`` summed with every other rank's, when a ``torch.distributed`` process group exists
    (every rank must call it: a collective); ``(m, None)`` otherwise. For code that meters each
    rank itself, e.g. a training-framework callback: each rank's tracker reads its share
    (``sensors.ranks``), this forms the job's total. Never imports torch itself."""
    import sys

    torch = sys.modules.get("torch")
    dist = getattr(torch, "distributed", None) if torch is not None else None
    if dist is None or not (dist.is_available() and dist.is_initialized()):
        return m, None
    if info is None:
        from greenai.sensors.ranks import rank_info

        info = rank_info()
    return combine(gather(rank_record(m, info.identity())), m)
