// A study's charts, as greenai report draws them but interactive: accuracy and CO2 per run, and
// accuracy against lifecycle CO2 with the Pareto front. Data from /api/study (reports.chartdata).
"use strict";

(async () => {
  const g = greenai;
  const group = document.getElementById("study").dataset.group;
  const data = await g.getJSON("/api/study?group=" + encodeURIComponent(group));

  // The uncertainty band of each figure (greenai.uncertainty), as plotly's asymmetric error bars.
  // A figure without a band (a result from before bands) gets no bar (NaN: plotly skips it), not a
  // zero-length one that would read as an exact figure.
  const errBars = (values, bands) => (bands && bands.some((b) => b)) ? {
    type: "data", symmetric: false, color: "#455a64", thickness: 1,
    array: values.map((v, i) => (bands[i] && v != null ? Math.max(0, bands[i][1] - v) : NaN)),
    arrayminus: values.map((v, i) => (bands[i] && v != null ? Math.max(0, v - bands[i][0]) : NaN)),
  } : undefined;

  const comp = data.comparison;
  if (comp) {
    // Two runs may share a label; plotly merges equal category names, so make each unique.
    const seen = {};
    const cats = comp.labels.map((l) => {
      const label = g.plain(l.replace("\n", " "));
      seen[label] = (seen[label] || 0) + 1;
      return seen[label] > 1 ? label + " (" + seen[label] + ")" : label;
    });
    const hover = comp.run_ids.map((id) => g.plain(id));
    g.draw("chart-comparison", [
      { type: "bar", x: cats, y: comp.co2_step_kg, name: "CO₂ of the step (kg)", text: hover,
        error_y: errBars(comp.co2_step_kg, comp.co2_step_band),
        hovertemplate: "%{text}<br>%{y:.3g} kg<extra></extra>", textposition: "none", marker: { color: "#6a9e3f" } },
      { type: "bar", x: cats, y: comp.co2_lifecycle_kg, name: "lifecycle CO₂ (kg)", text: hover,
        error_y: errBars(comp.co2_lifecycle_kg, comp.co2_lifecycle_band),
        hovertemplate: "%{text}<br>%{y:.3g} kg<extra></extra>", textposition: "none", marker: { color: "#b8d8a0" } },
      { type: "scatter", mode: "markers", x: cats, y: comp.accuracy_pct, name: "accuracy (%, right axis)",
        yaxis: "y2", text: hover, hovertemplate: "%{text}<br>%{y:.2f} %<extra></extra>",
        marker: { size: 11, color: "#2b7bb9", symbol: "diamond" } },
    ], g.layout("Accuracy and CO₂ per run", {
      hovermode: "closest", barmode: "group",
      xaxis: { automargin: true, tickangle: -30 },
      yaxis: { title: { text: "kg CO₂e" }, rangemode: "tozero" },
      yaxis2: { title: { text: "accuracy (%)" }, overlaying: "y", side: "right" },
      legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom" },
      margin: { l: 64, r: 64, t: 64, b: 40 },
    }));
  }

  const par = data.pareto;
  if (par) {
    const idx = par.labels.map((_, i) => i);
    const onFront = new Set(par.front);
    const rest = idx.filter((i) => !onFront.has(i));
    const text = (ids) => ids.map((i) => g.plain(par.labels[i]) + "<br>" + g.plain(par.run_ids[i]));
    const template = "%{text}<br>%{x:.3g} kg CO₂e · %{y:.2f} %<extra></extra>";
    g.draw("chart-pareto", [
      { type: "scatter", mode: "markers", name: "dominated", x: rest.map((i) => par.co2_lifecycle_kg[i]),
        y: rest.map((i) => par.accuracy_pct[i]), text: text(rest), hovertemplate: template,
        error_x: errBars(rest.map((i) => par.co2_lifecycle_kg[i]), par.co2_band && rest.map((i) => par.co2_band[i])),
        marker: { size: 10, color: "#b0bec5" } },
      { type: "scatter", mode: "lines+markers", name: "Pareto front", line: { shape: "hv", color: "#2e7d32" },
        x: par.front.map((i) => par.co2_lifecycle_kg[i]), y: par.front.map((i) => par.accuracy_pct[i]),
        text: text(par.front), hovertemplate: template, marker: { size: 12, color: "#2e7d32" },
        error_x: errBars(par.front.map((i) => par.co2_lifecycle_kg[i]), par.co2_band && par.front.map((i) => par.co2_band[i])) },
    ], g.layout("Accuracy vs lifecycle CO₂ (Pareto front)", {
      hovermode: "closest",
      xaxis: { title: { text: "lifecycle CO₂ (kg CO₂e)" } },
      yaxis: { title: { text: "test accuracy (%)" } },
      legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom" },
      margin: { l: 64, r: 24, t: 64, b: 48 },
    }));
  }
})();
