"""Bad input to ``greenai search``: one line on stderr, exit 2, nothing written."""

import subprocess
import sys

import pytest

from greenai.cli.main import main

TINY = ["--dataset", "synthetic", "--device", "cpu", "--limit-train", "64", "--limit-test", "32"]


def greenai(*argv, cwd):
    return subprocess.run(
        [sys.executable, "-m", "greenai", "search", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--trials", "0"], "--trials must be at least 1"),
        (["--trials", "2", "--lr-range", "0.1", "0.001"], "contradictory search space"),
        (["--trials", "2", "--precisions", "fp64"], "cannot be 'fp64'"),
        (["--trials", "2", "--sparsities", "0", "1"], "sparsity=1 is outside its limits"),
        (["--trials", "2", "--quantization", "int4"], "quantization cannot be 'int4'"),
        (["--trials", "2", "--storage", "postgresql://nobody@127.0.0.1:1/none"], "cannot reach"),
        (["--trials", "2", "--storage", "mysql+nodriver://x/y"], "storage URL"),
        (["--trials", "2", "--population", "1"], "--population must be at least 2"),
        (["--show", "--trials", "3"], "takes no --trials"),
        (["--show"], "no study storage"),
        (["--trials", "1", "--dataset", "cifar10", "--data-dir", "nowhere"], "CIFAR-10 not found"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, message):
    code = main(["search", *TINY, *argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert err.startswith("greenai: error: ")
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_empty_space_file_in_a_subprocess_no_traceback(tmp_path):
    (tmp_path / "space.json").write_text('{"space": {"batch_size": []}}')
    proc = greenai(*TINY, "--trials", "1", "--space", "space.json", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "greenai: error: empty search space: no values given for batch_size\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space.json"]


def test_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--objective", "--sampler", "--storage", "--study-name", "--lr-range", "--show"):
        assert flag in out


def test_a_search_whose_every_trial_fails_exits_1(tmp_path, capsys, monkeypatch):
    import greenai.lifecycle.steps.baseline as train

    def device_lost(cfg, **kw):  # fault injected at the hardware boundary
        raise RuntimeError("device lost (injected)")

    monkeypatch.setattr(train, "train_run", device_lost)
    monkeypatch.delenv("GREENAI_STORE", raising=False)
    code = main(["search", *TINY, "--trials", "2", "--out", str(tmp_path), "--study-name", "x"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == "greenai: error: all 2 trials of this process failed\n"
    assert captured.out.count("failed: RuntimeError: device lost (injected)") == 4  # live + summary
    assert "no completed trials yet" in captured.out
