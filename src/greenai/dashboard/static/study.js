// A study's comparison charts, drawn from /api/study.
"use strict";

(async () => {
  const g = greenai;
  const group = document.getElementById("study").dataset.group;
  const data = await g.getJSON("/api/study?group=" + encodeURIComponent(group));
  const rows = data.rows;
  const labels = rows.map((r) => g.plain(r.variant && r.variant !== r.name ? r.name + " (" + r.variant + ")" : r.name));
  // Two runs may share a label; plotly merges equal category names, so make each unique.
  const seen = {};
  const cats = labels.map((l) => { seen[l] = (seen[l] || 0) + 1; return seen[l] > 1 ? l + " (" + seen[l] + ")" : l; });
  const bar = { type: "bar", x: cats };
  // Labels slant down-left from their bar so that long names never squeeze the plot from the right.
  const axes = () => ({ hovermode: "closest", xaxis: { automargin: true, tickangle: -30 },
    legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom" }, margin: { l: 64, r: 24, t: 64, b: 40 } });

  g.draw("chart-energy", [
    Object.assign({}, bar, { y: rows.map((r) => r.energy_kwh), name: "this step", marker: { color: "#2b7bb9" } }),
    Object.assign({}, bar, { y: rows.map((r) => r.lifecycle_energy_kwh), name: "lifecycle (with ancestors)", marker: { color: "#9ecae1" } }),
  ], g.layout("Energy per run (kWh)", Object.assign({ barmode: "group", yaxis: { title: { text: "kWh" } } }, axes())));

  g.draw("chart-co2", [
    Object.assign({}, bar, { y: rows.map((r) => r.co2_kg), name: "this step", marker: { color: "#6a9e3f" } }),
    Object.assign({}, bar, { y: rows.map((r) => r.lifecycle_co2_kg), name: "lifecycle (with ancestors)", marker: { color: "#b8d8a0" } }),
  ], g.layout("CO₂ per run (kg)", Object.assign({ barmode: "group", yaxis: { title: { text: "kg CO₂" } } }, axes())));

  const scored = rows.filter((r) => r.accuracy_pct !== null && r.energy_kwh !== null);
  // Room around the points so that their labels stay inside the plot.
  const maxE = Math.max(...scored.map((r) => r.energy_kwh), 0) || 1;
  const accs = scored.map((r) => r.accuracy_pct);
  const accPad = Math.max((Math.max(...accs) - Math.min(...accs)) * 0.15, 0.5);
  g.draw("chart-tradeoff", [{
    type: "scatter", mode: "markers+text", cliponaxis: false,
    x: scored.map((r) => r.energy_kwh), y: scored.map((r) => r.accuracy_pct),
    text: scored.map((r) => g.plain(r.variant || r.name)), textposition: "top center",
    marker: { size: 12, color: "#2b7bb9" }, name: "runs",
  }], g.layout("Accuracy vs energy", Object.assign(axes(), {
    xaxis: { title: { text: "energy of the run (kWh)" }, range: [-0.12 * maxE, 1.15 * maxE], zeroline: false },
    yaxis: { title: { text: "test accuracy (%)" }, range: [Math.min(...accs) - accPad, Math.max(...accs) + accPad] }, showlegend: false, margin: { l: 64, r: 64, t: 64, b: 48 },
  })));
})();
