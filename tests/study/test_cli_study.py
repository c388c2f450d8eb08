"""``greenai study`` refuses bad input with one line, exit 2, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenai.cli.main import main


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--variants", "pruned"], "unknown variant 'pruned'"),
        (["--variants", "baseline,quantised"], "unknown variant 'quantised'"),
        (["--sparsity", "1.5"], "expected a fraction in [0, 1)"),
        (["--epochs", "0"], "expected a positive integer"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
        (["--model", "no_such_net"], "no_such_net"),
        (["--dataset", "cifar10", "--data-dir", "{tmp}/nodata"], "CIFAR-10 not found"),
        (["--inferences", "-1"], "--inferences"),
        (["--inference-images", "0"], "expected a positive integer"),
    ],
)
def test_bad_input(tmp_path: Path, capsys, monkeypatch, argv, message):
    monkeypatch.delenv("GREENAI_STORE", raising=False)
    monkeypatch.setenv("GREENAI_DATA_DIR", str(tmp_path / "nodata"))
    (tmp_path / "nodata").mkdir()
    out = tmp_path / "out"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main(["study", "--dataset", "synthetic", "--out", str(out), *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0, err
    assert not out.exists()


@pytest.mark.skipif("_cuda()")
def test_both_devices_need_a_gpu(tmp_path: Path, capsys):
    code = main(
        ["study", "--dataset", "synthetic", "--device", "both", "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert "--device both: no CUDA GPU is available here" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
