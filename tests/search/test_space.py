import json

import pytest

from greenai.errors import UsageError
from greenai.search import space as sp


def test_default_space_declares_every_dimension():
    s = sp.default_space()
    assert s.names() == [
        "lr",
        "batch_size",
        "epochs",
        "width",
        "precision",
        "sparsity",
        "quantization",
    ]


def test_compression_dimensions_can_be_narrowed_like_any_other():
    s = sp.default_space()
    assert s["sparsity"].choices == (0.0, 0.5, 0.8)
    assert s["quantization"].choices == ("off", "on")
    narrowed = sp.narrow(s, {"sparsity": [0, 0.3], "quantization": ["off", "on"]})
    assert narrowed["sparsity"].choices == (0.0, 0.3)
    assert narrowed["quantization"].choices == ("off", "on")
    assert "sparsity in [0.0, 0.3]" in narrowed.describe()
    with pytest.raises(UsageError, match="sparsity=1 is outside its limits"):
        sp.narrow(s, {"sparsity": [1.0]})
    with pytest.raises(UsageError, match="quantization cannot be 'int4'"):
        sp.narrow(s, {"quantization": ["int4"]})


def test_flags_override_file(tmp_path):
    f = tmp_path / "space.toml"
    f.write_text('[space]\nlr = [1e-3, 1e-2]\nepochs = [1, 2]\nprecision = ["fp32"]\n')
    s = sp.build_space(f, {"epochs": [2, 3], "batch_size": None})
    assert (s["lr"].low, s["lr"].high) == (1e-3, 1e-2)
    assert (s["epochs"].low, s["epochs"].high) == (2, 3)
    assert s["precision"].choices == ("fp32",)
    assert s["batch_size"].choices == (32, 64, 128, 256)


def test_json_file_and_single_value_fixes_a_dimension(tmp_path):
    f = tmp_path / "space.json"
    f.write_text(json.dumps({"lr": 0.01, "batch_size": [128], "quantization": ["on", "off"]}))
    s = sp.build_space(f)
    assert (s["lr"].low, s["lr"].high) == (0.01, 0.01)
    assert s["batch_size"].choices == (128,)
    assert s["quantization"].choices == ("on", "off")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lr": [0.1, 0.001]}, "contradictory"),
        ({"epochs": [3, 1]}, "contradictory"),
        ({"batch_size": []}, "empty search space"),
        ({"precision": ["fp16"]}, "cannot be 'fp16'"),
        ({"lr": [0, 0.1]}, "outside its limits"),
        ({"epochs": [1.5, 2]}, "whole numbers"),
        ({"batch_size": [0]}, "outside its limits"),
        ({"dropout": [0.1, 0.2]}, "unknown dimension 'dropout'"),
        ({"lr": ["fast"]}, "needs numbers"),
        ({"lr": [1, 2, 3]}, "takes \\[low, high\\]"),
    ],
)
def test_bad_narrowing_is_a_usage_error(overrides, message):
    with pytest.raises(UsageError, match=message):
        sp.narrow(sp.default_space(), overrides)


def test_bad_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        sp.load_space_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = [")
    with pytest.raises(UsageError, match="not valid"):
        sp.load_space_file(bad)
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    with pytest.raises(UsageError, match="empty search space"):
        sp.load_space_file(empty)


def test_suggest_asks_optuna_for_every_dimension_with_its_narrowed_range():
    import optuna

    s = sp.narrow(
        sp.default_space(), {"lr": [1e-3, 1e-2], "epochs": 1, "sparsity": 0, "quantization": "off"}
    )
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    params = s.suggest(trial)
    assert list(params) == s.names()
    assert 1e-3 <= params["lr"] <= 1e-2
    assert params["epochs"] == 1
    assert (params["sparsity"], params["quantization"]) == (0.0, "off")
    dist = trial.distributions
    assert (dist["lr"].low, dist["lr"].high, dist["lr"].log) == (1e-3, 1e-2, True)
    assert dist["batch_size"].choices == (32, 64, 128, 256)
    assert sp.SearchSpace(s.dimensions).to_dict() == s.to_dict()
