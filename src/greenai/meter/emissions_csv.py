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
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from greenai.errors import UsageError
from greenai.fsutil import atomic_open
from greenai.meter.csv_bands import BAND_COLUMNS, band_cells, upgrade
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
    "intensity_source", "row_kind", "run_name", "started_at",
)  # fmt: skip
COLUMNS = CODECARBON_COLUMNS + BAND_COLUMNS + GREENAI_COLUMNS
# greenai before emissions.csv kept one row per run: one row per sample, phase and total, no started_at
_OLD_COLUMNS = CODECARBON_COLUMNS + GREENAI_COLUMNS[:-1]
# greenai before the band columns (csv_bands.py): upgraded in place, its rows kept
_PRE_BAND_COLUMNS = CODECARBON_COLUMNS + GREENAI_COLUMNS
_RUN_ID = COLUMNS.index("run_id")
_STARTED_AT = COLUMNS.index("started_at")


def samples_path(path: str | os.PathLike[str]) -> Path:
    """The sample log beside an emissions file: ``logs/emissions.csv`` -> ``logs/emissions_samples.csv``."""
    target = Path(path)
    return target.with_name(f"{target.stem}_samples{target.suffix or '.csv'}")


def _check_one(target: Path) -> None:
    if target.is_dir():
        raise UsageError(f"emissions file {target} is a folder")
    if not target.exists() or target.stat().st_size == 0:
        return
    with open(target, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if tuple(header) == _OLD_COLUMNS:
        raise UsageError(
            f"{target} was written by an older greenai (one row per sample, which CodeCarbon's "
            "tools would sum); move it away or choose another folder"
        )
    if tuple(header) == _PRE_BAND_COLUMNS:
        upgrade(target, _PRE_BAND_COLUMNS, COLUMNS)
        return
    if tuple(header) != COLUMNS:
        raise UsageError(
            f"{target} exists with a different header (not greenai's emissions.csv layout); "
            "choose another file or move it away"
        )


def check_header(path: str | os.PathLike[str]) -> None:
    """Raise ``UsageError`` if ``path`` or its sample log exists, is not empty, and has another
    header than ours."""
    _check_one(Path(path))
    _check_one(samples_path(path))


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of a greenai emissions file (either kind) as dicts; [] if it does not exist."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []


def _ram_total_gb() -> float | str:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) * 1024 / 1e9, 3)
    except (OSError, ValueError, IndexError):
        pass
    return ""


def _stat_signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _signature(path: Path) -> tuple[int, int, int] | None:
    """Identifies one version of a file: every writer renames a new file (a new inode) over it."""
    try:
        return _stat_signature(os.stat(path))
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def _locked(handle: IO[str]) -> Iterator[None]:
    """An exclusive ``flock`` on ``handle`` (the sample log) while emissions.csv is rewritten, so
    processes sharing the file never lose each other's rows. No-op where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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
        self._index: int | None = None  # our row's position among emissions.csv's data rows
        # (signature of emissions.csv as we last wrote it, text before our row, text after it):
        # while no one else has replaced the file, an update needs no reading or parsing
        self._around: tuple[Any, str, str] | None = None

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
        buf = io.StringIO()
        csv.writer(buf).writerow(row)
        line = buf.getvalue()
        with _locked(self._handle):
            cached = self._around
            if cached is None or _signature(self.path) != cached[0]:
                cached = self._split_around_our_row()
            _, before, after = cached
            self._around = (self._replace(before + line + after, fsync=final), before, after)

    def _split_around_our_row(self) -> tuple[Any, str, str]:
        """Read emissions.csv: (its signature, the text before our row, the text after it)."""
        rows: list[list[str]] = []
        if self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is not None and tuple(header) != COLUMNS:
                    raise UsageError(f"{self.path} was replaced by a file with another header")
                rows = [r for r in reader if r]  # a blank line is no row
        index = self._find(rows)
        if index is None:
            index = self._index = len(rows)
            rows.append([])

        def text(part: list[list[str]]) -> str:
            buf = io.StringIO()
            csv.writer(buf).writerows(part)
            return buf.getvalue()

        return None, text([list(COLUMNS), *rows[:index]]), text(rows[index + 1 :])

    def _find(self, rows: list[list[str]]) -> int | None:
        """Our row: at the position we wrote it (rows are only ever appended or replaced in place),
        checked by its run id and start; else the last row with both (the file was edited)."""

        def ours(r: list[str]) -> bool:
            return (
                len(r) == len(COLUMNS)
                and r[_RUN_ID] == self._run_id
                and r[_STARTED_AT] == self._started_at
            )

        if self._index is not None and self._index < len(rows) and ours(rows[self._index]):
            return self._index
        for i in range(len(rows) - 1, -1, -1):
            if ours(rows[i]):
                self._index = i
                return i
        return None

    def _replace(self, text: str, *, fsync: bool) -> tuple[int, int, int]:
        """Rewrite emissions.csv atomically (``fsutil.atomic_open``); returns the new file's
        signature. Only the final write is fsynced, so the total survives a power cut; the
        per-sample updates skip it (the sample log holds the same figures, flushed)."""
        with atomic_open(self.path, "wb", durable=fsync) as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            return _stat_signature(os.fstat(handle.fileno()))

    # -- the Sink protocol ---------------------------------------------------------------------
    def on_start(self, run_id: str, name: str, start_time: float) -> None:
        check_header(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.samples_path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._handle)
        self._run_name = name
        self._run_id = run_id
        self._started_at = dt.datetime.fromtimestamp(start_time).isoformat(timespec="microseconds")
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
