"""What ``greenai measure`` reports once the command has ended: the run's result JSON (with its
embodied carbon), the summary on stderr, and the totals of jobs whose ranks recorded meanwhile."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def _rank_jobs(store: Any, since: float) -> list[str]:
    """Jobs whose ranks recorded their shares in this store while the command ran (``greenai.track``
    in each rank, no process group: ``lifecycle.rank_job``): their totals are formed now, a rank
    that never finished marking its job incomplete. One summary line per job."""
    if store is None:
        return []
    from greenai.lifecycle.rank_job import settle_since

    lines = []
    try:
        for job_id, _state in settle_since(store, since):
            job = store.get_run(job_id)
            energy = "?" if job.energy_kwh is None else f"{job.energy_kwh:.6g} kWh"
            why = f": {job.error}" if job.error else ""
            lines.append(
                f"  ranks' job {job_id} ({job.status}): {energy} summed over its ranks{why}"
            )
    except Exception as exc:  # the command's own record matters more
        lines.append(f"greenai: warning: could not total the ranks' jobs: {exc}")
    return lines


def _result(m: Any, tracker: Any, csv_path: Path) -> dict[str, Any]:
    """The run's result JSON (``greenai.track``'s, variant "measure"): energy, CO2 and, beside
    them, the embodied carbon of this machine (and the GPUs the meter read) for the run's time."""
    from greenai.lifecycle.tracked_result import build_result

    gpus = int(tracker.hardware().get("gpu_count") or 0)
    used_gpu = m.energy_j.get("gpu", 0.0) > 0
    return build_result(
        m, group=None, model=None, dataset=None, device="cuda" if used_gpu else "cpu",
        emissions_csv=csv_path, gpus=gpus, variant="measure",
    )  # fmt: skip


def _print_summary(
    command: list[str],
    code: int,
    m: Any,
    csv_path: Path,
    store: Any,
    run_id: str,
    result: dict[str, Any] | None = None,
) -> None:
    from greenai.meter.types import COMPONENTS, kwh

    err = sys.stderr
    print(
        f"greenai measure: '{' '.join(command)}' exited with {code} after {m.duration_s:.2f} s",
        file=err,
    )
    for c in COMPONENTS:
        joules = m.energy_j.get(c, 0.0)
        label = m.methods[c].label() if c in m.methods else "not measured"
        print(f"  {c:<4} {kwh(joules):.6g} kWh ({joules:.4g} J)  {label}", file=err)
    print(
        f"  total {m.energy_kwh:.6g} kWh from the grid (PUE {m.pue:g}); CO2 {m.co2_kg:.6g} kg",
        file=err,
    )
    print(f"  carbon intensity {m.intensity.g_per_kwh:g} gCO2e/kWh: {m.intensity.source}", file=err)
    from greenai.results.resultfile import piece_from_measurement
    from greenai.uncertainty import plus_minus

    b = piece_from_measurement(m)  # the bands (greenai.uncertainty)
    print(
        f"  band: energy {plus_minus(m.energy_kwh, b['energy_kwh_low'], b['energy_kwh_high'])} "
        f"kWh, CO2 {plus_minus(m.co2_kg, b['co2_kg_low'], b['co2_kg_high'])} kg",
        file=err,
    )
    if result is not None:
        from greenai.results.bands import summary_lines

        for line in summary_lines(result)[1:]:  # the embodied carbon, beside the CO2 above
            print(line, file=err)
    where = f"{csv_path}" + (f" and {store.url}" if store is not None else "")
    print(f"  run {run_id} recorded in {where}", file=err)
