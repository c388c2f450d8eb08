// A search's Pareto view: per trial, the final model's accuracy against its lifecycle cost (the
// study's objective), drawn from /api/search.
"use strict";

(async () => {
  const g = greenai;
  const root = document.getElementById("search");
  const url = "/api/search?group=" + encodeURIComponent(root.dataset.group) +
    "&objective=" + encodeURIComponent(root.dataset.objective);
  const data = await g.getJSON(url);
  const unit = data.cost_unit;
  const hover = (p) => g.plain(p.name + " · final: " + (p.final_variant || "")) + "<br>" +
    Object.entries(p.params).map(([k, v]) => g.plain(k + "=" + v)).join("<br>");
  const template = "%{text}<br>%{x:.4g} " + g.plain(unit) + " · %{y:.2f} %<extra></extra>";
  const front = data.points.filter((p) => p.on_front).sort((a, b) => a.cost - b.cost);
  const rest = data.points.filter((p) => !p.on_front);
  g.draw("chart-pareto", [
    { type: "scatter", mode: "markers", name: "dominated trials",
      x: rest.map((p) => p.cost), y: rest.map((p) => p.accuracy_pct), text: rest.map(hover),
      hovertemplate: template, marker: { size: 9, color: "#b0bec5" } },
    { type: "scatter", mode: "lines+markers", name: "Pareto front", line: { shape: "hv", color: "#2e7d32" },
      x: front.map((p) => p.cost), y: front.map((p) => p.accuracy_pct), text: front.map(hover),
      hovertemplate: template, marker: { size: 12, color: "#2e7d32" } },
  ], g.layout("Final model's accuracy vs " + data.cost_label, {
    hovermode: "closest",
    xaxis: { title: { text: g.plain(data.cost_label) } },
    yaxis: { title: { text: "test accuracy (%)" } },
  }));
})();
