"""``emissions.csv`` (one row per run, as CodeCarbon keeps it) and its sibling sample log.

Both files have the same columns: CodeCarbon's 38, in CodeCarbon's order and units, then the bands
of ``energy_consumed`` and ``emissions`` (``csv_bands.py``), then greenai's.

``emissions.csv`` holds exactly ONE row per tracker run (CodeCarbon's ``on_csv_write="update"``
semantics), so tools made for CodeCarbon, which sum ``emissions`` and ``energy_consumed`` over all
rows of a project, get true totals, not a multiple. The row is written at start, then updated in
place at every sample (the whole file rewritten to a temporary file and renamed over it, under an
exclusive lock, so readers and other writers never see a torn file) and finally at stop:

* ``row_kind`` ``partial``: the run's cumulative figures up to its latest sample; a run killed
  mid-way keeps this row, so a crash loses at most one interval here too.
* ``row_kind`` ``total``: the run's final figures, written at stop.

A run is one tracker: a training run resumed in a new process gets a second row under the same
``run_id``, holding that process's own energy (disjoint from the first), so sums stay right.
``started_at`` (the tracker's start, local time with microseconds) tells the rows apart.

``<stem>_samples.csv`` (e.g. ``emissions_samples.csv``) is the sample log, appended and flushed as
records are taken, so a crash loses at most one interval:

* ``sample``: one per sample, the run's CUMULATIVE figures so far (``phase`` = the open phase).
* ``phase``: one per finished phase, that phase's OWN figures; ``phase`` holds its path.
* ``total``: one at stop, the run's final cumulative figures (the same as its emissions.csv row).

It is not a CodeCarbon file to sum (its rows overlap); read it for time series and phases.

Units as CodeCarbon: ``duration`` s, ``emissions`` kg CO2e (PUE and intensity applied),
``emissions_rate`` kg/s, ``*_power`` W (mean over the last interval for samples and partial rows,
over the window otherwise), ``*_energy`` kWh drawn by that component (before PUE),
``energy_consumed`` kWh from the grid (sum × PUE), ``ram_total_size`` GB. Columns greenai does not
know (region, cloud, coordinates, utilisation, water) are left empty rather than invented. A file
with another header (another tool's, or an older greenai's) is refused (``UsageError``) instead of
mixing layouts.

The parts: ``emissions_layout.py`` (the columns, the header check, reading rows),
``emissions_row.py`` (the run's row replaced in place, under the lock) and this module's sink;
the names are re-exported here (``COLUMNS``, ``samples_path``, ``check_header``, ``read_rows``,
...).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import platform
from pathlib import Path
from typing import IO, Any

from greenai.meter.csv_bands import band_cells
from greenai.meter.emissions_layout import (
    _OLD_COLUMNS,
    _PRE_BAND_COLUMNS,
    _RUN_ID,
    _STARTED_AT,
    CODECARBON_COLUMNS,
    COLUMNS,
    GREENAI_COLUMNS,
    check_header,
    read_rows,
    samples_path,
)
from greenai.meter.emissions_row import RunRow, _locked
from greenai.meter.types import (
    COMPONENTS,
    CarbonIntensity,
    Measurement,
    Method,
    PhaseResult,
    Sample,
    kwh,
)

__all__ = [
    "CODECARBON_COLUMNS",
    "COLUMNS",
    "GREENAI_COLUMNS",
    "_OLD_COLUMNS",
    "_PRE_BAND_COLUMNS",
    "_RUN_ID",
    "_STARTED_AT",
    "EmissionsCsvSink",
    "check_header",
    "read_rows",
    "samples_path",
]


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
    """A meter sink keeping the run's row in ``path`` and appending to its sample log (see the
    module docstring for both files).

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
        self.samples_path = samples_path(path)
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
        self._handle: IO[str] | None = None  # the sample log, open for appending
        self._writer: Any = None
        self._run_name = ""
        self._started_at = ""
        self._run_id = ""
        self._run_row = RunRow(self.path)  # our row in emissions.csv, replaced in place

    # -- rows ----------------------------------------------------------------------------------
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
    ) -> list[Any]:
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
            started_at=self._started_at,
            **band_cells(energy_j, self.methods, self.pue, self.intensity, co2_kg),
        )
        for c in COMPONENTS:
            row[f"{c}_power"] = power_w.get(c, 0.0)
            row[f"{c}_energy"] = kwh(energy_j.get(c, 0.0))
        return [row[col] for col in COLUMNS]

    def _append(self, row: list[Any]) -> None:
        if self._writer is None or self._handle is None:
            raise RuntimeError("EmissionsCsvSink used before on_start")
        self._writer.writerow(row)
        self._handle.flush()

    def _update_run_row(self, row: list[Any], *, final: bool) -> None:
        """Put ``row`` in place of this run's row in emissions.csv (appending it the first time)."""
        if self._handle is None:
            raise RuntimeError("EmissionsCsvSink used before on_start")
        self._run_row.put(row, lock=self._handle, final=final)

    # -- the Sink protocol ---------------------------------------------------------------------
    def on_start(self, run_id: str, name: str, start_time: float) -> None:
        check_header(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.samples_path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._handle)
        self._run_name = name
        self._run_id = run_id
        self._started_at = dt.datetime.fromtimestamp(start_time).isoformat(timespec="microseconds")
        self._run_row.run_id, self._run_row.started_at = run_id, self._started_at
        with _locked(self._handle):
            if self._handle.tell() == 0:
                self._writer.writerow(COLUMNS)
                self._handle.flush()
        zero = dict.fromkeys(COMPONENTS, 0.0)
        self._update_run_row(
            self._row(
                run_id=run_id, timestamp=start_time, duration_s=0.0, energy_j=zero,
                power_w=zero, co2_kg=0.0, phase=None, kind="partial",
            ),
            final=False,
        )  # fmt: skip

    def on_sample(self, sample: Sample) -> None:
        fields = dict(
            run_id=sample.run_id,
            timestamp=sample.timestamp,
            duration_s=sample.elapsed_s,
            energy_j=sample.energy_j,
            power_w=sample.power_w,
            co2_kg=sample.co2_kg,
            phase=sample.phase,
        )
        self._append(self._row(**fields, kind="sample"))
        self._update_run_row(self._row(**fields, kind="partial"), final=False)

    def on_phase(self, phase: PhaseResult) -> None:
        self._append(
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
        )

    def on_stop(self, measurement: Measurement) -> None:
        try:
            row = self._row(
                run_id=measurement.run_id,
                timestamp=measurement.start_time + measurement.duration_s,
                duration_s=measurement.duration_s,
                energy_j=measurement.energy_j,
                power_w=_mean_power(measurement.energy_j, measurement.duration_s),
                co2_kg=measurement.co2_kg,
                phase=None,
                kind="total",
            )
            if self._handle is None and self._run_id:
                # a total restated after the stop (`Tracker.restate`: a distributed job's total in
                # place of this rank's share): the run's row in emissions.csv takes it; the sample
                # log keeps the total this process measured itself
                with open(self.samples_path, "a", newline="", encoding="utf-8") as log:
                    self._run_row.put(row, lock=log, final=True)
                return
            self._append(row)
            self._update_run_row(row, final=True)
        finally:
            self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._writer = None


def _mean_power(energy_j: dict[str, float], duration_s: float) -> dict[str, float]:
    return {c: (e / duration_s if duration_s > 0 else 0.0) for c, e in energy_j.items()}
