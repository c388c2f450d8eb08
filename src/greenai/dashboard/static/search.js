// A search's Pareto view (accuracy vs energy), drawn from /api/search.
"use strict";

(async () => {
  const g = greenai;
  const group = document.getElementById("search").dataset.group;
  const data = await g.getJSON("/api/search?group=" + encodeURIComponent(group));
  const hover = (p) => g.plain(p.name) + "<br>" +
    Object.entries(p.params).map(([k, v]) => g.plain(k + "=" + v)).join("<br>");
  const front = data.points.filter((p) => p.on_front).sort((a, b) => a.energy_kwh - b.energy_kwh);
  const rest = data.points.filter((p) => !p.on_front);
  g.draw("chart-pareto", [
    { type: "scatter", mode: "markers", name: "dominated trials",
      x: rest.map((p) => p.energy_kwh), y: rest.map((p) => p.accuracy_pct), text: rest.map(hover),
      hovertemplate: "%{text}<br>%{x:.4g} kWh · %{y:.2f} %<extra></extra>",
      marker: { size: 9, color: "#b0bec5" } },
    { type: "scatter", mode: "lines+markers", name: "Pareto front", line: { shape: "hv", color: "#2e7d32" },
      x: front.map((p) => p.energy_kwh), y: front.map((p) => p.accuracy_pct), text: front.map(hover),
      hovertemplate: "%{text}<br>%{x:.4g} kWh · %{y:.2f} %<extra></extra>",
      marker: { size: 12, color: "#2e7d32" } },
  ], g.layout("Accuracy vs energy of the search's trials", {
    hovermode: "closest",
    xaxis: { title: { text: "energy of the trial (kWh)" } },
    yaxis: { title: { text: "test accuracy (%)" } },
  }));
})();
