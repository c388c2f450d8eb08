"""The model registry and the study's model."""

from __future__ import annotations

import io

import pytest
import torch

from greenai.errors import UsageError
from greenai.ml import models
from greenai.ml.models import available, count_params, create_model, register_model


def test_seed_cnn_matches_the_study():
    model = create_model("seed_cnn")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == 3 and len(linears) == 2
    assert count_params(model) == 620_362  # "about 0.62 M"
    assert count_params(model) * 4 / 2**20 == pytest.approx(2.37, abs=0.01)  # "2.38 MB" as FP32
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    assert 2.36 < buf.getbuffer().nbytes / 2**20 < 2.39


@pytest.mark.parametrize("name", ["seed_cnn", "resnet20", "airbench", "efficientnet_b0"])
def test_models_classify_cifar_batches(name):
    model = create_model(name, num_classes=7, width=0.5).eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)


def test_width_multiplier_scales_the_model():
    assert (
        count_params(create_model("seed_cnn", width=0.5))
        < count_params(create_model("seed_cnn")) / 3
    )
    assert count_params(create_model("resnet20", width=2)) > 3 * count_params(
        create_model("resnet20")
    )
    assert 0.26e6 < count_params(create_model("resnet20")) < 0.28e6


def test_unknown_model_and_bad_arguments_are_usage_errors():
    with pytest.raises(UsageError, match=r"unknown model 'vgg99'.*seed_cnn"):
        create_model("vgg99")
    with pytest.raises(UsageError, match=r"model 'resnet20': bad arguments \['nonsense'\]"):
        create_model("resnet20", nonsense=1)
    with pytest.raises(UsageError, match=r"model 'seed_cnn': bad arguments \['depth'\]"):
        create_model("seed_cnn", depth=3)


def test_registry_is_extensible_and_refuses_duplicates():
    @register_model("test_tiny_linear")
    def tiny(num_classes=10):  # no input_shape: called without it
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, num_classes))

    try:
        assert "test_tiny_linear" in available()
        assert create_model("test_tiny_linear", num_classes=3)(torch.zeros(1, 3, 32, 32)).shape == (
            1,
            3,
        )
        with pytest.raises(ValueError, match="twice"):
            register_model("test_tiny_linear")(lambda num_classes=10: None)
    finally:
        models._REGISTRY.pop("test_tiny_linear", None)


def test_submodules_are_discovered():
    assert {"seed_cnn", "resnet20", "resnet32", "airbench", "efficientnet_b0"} <= set(available())
