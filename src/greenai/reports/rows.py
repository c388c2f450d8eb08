"""The study's table as data: one ``ReportRow`` per run, with reductions and efficiency computed.

The study's columns (Model Type, Device, Accuracy, CO2, Reduction, Model Size, Efficiency) use the
step CO2, as the study did; the lifecycle columns beside them add every ancestor's CO2 (the baseline's
training for a pruned model), which is the honest figure for a derived model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from greenai.lifecycle import registry
from greenai.reports.inputs import RunInput

# Display names and order of variants, as the lifecycle's steps register them; unknown variants
# come after, alphabetically.
VARIANT_NAMES = {k.variant: k.display for k in registry.kinds()}
VARIANT_ORDER = tuple(VARIANT_NAMES)

DEVICE_NAMES = {"cpu": "CPU", "cuda": "GPU", "gpu": "GPU", "mps": "MPS"}


def variant_name(variant: str) -> str:
    return VARIANT_NAMES.get(variant, variant)


def device_name(device: str | None) -> str:
    if not device:
        return "?"
    base = device.split(":")[0]
    return DEVICE_NAMES.get(base, device)


@dataclass(frozen=True)
class ReportRow:
    """One run's figures for the report. ``None`` means "not available" (never silently zero)."""

    run_id: str
    variant: str
    model_type: str  # display name of the variant
    device: str  # display name: CPU, GPU
    status: str
    error: str | None
    parent_run_id: str | None
    accuracy_pct: float | None = None
    co2_step_kg: float | None = None
    co2_lifecycle_kg: float | None = None
    energy_step_kwh: float | None = None
    energy_lifecycle_kwh: float | None = None
    size_bytes: int | None = None
    size_mib: float | None = None
    dense_size_bytes: int | None = None
    inference_device: str | None = None
    inference_j_per_1000: float | None = None
    inference_method: str | None = None
    # an encoder's mean cosine similarity to its FP32 embeddings (in place of an accuracy)
    fidelity_cosine: float | None = None
    # work-normalised figures (the result's ``work`` section, greenai.results.work)
    j_per_training_sample: float | None = None
    j_per_inference_item: float | None = None
    inference_item: str | None = None  # image, sentence, ...
    j_per_correct_prediction: float | None = None
    inference_batch_size: int | None = None
    inference_threads: int | None = None
    step_methods: Mapping[str, str] | None = None
    break_even_inferences: int | None = None
    break_even_never: bool = False
    break_even_explanation: str | None = None
    intensity_g_per_kwh: float | None = None
    pue: float | None = None
    baseline_run_id: str | None = None  # the run the reductions are computed against
    lineage_device: str | None = None  # the device of that baseline (rows are grouped by it)
    reduction_step_pct: float | None = None
    reduction_lifecycle_pct: float | None = None
    efficiency_step: float | None = None  # accuracy (%) per kg CO2, step
    efficiency_lifecycle: float | None = None  # accuracy (%) per kg CO2, lifecycle
    # (low, high) kg of the CO2 figures (greenai.uncertainty); None for a result without bands
    co2_step_band: tuple[float, float] | None = None
    co2_lifecycle_band: tuple[float, float] | None = None
    # the hardware's embodied carbon (greenai.carbon.embodied), kept apart from the operational CO2
    embodied_step_kg: float | None = None
    embodied_lifecycle_kg: float | None = None
    embodied_lifecycle_band: tuple[float, float] | None = None
    # False when the difference from its baseline lies inside the figures' uncertainty (on a shared
    # basis: the bands' independent parts, greenai.uncertainty): "not distinguishable"
    distinguishable_step: bool | None = None
    distinguishable_lifecycle: bool | None = None
    # (run id, step CO2 Figure) of this run and its ancestors, for the scenario's comparisons;
    # None when an ancestor's result is missing
    lineage_figures: tuple[tuple[str | None, Any], ...] | None = None

    @property
    def ok(self) -> bool:
        """Finished with a result: a tracked block of code or a measured command has no accuracy
        and is still done."""
        return self.status == "done" and (
            self.accuracy_pct is not None
            or self.variant in ("tracked", "measure")  # greenai.track, greenai measure
            or self.fidelity_cosine is not None  # an encoder: fidelity stands in for accuracy
        )

    @property
    def label(self) -> str:
        return f"{self.model_type} [{self.device}]"


