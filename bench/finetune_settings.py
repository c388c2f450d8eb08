"""How a green baseline's variants should train (#20): Adam against the parent's own recipe.

Trains a `green` baseline (or takes `--from RUN` in `--out`), then derives, interleaved per round:
structured and unstructured 30 % pruning with one fine-tuning epoch, and a distillation (for the
parent's own epochs, as the study does, or ``--distill-epochs``), each once with Adam (the study's
fine-tuning before) and once with the airbench recipe (``ml.compression.finetune``; for
distillation into the teacher's own net at half its width, against seed_cnn at half width with
Adam, the study's old student). Prints each variant's test accuracy (one forward per image, as the
parent's plain figure), its step's seconds and energy (the meter's estimate here), then medians.

    python bench/finetune_settings.py --data-dir /work/shared/data/cifar10
    python bench/finetune_settings.py --data-dir /work/shared/data/cifar10 --from RUN --out DIR
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe

CASES = (
    ("pruned_structured", "adam"),
    ("pruned_structured", "recipe"),
    ("pruned_unstructured", "adam"),
    ("pruned_unstructured", "recipe"),
    ("distilled", "adam"),
    ("distilled", "recipe"),
)


def derive(case: tuple[str, str], parent_id: str, args: argparse.Namespace, env, data) -> dict:
    from greenai.lifecycle.parents import resolve_parent
    from greenai.lifecycle.steps.distill import distill
    from greenai.lifecycle.steps.prune import prune

    variant, how = case
    parent = resolve_parent(parent_id, Path(args.out), None)
    hyper = (parent.result or {}).get("hyperparameters", {})
    width, own = float(hyper.get("width") or 1.0), str(hyper.get("model") or "airbench")
    if variant == "distilled":
        student, kw = ("seed_cnn", {"width": 0.5}) if how == "adam" else (own, {"width": width / 2})
        epochs = args.distill_epochs or int(hyper.get("epochs") or 3)
        r = distill(parent, env, data, student=student, student_kwargs=kw, epochs=epochs,
                    batch_size=args.batch_size, finetune=how)  # fmt: skip
    else:
        kind = variant.removeprefix("pruned_")
        r = prune(parent, env, data, sparsity=0.3, kind=kind, finetune_epochs=1,
                  batch_size=args.batch_size, channel_multiple=8, finetune=how)  # fmt: skip
    step = r["energy"]["step"]
    work = next(p for p in step["phases"] if p["path"] in ("prune", "distill"))
    return {"acc": r["metrics"]["test_accuracy_pct"], "s": work["duration_s"],
            "j": work["energy_kwh"] * 3.6e6, "student": r["model"]}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--from", dest="parent", default=None, help="a trained green run in --out")
    p.add_argument("--out", default=None)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--distill-epochs", type=int, default=None, help="default: the parent's epochs")
    args = p.parse_args()
    os.environ.setdefault("GREENAI_RUNTIMES", "pytorch")  # the inference timing is not the point
    from greenai.lifecycle.run import RunEnv
    from greenai.lifecycle.steps.baseline import train_run
    from greenai.lifecycle.variant_data import DataSpec
    from greenai.ml.training.recipes import recipe

    print(f"# {describe()}", flush=True)
    args.out = args.out or tempfile.mkdtemp(prefix="finetune_bench_")
    env = RunEnv(Path(args.out))
    data = DataSpec(dataset="cifar10", data_dir=args.data_dir)
    parent_id = args.parent
    if parent_id is None:
        cfg = recipe("green", data_dir=args.data_dir)
        base = train_run(cfg, out_dir=Path(args.out), store=None, carbon=None, progress=False,
                         inference_images=0)  # fmt: skip
        parent_id = base["run_id"]
        m = base["metrics"]
        print(f"parent {parent_id}: {m['test_accuracy_pct']:.2f}% plain, "
              f"{m['test_accuracy_tta_pct']:.2f}% with TTA", flush=True)  # fmt: skip
    rows: dict[tuple[str, str], list[dict]] = {c: [] for c in CASES}
    for rnd in range(args.rounds):
        for case in CASES:  # interleaved: a slow stretch hits every setting alike
            row = derive(case, parent_id, args, env, data)
            rows[case].append(row)
            print(f"round {rnd}: {case[0]} {case[1]} ({row['student']}): test {row['acc']:.2f}%  "
                  f"step {row['s']:.1f} s, {row['j']:.0f} J", flush=True)  # fmt: skip
    print("medians:")
    for case, rs in rows.items():
        print(f"  {case[0]:20s} {case[1]:6s}: test {statistics.median(r['acc'] for r in rs):.2f}%  "
              f"step {statistics.median(r['s'] for r in rs):.1f} s, "
              f"{statistics.median(r['j'] for r in rs):.0f} J  (n={len(rs)})")  # fmt: skip


if __name__ == "__main__":
    main()
