"""Models from outside the package: file and module references, plugins, and their errors."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest
import torch

from greenai.errors import UsageError
from greenai.ml.models import (
    available,
    check_model_name,
    count_params,
    create_model,
    is_builtin,
    model_reference,
)

MYNET = textwrap.dedent(
    """
    import torch
    from torch import nn


    def make(num_classes=10, input_shape=(3, 32, 32), hidden=8):
        c, h, w = input_shape
        return nn.Sequential(
            nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )


    def make_any(**kw):
        return make(**kw)


    class Net(nn.Module):  # takes no input_shape: fixed to RGB
        def __init__(self, num_classes=10):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, num_classes)

        def forward(self, x):
            return self.fc(self.conv(x).mean(dim=(2, 3)))


    def boom(num_classes=10):
        raise RuntimeError("no GPU here\\nsecond line")


    def not_a_model(num_classes=10):
        return 42


    def five_classes(num_classes=10):
        return Net(5)


    NOT_CALLABLE = 3
    """
)


def _logits(model: torch.nn.Module, shape: tuple[int, ...], n: int = 4) -> torch.Size:
    return model.eval()(torch.randn(n, *shape)).shape


@pytest.fixture
def mynet(tmp_path, monkeypatch):
    """``mynet.py`` in tmp_path, importable as ``mynet_refs_test``, with tmp_path the cwd."""
    (tmp_path / "mynet.py").write_text(MYNET)
    (tmp_path / "mynet_refs_test.py").write_text(MYNET)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("mynet_refs_test", None)


def test_a_file_reference_builds_factories_and_module_classes(mynet):
    model = create_model("mynet.py:make", num_classes=3, input_shape=(1, 28, 28))
    assert _logits(model, (1, 28, 28)) == (4, 3)
    assert model[1].in_features == 28 * 28  # the factory got input_shape
    wide = create_model("mynet.py:make", hidden=32)  # user keywords pass through
    assert count_params(wide) > count_params(create_model("mynet.py:make"))
    assert _logits(create_model("mynet_refs_test:make_any", num_classes=2), (3, 32, 32)) == (4, 2)
    net = create_model("mynet.py:Net", num_classes=4)  # a class without input_shape
    assert net.training  # the checking forward pass left train mode as it was
    assert type(net).__name__ == "Net" and _logits(net, (3, 32, 32)) == (4, 4)
    check_model_name("mynet.py:make")


def test_a_module_reference_builds_and_is_recorded_unchanged(mynet):
    check_model_name("mynet_refs_test:Net")
    assert model_reference("mynet_refs_test:Net") == "mynet_refs_test:Net"
    assert _logits(create_model("mynet_refs_test:Net", num_classes=7), (3, 32, 32)) == (4, 7)
    assert not is_builtin("mynet_refs_test:Net")


def test_a_recorded_file_reference_rebuilds_the_model_from_another_folder(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mynet.py").write_text(MYNET)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    ref = model_reference("models/mynet.py:Net")
    assert ref == f"{tmp_path / 'models' / 'mynet.py'}:Net" and os.path.isabs(ref.split(":")[0])
    assert model_reference(ref) == ref
    torch.manual_seed(0)
    trained = create_model("models/mynet.py:Net")

    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(UsageError, match="no such file"):
        check_model_name("models/mynet.py:Net")  # the relative form only means something there
    rebuilt = create_model(ref)
    rebuilt.load_state_dict(trained.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(rebuilt.eval()(x), trained.eval()(x))


def test_a_changed_file_is_loaded_again(tmp_path, monkeypatch):
    path = tmp_path / "net.py"
    path.write_text(MYNET)
    monkeypatch.chdir(tmp_path)
    assert _logits(create_model("net.py:five_classes", num_classes=5), (3, 32, 32)) == (4, 5)
    path.write_text(MYNET.replace("Net(5)", "Net(6)"))
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 10**9))
    assert _logits(create_model("net.py:five_classes", num_classes=6), (3, 32, 32)) == (4, 6)


def test_a_plugin_entry_point_is_listed_and_built(tmp_path, monkeypatch):
    dist = tmp_path / "greenai_plugin_test-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: greenai-plugin-test\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text("[greenai.models]\nplugnet = plugmod:make\n")
    (tmp_path / "plugmod.py").write_text(MYNET)
    assert "plugnet" not in available()
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert "plugnet" in available() and "seed_cnn" in available()
        check_model_name("plugnet")
        assert model_reference("plugnet") == "plugnet" and not is_builtin("plugnet")
        model = create_model("plugnet", num_classes=3, input_shape=(1, 12, 12))
        assert _logits(model, (1, 12, 12)) == (4, 3)
    finally:
        sys.modules.pop("plugmod", None)


def _write_bad_files(folder) -> None:
    (folder / "broken.py").write_text("def make(:\n    pass\n")
    (folder / "importfails.py").write_text("import greenai_no_such_dependency\n")
    (folder / "exits.py").write_text("raise SystemExit(3)\n")
    (folder / "models").mkdir()


REFERENCE_ERRORS = [  # found by check_model_name, without building
    ("greenai_nosuch_mod:Net", "cannot import module 'greenai_nosuch_mod' (ModuleNotFoundError"),
    ("missing.py:Net", "no such file"),
    ("mynet.py:Nope", "module has no attribute 'Nope'"),
    ("mynet_refs_test:Nope", "module has no attribute 'Nope'"),
    ("mynet.py:NOT_CALLABLE", "int is not callable"),
    ("broken.py:make", "SyntaxError"),
    ("importfails.py:make", "ModuleNotFoundError: No module named 'greenai_no_such_dependency'"),
    ("exits.py:make", "SystemExit"),
    ("models/:Net", "not a file"),
    ("mynet.py:", "expected MODULE:NAME or path/to/file.py:NAME"),
    ("mynet.py:1x", "is not a Python attribute name"),
    ("my-net:make", "neither a module name nor a .py file"),
    ("vgg99", "unknown model 'vgg99'; available: airbench, airbench_small, efficientnet_b0"),
]


@pytest.mark.parametrize(("name", "message"), REFERENCE_ERRORS)
def test_bad_references_are_one_usage_error_line(mynet, name, message):
    _write_bad_files(mynet)
    for call, label in ((check_model_name, "--model"), (create_model, "model")):
        with pytest.raises(UsageError) as exc:
            call(name)
        assert message in str(exc.value) and "\n" not in str(exc.value)
        assert name == "vgg99" or str(exc.value).startswith(f"{label} {name!r}: ")


BUILD_ERRORS = [  # found only by building
    ("mynet.py:boom", {}, "model 'mynet.py:boom': the factory failed (RuntimeError: no GPU here)"),
    ("mynet.py:make", {"depth": 3}, "model 'mynet.py:make': bad arguments ['depth']"),
    (
        "mynet.py:not_a_model",
        {},
        "model 'mynet.py:not_a_model': the factory returned int, not a torch.nn.Module",
    ),
    (
        "mynet.py:five_classes",
        {},
        "model 'mynet.py:five_classes': output shape (2, 5) does not match 10 classes",
    ),
    (
        "mynet.py:Net",
        {"input_shape": (1, 32, 32)},
        "model 'mynet.py:Net': a forward pass on a (2, 1, 32, 32) batch failed (RuntimeError",
    ),
    ("mynet.py:make", {"input_shape": (3, 32)}, "input_shape must be (channels, height, width)"),
    ("seed_cnn", {"input_shape": (3, 4, 4)}, "seed_cnn needs inputs of at least 8x8 pixels"),
]


@pytest.mark.parametrize(("name", "kw", "message"), BUILD_ERRORS)
def test_factories_that_fail_or_misbehave_are_one_usage_error_line(mynet, name, kw, message):
    check_model_name(name)  # cheap: nothing is built
    with pytest.raises(UsageError) as exc:
        create_model(name, **kw)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_is_builtin_knows_only_the_registered_nets(mynet):
    assert is_builtin("seed_cnn") and is_builtin("efficientnet_b0")
    assert not is_builtin("mynet.py:Net") and not is_builtin("vgg99")


BUILTINS = ["seed_cnn", "resnet20", "resnet32", "airbench", "airbench_small", "efficientnet_b0"]


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 40, 40), (3, 64, 64)])
def test_builtins_take_any_channels_and_reasonable_sizes(name, shape):
    model = create_model(name, num_classes=5, input_shape=shape, width=0.25)
    assert model.training
    assert _logits(model, shape, n=2) == (2, 5)


def test_seed_cnn_on_cifar_is_still_the_study_model():
    default = create_model("seed_cnn")
    explicit = create_model("seed_cnn", input_shape=(3, 32, 32))
    assert count_params(default) == count_params(explicit) == 620_362
    assert default.classifier[1].weight.shape == (256, 128 * 4 * 4)
    shapes = {k: v.shape for k, v in default.state_dict().items()}
    assert {k: v.shape for k, v in explicit.state_dict().items()} == shapes
    explicit.load_state_dict(default.state_dict())  # old checkpoints still load
    gray = create_model("seed_cnn", input_shape=(1, 28, 28)).state_dict()
    assert gray.keys() == shapes.keys() and gray["features.0.weight"].shape[1] == 1
