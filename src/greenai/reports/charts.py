"""Renderers: draw the data computed in ``chartdata`` as PNG bytes (matplotlib, Agg, imported lazily).

Every chart has a fixed pixel size (``SIZES``) so the HTML report and tests can rely on it.
"""

from __future__ import annotations

import io
from typing import Any

from greenai.errors import MissingExtraError
from greenai.reports.chartdata import ComparisonData, EpochData, ParetoData, PowerData

DPI = 100
SIZES = {  # chart name -> (width px, height px)
    "comparison": (1200, 550),
    "pareto": (900, 600),
    "power": (1100, 450),
    "epochs": (1200, 450),
}
_COMPONENT_COLOURS = {"cpu": "tab:blue", "gpu": "tab:green", "ram": "tab:purple"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise MissingExtraError("matplotlib", "report") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _figure(name: str, ncols: int = 1) -> tuple[Any, Any]:
    plt = _pyplot()
    w, h = SIZES[name]
    fig, axes = plt.subplots(1, ncols, figsize=(w / DPI, h / DPI), dpi=DPI, layout="constrained")
    return fig, axes


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    _pyplot().close(fig)
    return buf.getvalue()


def co2_unit(values: list[float]) -> tuple[str, float]:
    """A CO2 unit that keeps the largest value readable: (name, factor from kg)."""
    top = max((abs(v) for v in values), default=0.0)
    if top >= 0.1:
        return "kg", 1.0
    if top >= 1e-4:
        return "g", 1e3
    return "mg", 1e6


def error_bars(
    values: list[float], bands: tuple[tuple[float, float] | None, ...], k: float
) -> list[list[float]] | None:
    """Matplotlib's asymmetric ``xerr`` ([below], [above]) from (low, high) kg bands scaled by
    ``k``; None when no value has a band (nothing to draw)."""
    if not any(bands):
        return None
    below, above = [], []
    for i, v in enumerate(values):
        b = bands[i] if i < len(bands) else None
        below.append(max(0.0, v - b[0] * k) if b else 0.0)
        above.append(max(0.0, b[1] * k - v) if b else 0.0)
    return [below, above]


def _needs_log(values: list[float]) -> bool:
    positive = [v for v in values if v > 0]
    return len(positive) >= 2 and max(positive) / min(positive) > 100


def comparison_png(data: ComparisonData) -> bytes:
    """Accuracy (left) and step vs lifecycle CO2 (right) per variant, the study's chart.

    Horizontal bars, so that a dozen variants on two devices keep legible names.
    """
    plt = _pyplot()
    w, h = SIZES["comparison"]
    fig, (ax_acc, ax_co2) = plt.subplots(
        1, 2, figsize=(w / DPI, h / DPI), dpi=DPI, layout="constrained", sharey=True
    )
    n = len(data.labels)
    y = list(range(n))
    font = 9 if n <= 8 else 7
    bars = ax_acc.barh(y, data.accuracy_pct, color="tab:blue")
    ax_acc.bar_label(bars, fmt="%.1f%%", fontsize=font, padding=2)
    ax_acc.set_xlim(0, 110)
    ax_acc.set_xlabel("Test accuracy (%)")
    ax_acc.set_title("Accuracy per variant", pad=22)
    ax_acc.set_yticks(y, [label.replace("\n", " · ") for label in data.labels], fontsize=font)
    ax_acc.invert_yaxis()

    height = 0.4
    unit, k = co2_unit([*data.co2_step_kg, *(v or 0.0 for v in data.co2_lifecycle_kg)])
    step = [v * k for v in data.co2_step_kg]
    life = [v * k if v is not None else 0.0 for v in data.co2_lifecycle_kg]
    bar_err = {"ecolor": "black", "capsize": 3, "error_kw": {"elinewidth": 0.8}}
    step_bars = ax_co2.barh(
        [i - height / 2 for i in y], step, height, label="this step only",
        xerr=error_bars(step, data.co2_step_band, k), **bar_err,
    )  # fmt: skip
    life_bars = ax_co2.barh(
        [i + height / 2 for i in y], life, height, label="lifecycle (incl. parents)",
        color="tab:red", xerr=error_bars(life, data.co2_lifecycle_band, k), **bar_err,
    )  # fmt: skip
    ax_co2.bar_label(step_bars, fmt="%.2g", fontsize=font - 1, padding=2)
    ax_co2.bar_label(life_bars, fmt="%.2g", fontsize=font - 1, padding=2)
    log = _needs_log(step + life)
    if log:
        ax_co2.set_xscale("log")
    ax_co2.margins(x=0.15)
    ax_co2.set_xlabel(f"CO2 ({unit}" + (", log scale)" if log else ")"))
    title = "CO2 per variant: the step alone vs its whole lifecycle"
    if any(data.co2_step_band) or any(data.co2_lifecycle_band):
        title += "\n(error bars: the uncertainty band, low to high)"
    ax_co2.set_title(title, pad=22)
    ax_co2.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)
    for ax in (ax_acc, ax_co2):
        ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def pareto_png(data: ParetoData) -> bytes:
    """Accuracy vs lifecycle CO2, the Pareto front drawn as a line through its points."""
    fig, ax = _figure("pareto")
    unit, k = co2_unit(list(data.co2_lifecycle_kg))
    xerr = error_bars([v * k for v in data.co2_lifecycle_kg], data.co2_band, k)
    data = data._replace(co2_lifecycle_kg=tuple(v * k for v in data.co2_lifecycle_kg))
    if xerr is not None:  # the uncertainty band of each point's lifecycle CO2
        ax.errorbar(
            data.co2_lifecycle_kg, data.accuracy_pct, xerr=xerr, fmt="none", ecolor="tab:gray",
            elinewidth=1, capsize=4, zorder=1, label="uncertainty band",
        )  # fmt: skip
    on_front = set(data.front)
    others = [i for i in range(len(data.labels)) if i not in on_front]
    ax.scatter(
        [data.co2_lifecycle_kg[i] for i in others],
        [data.accuracy_pct[i] for i in others],
        color="tab:gray",
        s=40,
        label="dominated",
    )
    fx = [data.co2_lifecycle_kg[i] for i in data.front]
    fy = [data.accuracy_pct[i] for i in data.front]
    ax.plot(
        fx, fy, "-o", color="tab:red", markersize=8, label="Pareto front", drawstyle="steps-post"
    )
    ax.scatter(fx, fy, color="tab:red", s=60, zorder=3)
    if _needs_log(list(data.co2_lifecycle_kg)):
        ax.set_xscale("log")
        ax.set_xlabel(f"Lifecycle CO2 ({unit}, log scale) — lower is better")
    else:
        ax.set_xlabel(f"Lifecycle CO2 ({unit}) — lower is better")
    ax.set_ylabel("Test accuracy (%) — higher is better")
    ax.set_title("Accuracy vs lifecycle CO2 (red: Pareto front)")
    ax.margins(x=0.2, y=0.12)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    _label_points(fig, ax, data)
    return _png(fig)


