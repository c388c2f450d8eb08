"""Fine-tuning steps under torchrun (issue #16): prune, distill and QAT take ``--nproc-per-node``.

Every rank fine-tunes its own shard under DDP; rank 0 evaluates, times and records the one variant
run, whose energy is the job's (the node's fake powercap counted once, not once per rank). Real
processes (torchrun agents, gloo ranks on loopback); only the power counter is fake.
"""

from __future__ import annotations

import pytest
from dist_launch import POWER_REL, TINY, cpu_j, env_with, greenai, powercap_at

from greenai.results.resultfile import load_result
from greenai.storage import open_store

pytestmark = pytest.mark.slow

SMALL_DATA = ["--limit-train", "256", "--limit-test", "128", "--device", "cpu"]


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A tiny trained baseline (one process) the fine-tuning steps start from: its out folder."""
    out = tmp_path_factory.mktemp("ft") / "out"
    done = greenai("baseline", *TINY, "--out", str(out), "--run-id", "base", env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _env(**extra: str) -> dict[str, str]:
    return env_with(GREENAI_RUNTIMES="pytorch", **extra)  # one runtime: the timing stays short


def _result(out, variant: str) -> dict:
    files = sorted((out / "results").glob(f"*_{variant}_*.json"))
    assert len(files) == 1, files
    return load_result(files[0])


def _rows(out, variant: str) -> list:
    store = open_store(None, default_dir=out)
    try:
        return [r for r in store.list_runs() if r.variant == variant]
    finally:
        store.close()


def test_prune_on_two_ranks_is_one_run_with_the_node_counted_once(parent, tmp_path):
    with powercap_at(tmp_path / "pc", 40.0) as root:
        done = greenai(
            "prune", "--from", "base", "--out", str(parent), *SMALL_DATA, "--finetune-epochs", "2",
            "--batch-size", "64", "--nproc-per-node", "2",
            env=_env(GREENAI_POWERCAP_ROOT=str(root)),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("(pruned_unstructured, parent base)") == 1  # rank 0's summary only
    result = _result(parent, "pruned_unstructured")
    step = result["energy"]["step"]
    print(f"figure: prune on 2 ranks, fake RAPL at 40 W: {cpu_j(result):.2f} J in "
          f"{step['duration_s']:.3f} s")  # fmt: skip
    # not 80 W. POWER_REL: besides the counter's writer lagging, the job's duration is its longest
    # rank's window, the node's energy is read over local rank 0's; on a loaded 2-core machine a
    # rank can leave the closing barrier ~0.1 s after rank 0 (one suite run read 38.43 W over
    # 2.6 s; idle runs read 39.75-40.0 W)
    assert cpu_j(result) / step["duration_s"] == pytest.approx(40.0, rel=POWER_REL)
    dist = result["distributed"]
    assert dist["world_size"] == 2 and [r["meters_node"] for r in dist["ranks"]] == [True, False]
    assert len(result["compression"]["finetune_losses"]) == 2
    assert result["energy"]["lifecycle"]["energy_kwh"] > step["energy_kwh"]  # the parent's too
    rows = _rows(parent, "pruned_unstructured")
    assert [(r.status, r.parent_run_id) for r in rows] == [("done", "base")]


def test_distill_and_qat_on_two_ranks_each_record_one_run(parent):
    for args, variant in (
        (["distill", "--teacher", "base", "--student", "seed_cnn", "--student-width", "0.5",
          "--epochs", "1"], "distilled"),
        (["quantize", "--from", "base", "--method", "qat", "--epochs", "1"], "quantized_qat"),
    ):  # fmt: skip
        done = greenai(
            *args, "--out", str(parent), *SMALL_DATA, "--batch-size", "64",
            "--nproc-per-node", "2", env=_env(),
        )  # fmt: skip
        assert done.returncode == 0, (variant, done.stderr[-3000:])
        result = _result(parent, variant)
        assert result["distributed"]["world_size"] == 2
        assert result["metrics"]["test_images"] == 128  # rank 0 evaluated the whole test split
        assert [r.status for r in _rows(parent, variant)] == ["done"]
        ranks = result["distributed"]["ranks"]
        assert all(r["energy_j"]["cpu"] > 0 for r in ranks)  # estimate: each rank's own CPU time


def test_steps_that_do_not_train_refuse_the_launch_flags(parent, capsys, monkeypatch):
    from greenai.cli.main import main

    monkeypatch.setenv("GREENAI_RUNTIMES", "pytorch")
    argv = [
        "quantize",
        "--from",
        "base",
        "--out",
        str(parent),
        *SMALL_DATA,
        "--nproc-per-node",
        "2",
    ]
    assert main(argv) == 2  # checked here, before torchrun would start
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "only QAT runs under --nproc-per-node" in lines[0], lines
    assert not list((parent / "results").glob("*_quantized_ptq_*.json"))
