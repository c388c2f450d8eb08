// The live view of one run: polls /api/runs/<id>/live every 2 s while the run is running.
"use strict";

(() => {
  const POLL_MS = 2000;
  const root = document.getElementById("live");
  const runId = root.dataset.runId;
  const url = "/api/runs/" + encodeURIComponent(runId) + "/live";
  const g = greenai;

  function accuracyKey(metrics) {
    for (const k of ["test_acc", "test_accuracy_pct", "val_acc", "accuracy", "train_acc"]) {
      if (k in metrics) return k;
    }
    return Object.keys(metrics).find((k) => k.includes("acc"));
  }

  // How the plotted power was obtained: "estimated" when any plotted component is, "" when all are
  // measured, "?" while the run has not said (its methods are recorded when it ends).
  function howObtained(methods, components) {
    if (!methods) return "?";
    const est = components.filter((c) => String(methods[c] || "").startsWith("estimated"));
    if (!est.length) return "";
    return est.length === components.length ? "all" : est.join(", ");
  }

  function render(data) {
    const run = data.run, s = data.samples, latest = data.latest, ep = data.epochs;
    const status = document.getElementById("run-status");
    status.textContent = run.status;
    status.className = "status status-" + run.status;

    const parts = Object.entries(latest.power_w || {});
    const total = parts.reduce((acc, [, w]) => acc + (w || 0), 0);
    g.setText("v-elapsed", g.fmtDuration(latest.elapsed_s ?? run.duration_s));
    g.setText("v-power", parts.length ? g.fmt(total, 1) + " W" : "—");
    g.setText("v-power-parts", parts.map(([c, w]) => c + " " + g.fmt(w, 1) + " W").join(" · "));
    g.setText("v-energy", g.fmtEnergy(latest.energy_kwh));
    g.setText("v-co2", g.fmtCo2(latest.co2_kg));
    g.setText("v-samples", String(s.count));
    g.setText("v-phase", latest.phase ? "phase " + latest.phase : "");

    const accKey = accuracyKey(ep.metrics);
    const accs = accKey ? ep.metrics[accKey] : [];
    g.setText("v-acc", accs.length ? g.fmt(accs[accs.length - 1], 2) + " %" : "—");
    const pr = data.prediction;  // the latest epoch's predicted totals, the actual once finished
    g.setText("v-pred", pr ? g.fmtEnergy(pr.energy_kwh) : "—");
    g.setText("v-pred-sub", !pr ? "after the first epoch" : "after epoch " + pr.after_epoch
      + (pr.energy_low_kwh != null ? " [" + g.fmtEnergy(pr.energy_low_kwh) + ", "
        + g.fmtEnergy(pr.energy_high_kwh) + "]" : "") + " · CO₂ " + g.fmtCo2(pr.co2_kg)
      + (pr.actual ? " · actual " + g.fmtEnergy(pr.actual.energy_kwh) : ""));
    g.setText("v-epoch", ep.epoch.length ? "epoch " + ep.epoch[ep.epoch.length - 1] + " (" + accKey + ")" : "");

    const how = howObtained(run.power_methods, Object.keys(s.power_w));
    const estWord = how === "?" ? "(measured or estimated: recorded when the run ends)"
      : how === "all" ? "(ESTIMATED)" : how ? "(" + how + " ESTIMATED)" : "(measured)";
    for (const id of ["v-power-how", "v-energy-how"]) {
      g.setText(id, estWord);
      document.getElementById(id).className = how && how !== "?" ? "estimated" : "muted";
    }
    const cpu = run.power_methods && run.power_methods.cpu;
    g.setText("v-methods", cpu ? "cpu: " + cpu.split(" (")[0] : "");

    const powerTraces = Object.entries(s.power_w).map(([c, ys], i) => ({
      x: s.elapsed_s, y: ys, name: g.plain(c), type: "scatter", mode: "lines",
      line: { color: g.color(c, i), width: 2 }, stackgroup: "power",
    }));
    const powerTitle = "Power per component (W, stacked)" + (how && how !== "?" ? ", " + estWord.slice(1, -1) : "");
    g.draw("chart-power", powerTraces, g.layout(powerTitle, {
      xaxis: { title: { text: "elapsed (s)" } }, yaxis: { title: { text: "W" }, rangemode: "tozero" },
    }));

    g.draw("chart-energy", [
      { x: s.elapsed_s, y: s.energy_kwh.map((v) => v * 1000), name: "energy (Wh, before PUE)",
        type: "scatter", mode: "lines", fill: "tozeroy", fillcolor: "rgba(43,123,185,0.18)",
        line: { color: "#2b7bb9", width: 2 } },
      { x: s.elapsed_s, y: s.co2_kg.map((v) => v * 1000), name: "CO₂ (g, right axis)", yaxis: "y2",
        type: "scatter", mode: "lines", line: { color: "#2e7d32", width: 2, dash: "dash" } },
    ], g.layout("Cumulative energy and CO₂", {
      xaxis: { title: { text: "elapsed (s)" } },
      yaxis: { title: { text: "Wh" }, rangemode: "tozero" },
      yaxis2: { title: { text: "g CO₂" }, overlaying: "y", side: "right", rangemode: "tozero" },
    }));

    const lossKeys = Object.keys(ep.metrics).filter((k) => k.includes("loss"));
    const epochTraces = lossKeys.map((k, i) => ({
      x: ep.epoch, y: ep.metrics[k], name: g.plain(k), type: "scatter", mode: "lines+markers",
      line: { color: g.PALETTE[(i + 3) % g.PALETTE.length] },
    }));
    if (accKey) {
      epochTraces.push({ x: ep.epoch, y: accs, name: g.plain(accKey + " (%)"), yaxis: "y2",
        type: "scatter", mode: "lines+markers", line: { color: "#6a9e3f", width: 3 } });
    }
    g.draw("chart-epochs", epochTraces, g.layout("Epochs: loss and accuracy", {
      xaxis: { title: { text: "epoch" }, dtick: 1 },
      yaxis: { title: { text: "loss" }, rangemode: "tozero" },
      yaxis2: { title: { text: "accuracy (%)" }, overlaying: "y", side: "right", tickformat: ".1f" },
    }));
    return run.status === "running";
  }

  async function tick() {
    let again = true;
    try {
      again = render(await g.getJSON(url));
      g.setText("live-note", again
        ? "Live: updating every 2 s · last update " + new Date().toLocaleTimeString()
        : "The run is no longer running; the figures are final.");
    } catch (err) {
      g.setText("live-note", "Update failed (" + err.message + "); retrying.");
    }
    if (again) setTimeout(tick, POLL_MS);
  }
  tick();
})();