def _label_points(fig: Any, ax: Any, data: ParetoData) -> None:
    """Name each point, choosing for each label the first nearby spot (measured on the drawn
    figure) that stays inside the axes and covers no label placed before it."""
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()  # fixes the layout, so the positions measured below are final
    offsets = [
        (7, 5, "left"),
        (7, -13, "left"),
        (-7, 5, "right"),
        (-7, -13, "right"),
        (7, 15, "left"),
    ]
    taken: list[tuple[float, float, float, float]] = []
    order = sorted(range(len(data.labels)), key=lambda i: -data.accuracy_pct[i])
    frame = ax.get_window_extent(renderer)
    for i in order:
        ann = ax.annotate(
            data.labels[i],
            (data.co2_lifecycle_kg[i], data.accuracy_pct[i]),
            textcoords="offset points",
            xytext=offsets[0][:2],
            ha=offsets[0][2],
            fontsize=8,
        )
        for dx, dy, ha in offsets:
            ann.set_position((dx, dy))
            ann.set_horizontalalignment(ha)
            e = ann.get_window_extent(renderer)
            box = (e.x0, e.y0, e.x1, e.y1)
            inside = frame.x0 <= e.x0 and e.x1 <= frame.x1 and frame.y0 <= e.y0 and e.y1 <= frame.y1
            if inside and not any(_overlap(box, other) for other in taken):
                break
        else:
            ann.set_position(offsets[0][:2])
            ann.set_horizontalalignment(offsets[0][2])
            e = ann.get_window_extent(renderer)
            box = (e.x0, e.y0, e.x1, e.y1)
        taken.append(box)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def power_png(data: PowerData) -> bytes:
    """Power per component over the run, top-level phases shaded and named."""
    fig, ax = _figure("power")
    shades = ("#fde9c9", "#d9ecf7", "#e3f3dc", "#f3dcea")
    for k, ph in enumerate(data.phases):
        ax.axvspan(ph.start_s, ph.end_s, color=shades[k % len(shades)], alpha=0.8, lw=0)
        ax.text(
            (ph.start_s + ph.end_s) / 2,
            1.0,
            ph.path,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    for comp, vals in data.power_w.items():
        # each sample is the mean power over the interval that ends at its time
        ax.plot(
            data.elapsed_s, vals, label=comp.upper(), color=_COMPONENT_COLOURS.get(comp),
            drawstyle="steps-pre",
        )  # fmt: skip
    ax.set_xlabel("Time since start of run (s)")
    ax.set_ylabel("Power (W, mean per sampling interval)")
    ax.set_ylim(bottom=0)
    ax.set_title(data.title, pad=16)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return _png(fig)


def epochs_png(data: EpochData) -> bytes:
    """Per-epoch test accuracy (left) and loss (right), one line per run."""
    from matplotlib.ticker import MaxNLocator

    fig, (ax_acc, ax_loss) = _figure("epochs", ncols=2)
    epochs = sorted({e for c in data.curves for e in c.epochs})
    for curve in data.curves:
        for ax, ys in ((ax_acc, curve.accuracy_pct), (ax_loss, curve.loss)):
            pts = [(e, y) for e, y in zip(curve.epochs, ys, strict=True) if y is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), "-o", markersize=3, label=curve.label)
    ax_acc.set_title(f"Accuracy per epoch ({data.accuracy_key or 'n/a'})")
    ax_acc.set_ylabel("Accuracy (%)")
    ax_loss.set_title(f"Loss per epoch ({data.loss_key or 'n/a'})")
    ax_loss.set_ylabel("Loss")
    for ax in (ax_acc, ax_loss):
        ax.set_xlabel("Epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if len(epochs) == 1:  # a single epoch: centre it, no fractional ticks
            ax.set_xticks(epochs)
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
    return _png(fig)
