"""``greenai study --nproc-per-node 2``: the baseline and the fine-tuning steps run under DDP (one
result, one run each, energy summed over the ranks once); post-training quantization runs in the
study's process; refusals in one line."""

from __future__ import annotations

import pytest
from dist_launch import POWER_REL, TINY, cpu_j, env_with, greenai, powercap_at

from greenai.cli.main import main
from greenai.results.resultfile import load_result
from greenai.storage import open_store

STUDY = [a for a in TINY if a not in ("--inference-images", "0")]


@pytest.mark.slow
@pytest.mark.heavy  # a study (its baseline's inference timing, the report): ~3 minutes on 2 cores
def test_a_baseline_only_study_trains_under_ddp_with_the_node_counted_once(tmp_path):
    out = tmp_path / "out"
    with powercap_at(tmp_path / "pc", 50.0) as root:
        done = greenai(
            "study", *STUDY, "--variants", "baseline", "--nproc-per-node", "2", "--no-progress",
            "--out", str(out), "--name", "ddp1",
            env=env_with(GREENAI_POWERCAP_ROOT=str(root)), timeout=400,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "baseline trains under DDP on 2 rank(s)" in done.stderr
    (base,) = sorted((out / "results").glob("*_baseline_*.json"))
    result = load_result(base)
    assert result["distributed"]["world_size"] == 2 and result["group"] == "ddp1"
    assert cpu_j(result) / result["energy"]["step"]["duration_s"] == pytest.approx(
        50.0, rel=POWER_REL
    )


@pytest.mark.slow
@pytest.mark.heavy  # a study with three steps, the timing and the report: minutes on 2 cores
def test_study_runs_training_and_fine_tuning_under_ddp_and_ptq_in_one_process(tmp_path):
    out = tmp_path / "out"
    with powercap_at(tmp_path / "pc", 50.0) as root:
        done = greenai(
            "study", *STUDY, "--variants", "baseline,pruned_unstructured,quantized_ptq",
            "--finetune-epochs", "1", "--nproc-per-node", "2", "--no-progress", "--out", str(out),
            "--name", "ddp", env=env_with(GREENAI_POWERCAP_ROOT=str(root)), timeout=500,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "baseline trains under DDP on 2 rank(s)" in done.stderr
    (base,) = sorted((out / "results").glob("*_baseline_*.json"))
    result = load_result(base)
    assert result["distributed"]["world_size"] == 2
    for res in (result, load_result(next((out / "results").glob("*_pruned_unstructured_*.json")))):
        step = res["energy"]["step"]
        print(f"figure: study's DDP {res['variant']}, fake RAPL at 50 W: {cpu_j(res):.2f} J "
              f"over {step['duration_s']:.3f} s")  # fmt: skip
        assert cpu_j(res) / step["duration_s"] == pytest.approx(50.0, rel=POWER_REL)  # not 100 W
        assert res["distributed"]["world_size"] == 2
    pruned = load_result(next((out / "results").glob("*_pruned_unstructured_*.json")))
    assert pruned["parent_run_id"] == result["run_id"]
    ptq = load_result(next((out / "results").glob("*_quantized_ptq_*.json")))
    assert "distributed" not in ptq and ptq["parent_run_id"] == result["run_id"]  # one process
    with open_store(None, default_dir=out) as store:
        runs = store.list_runs(group="ddp")
        assert sorted((r.variant, r.status) for r in runs) == [
            ("baseline", "done"),
            ("pruned_unstructured", "done"),
            ("quantized_ptq", "done"),
        ]


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--nnodes", "2", "--rdzv-endpoint", "h:1"], "one machine"),
        (["--nproc-per-node", "2", "--mlflow"], "--mlflow/--wandb"),
    ],
)
def test_study_refuses_what_it_cannot_distribute_in_one_line(flags, says, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["study", *STUDY, *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("greenai: error:") and says in err[0]
    assert not out.exists()