def _get(d: Mapping[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(d, Mapping) or key not in d:
            return None
        d = d[key]
    return d


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def reduction_pct(reference: float | None, value: float | None) -> float | None:
    """How much lower ``value`` is than ``reference``, in percent (negative when higher)."""
    if reference is None or value is None or reference <= 0:
        return None
    return (reference - value) / reference * 100.0


def efficiency(accuracy_pct: float | None, co2_kg: float | None) -> float | None:
    """Accuracy points per kg CO2; ``None`` when either is missing or the CO2 is not positive."""
    if accuracy_pct is None or co2_kg is None or co2_kg <= 0:
        return None
    return accuracy_pct / co2_kg


def _base_row(run: RunInput) -> dict[str, Any]:
    r = run.result
    inf_device = _get(r, "inference", "device")
    return dict(
        run_id=run.run_id,
        variant=run.variant,
        model_type=variant_name(run.variant),
        device=device_name(run.device),
        status=run.status,
        error=run.error,
        parent_run_id=run.parent_run_id,
        accuracy_pct=_num(_get(r, "metrics", "test_accuracy_pct")),
        co2_step_kg=_num(_get(r, "energy", "step", "co2_kg")),
        co2_lifecycle_kg=_num(_get(r, "energy", "lifecycle", "co2_kg")),
        energy_step_kwh=_num(_get(r, "energy", "step", "energy_kwh")),
        energy_lifecycle_kwh=_num(_get(r, "energy", "lifecycle", "energy_kwh")),
        size_bytes=_int(_get(r, "metrics", "file_size_bytes")),
        size_mib=_num(_get(r, "metrics", "file_size_mib")),
        dense_size_bytes=_int(_get(r, "metrics", "dense_size_bytes")),
        inference_device=device_name(inf_device) if inf_device else None,
        inference_j_per_1000=_num(
            _get(r, "inference", "energy_j_per_1000_images")
            or _get(r, "inference", "energy_j_per_1000_items")
        ),
        inference_method=_get(r, "inference", "energy_method"),
        fidelity_cosine=_num(_get(r, "metrics", "fidelity_cosine")),
        j_per_training_sample=_num(_get(r, "work", "j_per_training_sample")),
        j_per_inference_item=_num(_get(r, "work", "j_per_inference_item")),
        inference_item=_get(r, "work", "inference_item"),
        j_per_correct_prediction=_num(_get(r, "work", "j_per_correct_prediction")),
        inference_batch_size=_int(_get(r, "work", "inference_batch_size")),
        inference_threads=_int(_get(r, "work", "inference_threads")),
        step_methods=_get(r, "energy", "step", "methods"),
        break_even_inferences=_int(_get(r, "break_even", "inferences")),
        break_even_never=bool(_get(r, "break_even", "never")),
        break_even_explanation=_get(r, "break_even", "explanation"),
        intensity_g_per_kwh=_num(_get(r, "carbon", "intensity_g_per_kwh")),
        pue=_num(_get(r, "carbon", "pue")),
        co2_step_band=_band(_get(r, "energy", "step")),
        co2_lifecycle_band=_band(_get(r, "energy", "lifecycle")),
        embodied_step_kg=_num(_get(r, "embodied", "step", "co2_kg")),
        embodied_lifecycle_kg=_num(_get(r, "embodied", "lifecycle", "co2_kg")),
        embodied_lifecycle_band=_band(_get(r, "embodied", "lifecycle")),
    )


def _band(section: Any, key: str = "co2_kg") -> tuple[float, float] | None:
    """(low, high) of ``section[key]``, or None when the result predates bands."""
    low, high = _num(_get(section, f"{key}_low")), _num(_get(section, f"{key}_high"))
    return None if low is None or high is None else (low, high)


def _lineage_figures(
    result: Mapping[str, Any], by_id: Mapping[str, RunInput]
) -> tuple[tuple[str | None, Any], ...] | None:
    from greenai.errors import DataError
    from greenai.results import lineage

    try:
        return tuple(lineage.lineage_figures(result, _resolver(by_id)))
    except DataError:
        return None


def _resolver(by_id: Mapping[str, RunInput]) -> Any:
    return lambda rid: by_id[rid].result if rid in by_id else None


def _distinct(
    result: Mapping[str, Any], ref: Mapping[str, Any], by_id: Mapping[str, RunInput]
) -> tuple[bool | None, bool | None]:
    """(step, lifecycle) distinguishable from the baseline (``greenai.results.lineage``: on a
    shared basis only the independent parts of the bands count). When an ancestor's result is
    missing, the recorded lifecycle bands' overlap decides the lifecycle's."""
    from greenai.errors import DataError
    from greenai.results import lineage
    from greenai.results.bands import step_figure
    from greenai.uncertainty import distinguishable, overlap

    step = distinguishable(step_figure(ref), step_figure(result))
    try:
        life = lineage.lifecycle_distinguishable(result, ref, _resolver(by_id))
    except DataError:  # an ancestor's result is missing: the recorded lifecycle bands, in full
        a, b = _band(_get(ref, "energy", "lifecycle")), _band(_get(result, "energy", "lifecycle"))
        life = None if a is None or b is None else not overlap(a, b)
    return step, life


def _int(value: Any) -> int | None:
    n = _num(value)
    return None if n is None else int(n)


def _reference(
    run: RunInput, by_id: Mapping[str, RunInput], runs: Sequence[RunInput]
) -> RunInput | None:
    """The baseline a run is compared with: its root ancestor when present, else the latest
    finished baseline on the same device."""
    seen: set[str] = set()
    cur = run
    while cur.parent_run_id and cur.parent_run_id in by_id and cur.run_id not in seen:
        seen.add(cur.run_id)
        cur = by_id[cur.parent_run_id]
    if cur is not run and cur.result is not None:
        return cur
    if run.variant == "baseline" and run.result is not None:
        return run
    same = [
        r
        for r in runs
        if r.variant == "baseline" and r.device == run.device and r.result is not None
    ]
    if not same:
        return None
    return max(same, key=lambda r: str(_get(r.result, "created_at") or r.run_id))


def _sort_key(row: ReportRow) -> tuple[Any, ...]:
    order = VARIANT_ORDER.index(row.variant) if row.variant in VARIANT_ORDER else len(VARIANT_ORDER)
    return (row.lineage_device or row.device, order, row.variant, row.device, row.run_id)


def build_rows(runs: Iterable[RunInput]) -> list[ReportRow]:
    """One row per run, sorted by device then variant, with reductions against each run's baseline."""
    runs = list(runs)
    by_id = {r.run_id: r for r in runs}
    rows = []
    for run in runs:
        fields = _base_row(run)
        ref = _reference(run, by_id, runs)
        if ref is not None and run.result is not None:
            ref_row = _base_row(ref)
            fields["baseline_run_id"] = ref.run_id
            fields["lineage_device"] = ref_row["device"]
            if ref_row["device"] != fields["device"]:
                # e.g. INT8 made on the CPU from a model trained on the GPU
                fields["device"] = f"{fields['device']} (from {ref_row['device']} baseline)"
            fields["reduction_step_pct"] = reduction_pct(
                ref_row["co2_step_kg"], fields["co2_step_kg"]
            )
            fields["reduction_lifecycle_pct"] = reduction_pct(
                ref_row["co2_lifecycle_kg"], fields["co2_lifecycle_kg"]
            )
            if ref.run_id != run.run_id:
                step, life = _distinct(run.result, ref.result, by_id)
                fields["distinguishable_step"], fields["distinguishable_lifecycle"] = step, life
        if run.result is not None:
            fields["lineage_figures"] = _lineage_figures(run.result, by_id)
        fields["efficiency_step"] = efficiency(fields["accuracy_pct"], fields["co2_step_kg"])
        fields["efficiency_lifecycle"] = efficiency(
            fields["accuracy_pct"], fields["co2_lifecycle_kg"]
        )
        rows.append(ReportRow(**fields))
    return sorted(rows, key=_sort_key)
