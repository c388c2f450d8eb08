"""The runtimes a model's inference was measured on, as the terminal and the report show them
(the figures come from ``lifecycle.inference``; no torch here)."""

from __future__ import annotations

from typing import Any


def runtime_lines(inference: dict[str, Any]) -> list[str]:
    """Terminal lines naming each runtime's throughput, the chosen one, and those skipped."""
    rows = inference.get("runtimes") or {}
    if not rows:
        return []
    chosen = inference.get("runtime")
    parts = []
    for name, r in sorted(rows.items(), key=lambda kv: -kv[1]["throughput_img_s_b256"]):
        mark = " (chosen)" if name == chosen else ""
        parts.append(
            f"{name} {r['throughput_img_s_b256']:,.0f} img/s, {r['latency_ms_b1']:.2f} ms, "
            f"{r['test_accuracy_pct']:.2f}%{mark}"
        )
    lines = [f"  runtimes ({inference.get('runtime_choice')}): " + "; ".join(parts)]
    skipped = inference.get("runtimes_skipped") or {}
    if skipped:
        lines.append("  not measured: " + "; ".join(f"{n}: {why}" for n, why in skipped.items()))
    return lines
