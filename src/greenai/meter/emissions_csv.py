"""``emissions.csv``: CodeCarbon's 38 columns first, in CodeCarbon's order and units, then greenai's.

Rows (``row_kind`` column):

* ``sample``: one per sample of the sampling thread, with the run's CUMULATIVE figures so far, as
  CodeCarbon writes on each periodic flush: for one ``run_id`` a later row supersedes earlier ones.
  Appended and flushed at once, so a crash loses at most one interval.
* ``phase``: one per finished phase, with that phase's OWN figures (energy between its start and end,
  its duration); ``phase`` holds its path ("train/epoch").
* ``total``: one at stop, the run's final cumulative figures. Readers wanting one row per run take
  the ``total`` row (or, for a crashed run, the last ``sample`` row).

Units as CodeCarbon: ``duration`` s, ``emissions`` kg CO2e (PUE and intensity applied),
``emissions_rate`` kg/s, ``*_power`` W (mean over the last interval for samples, over the window
otherwise), ``*_energy`` kWh drawn by that component (before PUE), ``energy_consumed`` kWh from the grid
(sum × PUE), ``ram_total_size`` GB. Columns greenai does not know (region, cloud, coordinates,
utilisation, water) are left empty rather than invented. The header is written once; appending to a
file with another header is refused (``UsageError``) instead of mixing layouts.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import platform
from pathlib import Path
from typing import IO, Any

from greenai.errors import UsageError
from greenai.meter.types import (
    COMPONENTS,
    CarbonIntensity,
    Measurement,
    Method,
    PhaseResult,
    Sample,
    kwh,
)

CODECARBON_COLUMNS = (
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions",
    "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy",
    "ram_energy", "energy_consumed", "water_consumed", "country_name", "country_iso_code", "region",
    "cloud_provider", "cloud_region", "os", "python_version", "codecarbon_version", "cpu_count",
    "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude", "ram_total_size",
    "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue",
)  # fmt: skip
GREENAI_COLUMNS = (
    "cpu_method", "gpu_method", "ram_method", "phase", "carbon_intensity_g_per_kwh",
    "intensity_source", "row_kind", "run_name",
)  # fmt: skip
COLUMNS = CODECARBON_COLUMNS + GREENAI_COLUMNS


def check_header(path: str | os.PathLike[str]) -> None:
    """Raise ``UsageError`` if ``path`` exists, is not empty, and has another header than ours."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"emissions file {target} is a folder")
    if not target.exists() or target.stat().st_size == 0:
        return
    with open(target, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if tuple(header) != COLUMNS:
        raise UsageError(
            f"{target} exists with a different header (not greenai's emissions.csv layout); "
            "choose another file or move it away"
        )


def _ram_total_gb() -> float | str:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) * 1024 / 1e9, 3)
    except (OSError, ValueError, IndexError):
        pass
    return ""


class EmissionsCsvSink:
    """A meter sink appending rows to ``path`` (see the module docstring for their meaning).

    ``methods`` are the per-component method labels; ``hardware`` may hold ``cpu_model``,
    ``gpu_model``, ``gpu_count`` for the CodeCarbon columns.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        intensity: CarbonIntensity,
        pue: float,
        methods: dict[str, Method],
        project_name: str = "greenai",
        hardware: dict[str, Any] | None = None,
    ) -> None:
        check_header(path)
        self.path = Path(path)
        self.intensity = intensity
        self.pue = pue
        self.methods = methods
        self.project_name = project_name
        hw = hardware or {}
        self._fixed = {
            "experiment_id": "",
            "water_consumed": "",
            "country_name": intensity.country_name or "",
            "country_iso_code": intensity.country_iso3 or "",
            "region": "",
            "cloud_provider": "",
            "cloud_region": "",
            "os": platform.platform(),
            "python_version": platform.python_version(),
            "codecarbon_version": "",
            "cpu_count": os.cpu_count() or "",
            "cpu_model": hw.get("cpu_model", ""),
            "gpu_count": hw.get("gpu_count", ""),
            "gpu_model": hw.get("gpu_model", ""),
            "longitude": "",
            "latitude": "",
            "ram_total_size": _ram_total_gb(),
            "tracking_mode": "machine"
            if methods.get("cpu", Method("", "")).kind == "measured"
            else "process",
            "cpu_utilization_percent": "",
            "gpu_utilization_percent": "",
            "ram_utilization_percent": "",
            "ram_used_gb": "",
            "on_cloud": "",
            "pue": pue,
            "wue": "",
            **{f"{c}_method": methods[c].label() if c in methods else "" for c in COMPONENTS},
            "carbon_intensity_g_per_kwh": intensity.g_per_kwh,
            "intensity_source": intensity.source,
        }
        self._handle: IO[str] | None = None
        self._writer: Any = None
        self._run_name = ""

    def _row(
        self,
        *,
        run_id: str,
        timestamp: float,
        duration_s: float,
        energy_j: dict[str, float],
        power_w: dict[str, float],
        co2_kg: float,
        phase: str | None,
        kind: str,
    ) -> None:
        if self._writer is None:
            raise RuntimeError("EmissionsCsvSink used before on_start")
        row = dict(self._fixed)
        row.update(
            timestamp=dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%dT%H:%M:%S"),
            project_name=self.project_name,
            run_id=run_id,
            duration=duration_s,
            emissions=co2_kg,
            emissions_rate=co2_kg / duration_s if duration_s > 0 else 0.0,
            energy_consumed=kwh(sum(energy_j.values())) * self.pue,
            phase=phase or "",
            row_kind=kind,
            run_name=self._run_name,
        )
        for c in COMPONENTS:
            row[f"{c}_power"] = power_w.get(c, 0.0)
            row[f"{c}_energy"] = kwh(energy_j.get(c, 0.0))
        self._writer.writerow([row[col] for col in COLUMNS])
        assert self._handle is not None
        self._handle.flush()

    def on_start(self, run_id: str, name: str, start_time: float) -> None:
        check_header(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._handle)
        self._run_name = name
        if self._handle.tell() == 0:
            self._writer.writerow(COLUMNS)
            self._handle.flush()

    def on_sample(self, sample: Sample) -> None:
        self._row(
            run_id=sample.run_id,
            timestamp=sample.timestamp,
            duration_s=sample.elapsed_s,
            energy_j=sample.energy_j,
            power_w=sample.power_w,
            co2_kg=sample.co2_kg,
            phase=sample.phase,
            kind="sample",
        )

    def on_phase(self, phase: PhaseResult) -> None:
        self._row(
            run_id=phase.run_id,
            timestamp=phase.start_time + phase.duration_s,
            duration_s=phase.duration_s,
            energy_j=phase.energy_j,
            power_w=_mean_power(phase.energy_j, phase.duration_s),
            co2_kg=phase.co2_kg,
            phase=phase.path,
            kind="phase",
        )

    def on_stop(self, measurement: Measurement) -> None:
        try:
            self._row(
                run_id=measurement.run_id,
                timestamp=measurement.start_time + measurement.duration_s,
                duration_s=measurement.duration_s,
                energy_j=measurement.energy_j,
                power_w=_mean_power(measurement.energy_j, measurement.duration_s),
                co2_kg=measurement.co2_kg,
                phase=None,
                kind="total",
            )
        finally:
            self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._writer = None


def _mean_power(energy_j: dict[str, float], duration_s: float) -> dict[str, float]:
    return {c: (e / duration_s if duration_s > 0 else 0.0) for c, e in energy_j.items()}
