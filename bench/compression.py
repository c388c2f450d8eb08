"""Compression variants of seed_cnn on CIFAR-10: accuracy change, file size and throughput vs FP32.

    .venv/bin/python bench/compression.py --epochs 3 [--from CHECKPOINT] [--rounds 9]

Trains seed_cnn for a few epochs (or loads ``--from``), builds the variants, then times every
variant's batch-256 throughput round-robin (interleaved, so the shared machine's drift hits all
alike; each round one untimed call, then ``--calls`` timed ones) and reports medians. Ratios are against the BEST FP32 setting (fastest of eager, channels_last,
torch.compile with freezing, and both), never the slowest.
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import sys
import time
import warnings

import torch

from greenai.ml.compression import prune, quantize
from greenai.ml.compression.distill import fit
from greenai.ml.data import load_dataset, normalize
from greenai.ml.evaluation import evaluate
from greenai.ml.models import create_model

sys.path.insert(0, os.path.dirname(__file__))
from machine import describe

DATA_DIR = os.environ.get("GREENAI_DATA_DIR", "/work/shared/data/cifar10")


def _saved_bytes(obj) -> int:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return len(buf.getvalue())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from", dest="source", default=None, help="greenai checkpoint to start from")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--finetune-epochs", type=int, default=1)
    p.add_argument("--sparsity", type=float, default=0.3)
    p.add_argument(
        "--channel-multiple", type=int, default=8, help="structured: kept channels rounded to N"
    )
    p.add_argument("--calib-batches", type=int, default=10)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--calls", type=int, default=5, help="timed calls in a row per round")
    p.add_argument("--limit-train", type=int, default=None)
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    print(f"# {describe()}")

    ds = load_dataset("cifar10", DATA_DIR)
    n_train = args.limit_train or len(ds.y_train)
    x_train = normalize(ds.x_train[:n_train], ds.mean, ds.std, torch.float32)
    y_train = ds.y_train[:n_train]
    x_test = normalize(ds.x_test, ds.mean, ds.std, torch.float32)
    y_test = ds.y_test

    def batches(bs: int = 128):
        def it():
            order = torch.randperm(len(y_train))
            for i in range(0, len(order), bs):
                idx = order[i : i + bs]
                xb = x_train[idx]
                flip = torch.rand(len(idx)) < 0.5
                yield torch.where(flip[:, None, None, None], xb.flip(3), xb), y_train[idx]

        return it

    t0 = time.time()
    if args.source:
        from greenai.ml.training.checkpoint import model_from_checkpoint

        base, _ = model_from_checkpoint(args.source)
    else:
        base = create_model("seed_cnn")
        fit(base, batches(), epochs=args.epochs, lr=1e-3)
    base.eval()
    print(f"# baseline ready in {time.time() - t0:.0f} s (threads={torch.get_num_threads()})")

    def acc(predict) -> float:
        return evaluate.accuracy(predict, x_test, y_test, batch_size=500).test_accuracy_pct

    rows: dict[str, dict] = {}
    fp32_bytes = _saved_bytes(base.state_dict())

    # --- variants -------------------------------------------------------------------------------
    t0 = time.time()
    calib = [x_train[i * 128 : (i + 1) * 128] for i in range(args.calib_batches)]
    ptq = quantize.quantize_ptq(copy.deepcopy(base), calib, x_test[:2])
    ptq_bytes = len(quantize.quantized_bytes(ptq, {"model": "seed_cnn"}))
    ptq_fn = quantize.compile_for_cpu(ptq.module)
    print(f"# PTQ converted in {time.time() - t0:.0f} s; route: {ptq.route}")

    t0 = time.time()
    dyn = quantize.quantize_dynamic(copy.deepcopy(base), x_test[:2])
    dyn_bytes = len(quantize.quantized_bytes(dyn, {"model": "seed_cnn"}))
    dyn_fn = quantize.compile_for_cpu(dyn.module)
    print(f"# dynamic converted in {time.time() - t0:.0f} s")

    structured: dict[int, tuple[torch.nn.Module, int, float, str]] = {}
    for multiple in sorted({args.channel_multiple, 1}, reverse=True):  # rounded, then exact
        t0 = time.time()
        model = copy.deepcopy(base)
        channels = prune.prune_structured(model, args.sparsity, x_test[:2], multiple_of=multiple)
        acc0 = acc(model)
        torch.manual_seed(1)  # the same fine-tuning batches for both
        fit(model, batches(), epochs=args.finetune_epochs, lr=5e-4)
        model.eval()
        kept = "/".join(str(b) for _, b in channels.values())
        structured[multiple] = (model, _saved_bytes(model.state_dict()), acc0, kept)
        print(f"# structured x{multiple} ({kept} channels) fine-tuned in {time.time() - t0:.0f} s")

    t0 = time.time()
    unstructured = copy.deepcopy(base)
    prune.prune_unstructured(unstructured, args.sparsity, include_linear=True)
    masks = prune.zero_masks(unstructured, include_linear=True)
    unstr_acc0 = acc(unstructured)
    fit(
        unstructured,
        batches(),
        epochs=args.finetune_epochs,
        lr=5e-4,
        after_step=lambda: prune.apply_masks(unstructured, masks),
    )
    unstructured.eval()
    unstr_bytes = _saved_bytes(prune.encode_state_dict(unstructured.state_dict()))
    print(f"# unstructured pruned + fine-tuned in {time.time() - t0:.0f} s")

    # --- timing, interleaved ----------------------------------------------------------------------
    xb = x_test[:256].contiguous()
    cl = xb.contiguous(memory_format=torch.channels_last)
    cands = evaluate.best_fp32_candidates(base, quantize.compile_for_cpu)
    timed = {name: (fn, tf(xb)) for name, (fn, tf) in cands.items()}
    for multiple, (model, *_) in structured.items():
        struct_c = evaluate.best_fp32_candidates(model, quantize.compile_for_cpu)
        timed[f"structured_x{multiple}_compiled"] = (struct_c["fp32_compiled"][0], xb)
        timed[f"structured_x{multiple}_compiled_channels_last"] = (
            struct_c["fp32_compiled_channels_last"][0], cl,
        )  # fmt: skip
    timed["int8_ptq_compiled"] = (ptq_fn, xb)
    timed["int8_ptq_compiled_channels_last"] = (ptq_fn, cl)
    timed["int8_dynamic_compiled"] = (dyn_fn, xb)
    t0 = time.time()
    with torch.no_grad():
        for fn, x in timed.values():  # compile every shape before the clock runs
            fn(x)
            fn(x[:1])
    print(f"# compiled all in {time.time() - t0:.0f} s")
    speed = evaluate.interleaved_throughput(timed, rounds=args.rounds, warmup=2, calls=args.calls)
    fp32_names = [n for n in timed if n.startswith("fp32_")]

    def fastest(*names: str) -> str:
        return max(names, key=lambda n: speed[n]["median_img_s"])

    best = fastest(*fp32_names)
    best_rate = speed[best]["median_img_s"]
    int8_best = fastest("int8_ptq_compiled", "int8_ptq_compiled_channels_last")

    base_acc = acc(base)
    rows["fp32 (" + best + ")"] = dict(acc=base_acc, bytes=fp32_bytes, rate=best_rate)
    for n in fp32_names:
        if n != best:
            rows[n] = dict(acc=base_acc, bytes=fp32_bytes, rate=speed[n]["median_img_s"])
    rows[f"int8 PTQ (PT2E x86, {int8_best.removeprefix('int8_ptq_')})"] = dict(
        acc=acc(ptq_fn), bytes=ptq_bytes, rate=speed[int8_best]["median_img_s"]
    )
    rows["int8 dynamic (linear only)"] = dict(
        acc=acc(dyn_fn), bytes=dyn_bytes, rate=speed["int8_dynamic_compiled"]["median_img_s"]
    )
    for multiple, (model, nbytes, acc0, kept) in structured.items():
        name = fastest(
            f"structured_x{multiple}_compiled", f"structured_x{multiple}_compiled_channels_last"
        )
        rows[f"structured {args.sparsity:.0%} + {args.finetune_epochs} ep ({name})"] = dict(
            acc=acc(model), bytes=nbytes, rate=speed[name]["median_img_s"],
            note=f"channels {kept}; before fine-tune {acc0:.2f}%",
        )  # fmt: skip
    rows[f"unstructured {args.sparsity:.0%} + {args.finetune_epochs} ep (dense kernels)"] = dict(
        acc=acc(unstructured), bytes=unstr_bytes, rate=None,
        note=f"before fine-tune {unstr_acc0:.2f}%; dense {fp32_bytes} B",
    )  # fmt: skip

    print(
        f"\nbatch 256, {args.rounds} interleaved rounds of 1 untimed + {args.calls} timed calls, "
        f"medians; threads={torch.get_num_threads()}"
    )
    print(f"best FP32 setting: {best} = {best_rate:.0f} img/s")
    print(
        f"{'variant':58} {'acc %':>7} {'d acc':>6} {'bytes':>9} {'size x':>6} {'img/s':>8} {'thr x':>6}"
    )
    for name, r in rows.items():
        rate = f"{r['rate']:8.0f}" if r["rate"] else f"{'-':>8}"
        ratio = f"{r['rate'] / best_rate:6.2f}" if r["rate"] else f"{'-':>6}"
        print(
            f"{name:58} {r['acc']:7.2f} {r['acc'] - base_acc:+6.2f} {r['bytes']:9d} "
            f"{fp32_bytes / r['bytes']:6.2f} {rate} {ratio}"
            + (f"  ({r['note']})" if r.get("note") else "")
        )
    print("\nspread (min..max img/s):")
    for n, s in speed.items():
        print(f"  {n:40} {s['min_img_s']:8.0f} .. {s['max_img_s']:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
