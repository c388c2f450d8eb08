"""``greenai baseline --nproc-per-node/--nnodes/--node-rank/--rdzv-endpoint``: the torchrun command
it starts, and bad combinations refused in one line before anything runs or is written."""

from __future__ import annotations

import argparse
import sys

import pytest

from greenai.cli import _torchrun
from greenai.cli.main import main

BASE = ["baseline", "--dataset", "synthetic", "--device", "cpu", "--epochs", "1"]


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    _torchrun.add_launch_args(p)
    args, _rest = p.parse_known_args(argv)
    args._argv = ["baseline", *argv, "--epochs", "1"]
    return args


def test_one_machine_runs_standalone_with_one_run_id_for_every_rank():
    cmd = _torchrun.torchrun_command(_args(["--nproc-per-node", "2"]), "r-1")
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc-per-node=2" in cmd and "--standalone" in cmd
    tail = cmd[cmd.index("greenai") + 1 :]
    assert tail == ["baseline", "--epochs", "1", "--run-id", "r-1"]  # launch flags removed


def test_several_machines_meet_at_the_endpoint():
    static = _torchrun.torchrun_command(
        _args(["--nnodes=2", "--node-rank", "1", "--rdzv-endpoint", "10.0.0.1:29500"]), "r-2"
    )
    assert "--rdzv-backend=static" in static and "--node-rank=1" in static
    assert "--rdzv-endpoint=10.0.0.1:29500" in static and "--standalone" not in static
    elastic = _torchrun.torchrun_command(_args(["--nnodes", "2", "--rdzv-endpoint", "h:1"]), "r-3")
    assert "--rdzv-backend=c10d" in elastic


def test_under_torchrun_already_the_flags_do_not_launch_again():
    args = _args(["--nproc-per-node", "2"])
    assert _torchrun.wants_launch(args, env={})
    assert not _torchrun.wants_launch(args, env={"WORLD_SIZE": "2"})
    assert not _torchrun.wants_launch(_args([]), env={})


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--nnodes", "2"], "--rdzv-endpoint"),
        (["--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "h:1"], "--node-rank 2"),
        (["--nproc-per-node", "2", "--rdzv-endpoint", "nohost"], "HOST:PORT"),
    ],
)
def test_bad_combinations_are_one_line_exit_2_and_nothing_written(flags, says, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*BASE, *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("greenai: error:") and says in err[0]
    assert not out.exists()


def test_resume_is_refused_under_ddp_in_one_line_that_says_why():
    from greenai.errors import UsageError
    from greenai.lifecycle.training_ddp import check_distributable
    from greenai.ml.training.config import TrainConfig

    with pytest.raises(UsageError) as err:
        check_distributable(TrainConfig(), resume=True)
    assert "--resume is not supported" in str(err.value) and "checkpoint" in str(err.value)
    check_distributable(TrainConfig(target_accuracy=50.0, holdout_fraction=0.1), resume=False)
