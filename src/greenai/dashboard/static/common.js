// Shared helpers of the dashboard pages. Text from the store only ever reaches the page through
// textContent, and reaches charts through plain(), which escapes plotly's pseudo-HTML.
"use strict";

const greenai = (() => {
  const COLORS = { cpu: "#2b7bb9", gpu: "#d9822b", ram: "#6a9e3f" };
  const PALETTE = ["#2b7bb9", "#d9822b", "#6a9e3f", "#9b59b6", "#c0392b", "#16a085", "#7f8c8d"];

  function plain(text) {
    // Plotly renders <b>, <br>, <a> and entities in names and labels; show store text as typed.
    return String(text ?? "")
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;");
  }

  function setText(id, text) {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "—";
    return value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
  }

  function fmtEnergy(kwh) {
    if (kwh === null || kwh === undefined) return "—";
    if (kwh < 1e-3) return fmt(kwh * 3.6e6, 1) + " J";
    if (kwh < 1) return fmt(kwh * 1000, 2) + " Wh";
    return fmt(kwh, 3) + " kWh";
  }

  function fmtCo2(kg) {
    if (kg === null || kg === undefined) return "—";
    if (kg < 1e-3) return fmt(kg * 1e6, 1) + " mg";
    if (kg < 1) return fmt(kg * 1000, 2) + " g";
    return fmt(kg, 3) + " kg";
  }

  function fmtDuration(s) {
    if (s === null || s === undefined) return "—";
    const total = Math.round(s);
    const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), sec = total % 60;
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + sec + " s";
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }

  function layout(title, extra) {
    // The title is drawn above the plot as a heading (see draw), not inside it: plotly's toolbar
    // sits in the plot's top margin and covered titles there.
    return Object.assign(
      {
        heading: String(title ?? ""),
        margin: { l: 64, r: 64, t: 36, b: 40 },
        paper_bgcolor: "#ffffff",
        plot_bgcolor: "#ffffff",
        font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#263238" },
        legend: { orientation: "h", x: 0, y: -0.32, yanchor: "top" },
        hovermode: "x unified",
      },
      extra || {}
    );
  }

  function heading(el, text) {
    // Wrap the chart once in a box holding its title (textContent: store text stays text).
    let box = el.parentElement;
    if (!box.classList.contains("chart-box")) {
      box = document.createElement("div");
      box.className = "chart-box";
      el.parentElement.insertBefore(box, el);
      const h = document.createElement("h3");
      h.className = "chart-title";
      box.appendChild(h);
      box.appendChild(el);
    }
    box.querySelector(".chart-title").textContent = text;
  }

  function draw(id, traces, lay) {
    const el = document.getElementById(id);
    if (!el || typeof Plotly === "undefined") return;
    const { heading: title, ...rest } = lay;
    if (title) heading(el, title);
    Plotly.react(el, traces, rest, { displaylogo: false, responsive: true });
  }

  function color(name, i) {
    return COLORS[name] || PALETTE[i % PALETTE.length];
  }

  return { plain, setText, fmt, fmtEnergy, fmtCo2, fmtDuration, getJSON, layout, draw, color, PALETTE };
})();
