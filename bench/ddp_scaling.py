"""DDP on N CPU ranks against one process: the same training, interleaved, medians and ratios (#16).

Each round trains ``greenai baseline`` once per layout, in turn (so a slow stretch of the machine hits
every layout alike): one process with all the threads, then ``--nproc-per-node N`` with the threads
split over the ranks (the global batch is the same; each rank takes 1/N of it and of the images).
Prints each run's training seconds (the meter's ``train`` phase), the job's energy (its meter's
method says how it was measured; here an estimate) and the test accuracy, then the medians and the
N-rank/1-process ratios. On a 2-core machine DDP cannot be faster: the ranks share the same cores
and add gradient all-reduces; the figure says by how much it is slower.

    python bench/ddp_scaling.py --data-dir /work/shared/data/cifar10                # 3 rounds
    python bench/ddp_scaling.py --data-dir /work/shared/data/cifar10 --rounds 1 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe


def train(nproc: int, args: argparse.Namespace, out: Path) -> dict:
    """One ``greenai baseline`` run; its result's figures."""
    threads = max(1, args.threads // nproc)
    cmd = [
        sys.executable, "-m", "greenai", "baseline", "--recipe", args.recipe, "--epochs",
        str(args.epochs), "--threads", str(threads), "--inference-images", "0", "--out", str(out),
        "--no-progress",
    ]  # fmt: skip
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.limit_train:
        cmd += ["--limit-train", str(args.limit_train)]
    if nproc > 1:
        cmd += ["--nproc-per-node", str(nproc)]
    env = {**os.environ, "GREENAI_RUNTIMES": "pytorch"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"ddp_scaling: {' '.join(cmd[3:])} failed:\n{done.stderr[-2000:]}")
    (path,) = sorted((out / "results").glob("*_baseline_*.json"))
    r = json.loads(path.read_text())
    step = r["energy"]["step"]
    train_s = next(p["duration_s"] for p in step["phases"] if p.get("path") == "train")
    return {
        "nproc": nproc, "threads": threads, "train_s": train_s, "energy_j": step["energy_kwh"] * 3.6e6,
        "acc": r["metrics"]["test_accuracy_pct"], "method": step["methods"].get("cpu", "?"),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--recipe", default="green")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--nproc", type=int, default=2, help="ranks of the DDP layout (default 2)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads in all")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--limit-train", type=int, default=None)
    args = p.parse_args()
    print(f"# {describe()}")
    print(f"# recipe {args.recipe}, {args.epochs} epoch(s), {args.threads} threads in all")
    rows: dict[int, list[dict]] = {1: [], args.nproc: []}
    with tempfile.TemporaryDirectory(prefix="ddp_bench_") as tmp:
        for rnd in range(args.rounds):
            for nproc in rows:
                row = train(nproc, args, Path(tmp) / f"r{rnd}_n{nproc}")
                rows[nproc].append(row)
                print(f"round {rnd}: {nproc} rank(s) x {row['threads']} thread(s): training "
                      f"{row['train_s']:.1f} s, job energy {row['energy_j']:.0f} J, "
                      f"test {row['acc']:.2f}%", flush=True)  # fmt: skip
    med = {n: {k: statistics.median(r[k] for r in rs) for k in ("train_s", "energy_j", "acc")}
           for n, rs in rows.items()}  # fmt: skip
    for n, m in med.items():
        print(f"{n} rank(s): median training {m['train_s']:.1f} s, energy {m['energy_j']:.0f} J, "
              f"test {m['acc']:.2f}%  (n={len(rows[n])})")  # fmt: skip
    one, many = med[1], med[args.nproc]
    print(f"{args.nproc} ranks / 1 process: training time x{many['train_s'] / one['train_s']:.2f}, "
          f"energy x{many['energy_j'] / one['energy_j']:.2f}")  # fmt: skip
    print(f"energy method: {rows[1][0]['method']}")


if __name__ == "__main__":
    main()
