"""The "variant × runtime" table and chart: every variant's inference figures on each deployment
runtime it was measured on (the result's ``inference.runtimes``, ``lifecycle.inference``), the one
whose figures the variant takes marked, and the main table's inference and break-even cells naming
that runtime. Results without ``runtimes`` (older ones, ``--runtimes pytorch``) add nothing here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from greenai.reports.cells import NA, pct, sig
from greenai.reports.inputs import RunInput
from greenai.reports.rows import ReportRow
from greenai.reports.table import LIFECYCLE_HEADERS, Table

CHART_NAME = "runtime_chart.png"
CHART_CAPTION = "Inference throughput per variant on each runtime"
CHART_SIZE = (1200, 550)  # px, like the comparison chart
TITLE = "Variant × runtime (inference)"
# column order: the runtimes greenai knows (greenai.ml.runtimes, not imported: it imports torch),
# then any other name alphabetically
ORDER = (
    "pytorch_eager", "pytorch_compiled", "onnxruntime", "openvino", "openvino_qdq", "executorch",
)  # fmt: skip
CHOSEN, FASTEST = " (chosen)", " ★"
_INFERENCE = LIFECYCLE_HEADERS.index("Inference (J / 1,000 img)")
_BREAK_EVEN = LIFECYCLE_HEADERS.index("Break-even (inferences)")


class RuntimeData(NamedTuple):
    """Per variant (a report row whose result has ``inference.runtimes``), per runtime column."""

    labels: tuple[str, ...]  # "Model Type [Device]"
    rows: tuple[ReportRow, ...]
    names: tuple[str, ...]  # runtime names, the columns
    headers: tuple[str, ...]  # their display labels
    figures: tuple[tuple[Mapping[str, Any] | None, ...], ...]  # [variant][runtime]; None: not run
    skipped: tuple[tuple[str | None, ...], ...]  # [variant][runtime]: why not run
    chosen: tuple[str, ...]  # per variant, the runtime its figures are taken from
    choice: tuple[str, ...]  # per variant, why that one


def _inference(run: RunInput | None) -> Mapping[str, Any]:
    inf = (run.result or {}).get("inference") if run is not None else None
    return inf if isinstance(inf, Mapping) else {}


def runtime_label(inference: Mapping[str, Any]) -> str | None:
    """The display name of the runtime a result's inference figures are from; None when the result
    predates the runtime layer (its figures are its own PyTorch predictor's)."""
    name = inference.get("runtime")
    if not name:
        return None
    entry = (inference.get("runtimes") or {}).get(name) or {}
    return str(entry.get("label") or str(inference.get("setting") or name).split(":")[0])


def runtime_data(runs: Sequence[RunInput], rows: Sequence[ReportRow]) -> RuntimeData | None:
    """What the table and the chart show, in the report's row order; None when no finished run
    was measured on the runtimes."""
    by_id = {run.run_id: run for run in runs}
    shown = [r for r in rows if r.ok and _inference(by_id.get(r.run_id)).get("runtimes")]
    if not shown:
        return None
    infs = [_inference(by_id[r.run_id]) for r in shown]
    labels: dict[str, str] = {}
    for inf in infs:
        for name, entry in inf["runtimes"].items():
            labels.setdefault(name, str(entry.get("label") or name))
        for name in inf.get("runtimes_skipped") or {}:
            labels.setdefault(name, name)
    names = sorted(labels, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return RuntimeData(
        labels=tuple(r.label for r in shown),
        rows=tuple(shown),
        names=tuple(names),
        headers=tuple(labels[n] for n in names),
        figures=tuple(tuple(inf["runtimes"].get(n) for n in names) for inf in infs),
        skipped=tuple(
            tuple((inf.get("runtimes_skipped") or {}).get(n) for n in names) for inf in infs
        ),
        chosen=tuple(str(inf.get("runtime")) for inf in infs),
        choice=tuple(str(inf.get("runtime_choice") or NA) for inf in infs),
    )


def _fastest(data: RuntimeData) -> tuple[int, int] | None:
    """(variant, runtime) of the highest throughput at batch 256 in the whole table."""
    cells = [(f["throughput_img_s_b256"], i, j) for i, row in enumerate(data.figures)
             for j, f in enumerate(row) if f and f.get("throughput_img_s_b256") is not None]  # fmt: skip
    return max(cells)[1:] if cells else None


def _why_not(data: RuntimeData, i: int, j: int) -> str:
    if data.skipped[i][j]:
        return str(data.skipped[i][j])
    column = [row[j] for row in data.figures if row[j]]
    if column and all(f.get("precision") == "int8" for f in column):
        return "an INT8 route, and this variant is not INT8"
    return "not among the runtimes this variant's run tried"


def _cell(f: Mapping[str, Any]) -> str:
    doubt = "?" if f.get("timing_doubt") else ""
    est = "~" if "estimated" in str(f.get("energy_method") or "") else ""
    return (
        f"{sig(f.get('throughput_img_s_b256'))} img/s{doubt} · {sig(f.get('latency_ms_b1'))} ms · "
        f"{est}{sig(f.get('energy_j_per_1000_images'))} J · {pct(f.get('test_accuracy_pct'))}"
    )


def runtime_table(data: RuntimeData) -> Table:
    """One row per variant, one column per runtime; "-" with a numbered footnote where the
    runtime could not run the variant (``runtimes_skipped``)."""
    fastest = _fastest(data)
    notes: dict[str, int] = {}
    cells = []
    for i, row in enumerate(data.rows):
        line = [row.model_type, row.device]
        for j, name in enumerate(data.names):
            f = data.figures[i][j]
            if f is None:
                k = notes.setdefault(f"{data.headers[j]}: {_why_not(data, i, j)}", len(notes) + 1)
                line.append(f"- [{k}]")
                continue
            mark = CHOSEN if name == data.chosen[i] else ""
            line.append(_cell(f) + mark + (FASTEST if fastest == (i, j) else ""))
        chosen = data.headers[data.names.index(data.chosen[i])] if data.chosen[i] in data.names \
            else data.chosen[i]  # fmt: skip
        line.append(f"{chosen}: {data.choice[i]}")
        cells.append(tuple(line))
    note = (
        "Each cell: throughput at batch 256 (images/s), latency at batch 1 (ms), energy per 1,000 "
        "images (J, grid energy from the meter; ~: estimated in whole or part, see 'How each figure was obtained') "
        "and test accuracy on that runtime (a conversion can change it). ?: timing unsure (wide "
        "spread of the timed calls or a busy machine). (chosen): the runtime whose "
        "figures the variant's other tables use. ★: the fastest at batch 256 in this table."
    )
    if notes:
        note += " Not measured: " + "; ".join(f"[{k}] {why}" for why, k in notes.items()) + "."
    headers = ("Model Type", "Device", *data.headers, "Chosen runtime (why)")
    return Table(TITLE, headers, tuple(cells), note)


def _named(t: Table, runs: Sequence[RunInput], rows: Sequence[ReportRow]) -> Table:
    """The lifecycle table with its inference and break-even cells naming the runtime they come
    from (break-even: the variant's vs its parent's)."""
    by_id = {run.run_id: run for run in runs}
    by_key = {(r.model_type, r.device): r for r in rows if r.ok}  # unique (reports.names)
    cells, named = [], False
    for line in t.cells:
        row = by_key.get((line[0], line[1]))
        run = by_id.get(row.run_id) if row else None
        label = runtime_label(_inference(run))
        if label is None:
            cells.append(line)
            continue
        named, line = True, list(line)
        inf = line[_INFERENCE]
        line[_INFERENCE] = inf.replace(" (on ", f" ({label} on ") if " (on " in inf \
            else f"{inf} ({label})"  # fmt: skip
        if line[_BREAK_EVEN] not in ("—", NA):
            vs = ((run.result or {}).get("break_even") or {}).get("vs_run_id") if run else None
            theirs = runtime_label(_inference(by_id.get(vs))) if vs else None
            line[_BREAK_EVEN] += f" ({label} vs {theirs})" if theirs else f" ({label})"
        cells.append(tuple(line))
    if not named:
        return t
    note = t.note + (
        " Inference and break-even: each variant on its chosen runtime, named in parentheses "
        "(break-even: the variant's runtime vs its parent's); every runtime's figures are in "
        f"'{TITLE}'."
    )
    return dataclasses.replace(t, cells=tuple(cells), note=note)


def with_runtimes(
    tabs: Sequence[Table], runs: Sequence[RunInput], rows: Sequence[ReportRow]
) -> list[Table]:
    """``tabs`` (``table.tables``) with the lifecycle table naming each variant's runtime and the
    variant × runtime table after it; unchanged when no run was measured on the runtimes."""
    data = runtime_data(runs, rows)
    if data is None:
        return list(tabs)
    out = []
    for t in tabs:
        if t.headers != LIFECYCLE_HEADERS:
            out.append(t)
            continue
        out.extend((_named(t, runs, rows), runtime_table(data)))
    return out


def chart_files(
    runs: Sequence[RunInput], rows: Sequence[ReportRow]
) -> list[tuple[str, str, bytes]]:
    """[(file name, caption, PNG)] of the throughput chart, or [] without runtime figures."""
    data = runtime_data(runs, rows)
    return [] if data is None else [(CHART_NAME, CHART_CAPTION, runtimes_png(data))]


def _short(x: float) -> str:
    return f"{x / 1000:.3g}k" if x >= 1000 else f"{x:.3g}"


def runtimes_png(data: RuntimeData) -> bytes:
    """Grouped bars: throughput at batch 256 per variant (groups) and runtime (colours); the
    chosen runtime outlined in black, "n/a" where a runtime could not run a variant. A runtime
    that ran none of them is left out (the table's footnotes say why)."""
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    from greenai.reports.charts import DPI, _needs_log, _png, _pyplot

    plt = _pyplot()
    w, h = CHART_SIZE
    fig, ax = plt.subplots(figsize=(w / DPI, h / DPI), dpi=DPI, layout="constrained")
    cols = [j for j in range(len(data.names)) if any(row[j] for row in data.figures)]
    n, width = len(data.labels), min(0.8 / len(cols), 0.25)  # few runtimes: no slabs
    colours = plt.get_cmap("tab10").colors
    values = [f["throughput_img_s_b256"] for row in data.figures for f in row if f]
    log = _needs_log(values)  # over 100x apart, as the other charts
    font = 8 if n * len(cols) <= 24 else 6
    for k, j in enumerate(cols):
        for i in range(n):
            x, f = i + width * (k + 0.5 - len(cols) / 2), data.figures[i][j]
            if f is None:
                ax.text(x, 0.01, "n/a", transform=ax.get_xaxis_transform(), ha="center",
                        va="bottom", rotation=90, fontsize=font, color="tab:gray")  # fmt: skip
                continue
            chosen = data.names[j] == data.chosen[i]
            bar = ax.bar(x, f["throughput_img_s_b256"], width, color=colours[j % 10],
                         edgecolor="black" if chosen else "none", linewidth=2 if chosen else 0)  # fmt: skip
            ax.bar_label(bar, labels=[_short(f["throughput_img_s_b256"])], fontsize=font, padding=2)
    ax.set_xticks(range(n), list(data.labels), fontsize=9 if n <= 6 else 7)
    ax.set_xlim(-0.5, n - 0.5)
    if log:
        ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.margins(y=0.12)
    ax.set_ylabel("Images per second at batch 256" + (" (log scale)" if log else ""))
    ax.set_title("Inference throughput per variant and runtime (higher is better)", pad=26)
    handles = [Patch(color=colours[j % 10], label=data.headers[j]) for j in cols]
    handles.append(Patch(facecolor="white", edgecolor="black", linewidth=2, label="chosen runtime"))
    ax.legend(handles=handles, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0),
              ncols=min(len(handles), 6), frameon=False)  # fmt: skip
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
