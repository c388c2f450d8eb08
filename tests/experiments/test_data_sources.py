"""Data sets beyond CIFAR-10: image folders (in memory and streamed), npz files, Python modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from greenai.errors import DataError, UsageError
from greenai.ml import data
from greenai.ml.training import loop


def _pixels(h: int, w: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels == 1 else (h, w, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _png(path, size=(32, 32), mode="RGB", seed=0) -> np.ndarray:
    """A random image of ``size`` (width, height) saved as ``path``; returns its pixels."""
    w, h = size
    pixels = _pixels(h, w, {"L": 1, "RGB": 3, "RGBA": 4, "LA": 2}[mode], seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode).save(path)
    return pixels


def _folder(root, classes=("cat", "dog"), per_class=3, size=(32, 32), mode="RGB", test="val"):
    seed = 0
    for split, n in (("train", per_class), (test, 2)):
        for c in classes:
            for i in range(n):
                seed += 1
                _png(root / split / c / f"{i}.png", size, mode, seed)
    return root


def _one_line_error(exc_type, fn, *args, **kw) -> str:
    with pytest.raises(exc_type) as err:
        fn(*args, **kw)
    message = str(err.value)
    assert "\n" not in message and message
    return message


# --- imagefolder -----------------------------------------------------------------------------


def test_colour_folder_of_two_sizes_needs_image_size_and_is_cropped_to_it(tmp_path):
    root = tmp_path / "Pets_2"
    square = _png(root / "train" / "cat" / "a.png", (32, 32), seed=1)
    wide = _png(root / "train" / "cat" / "b.png", (64, 32), seed=2)
    _png(root / "train" / "dog" / "c.png", (40, 36), seed=3)
    _png(root / "train" / "dog" / "d.png", (32, 32), seed=4)
    for c in ("cat", "dog"):
        _png(root / "val" / c / "v.png", (32, 32), seed=5)

    message = _one_line_error(DataError, data.load_dataset, f"imagefolder:{root}")
    assert str(root) in message and "--image-size" in message
    assert "32x32" in message and ("64x32" in message or "40x36" in message)

    ds = data.load_dataset(f"imagefolder:{root}", image_size=32)
    assert ds.classes == ("cat", "dog") and ds.y_train.tolist() == [0, 0, 1, 1]
    assert ds.x_train.shape == (4, 3, 32, 32) and ds.x_train.dtype == torch.uint8
    assert ds.input_shape == (3, 32, 32) and ds.y_test.tolist() == [0, 1]
    assert torch.equal(ds.x_train[0], torch.from_numpy(square).permute(2, 0, 1))
    # 64x32: the shorter side is already 32, so the centre 32 columns are kept untouched
    assert torch.equal(ds.x_train[1], torch.from_numpy(wide[:, 16:48]).permute(2, 0, 1))
    assert ds.name == "imagefolder-pets-2" and ds.spec == f"imagefolder:{root}"
    assert ds.augment == ("crop", "flip") and len(ds.mean) == 3 and not ds.streamed
    expected_mean = ds.x_train.double().mean((0, 2, 3)) / 255
    assert torch.allclose(torch.tensor(ds.mean, dtype=torch.float64), expected_mean, atol=1e-5)


def test_grayscale_folder_gives_one_channel_with_transparency_on_black(tmp_path):
    root = _folder(tmp_path / "digits", size=(20, 24), mode="L", test="test")
    la = _pixels(24, 20, 2, seed=9)
    la[:12, :, 1] = 0  # top half fully transparent
    la[12:, :, 1] = 255
    Image.fromarray(la, "LA").save(root / "train" / "dog" / "z.png")
    ds = data.load_dataset(f"imagefolder:{root}")
    assert ds.input_shape == (1, 24, 20) and len(ds.mean) == len(ds.std) == 1
    last = ds.x_train[-1, 0]  # z.png sorts last in train/dog
    assert last[:12].eq(0).all() and torch.equal(last[12:], torch.from_numpy(la[12:, :, 0]))
    assert "test" in ds.source


def test_palette_and_rgba_images_count_as_colour(tmp_path):
    root = _folder(tmp_path / "f", per_class=1)
    rgba = _pixels(32, 32, 4, seed=3)
    rgba[..., 3] = 0
    Image.fromarray(rgba, "RGBA").save(root / "train" / "cat" / "rgba.png")
    Image.fromarray(_pixels(32, 32, 3, seed=4)).quantize(16).save(root / "train" / "dog" / "p.png")
    ds = data.load_imagefolder(root)
    assert ds.input_shape == (3, 32, 32)
    assert ds.x_train[1].eq(0).all()  # train/cat/rgba.png: invisible everywhere -> black


def test_mixed_channel_counts_are_refused_with_the_counts(tmp_path):
    root = _folder(tmp_path / "f", per_class=2)
    _png(root / "train" / "cat" / "gray.png", mode="L")
    message = _one_line_error(DataError, data.load_imagefolder, root)
    assert message == (
        f"{root}: mixed channel counts (1 grayscale, 8 colour images); convert them to one mode"
    )


def _no_train(root):
    (root / "val" / "a").mkdir(parents=True)


def _no_classes(root):
    (root / "train").mkdir(parents=True)
    (root / "val").mkdir()


def _one_class(root):
    _png(root / "train" / "only" / "a.png")
    _png(root / "val" / "only" / "a.png")


def _empty_class(root):
    _folder(root, per_class=1)
    (root / "train" / "empty").mkdir()
    (root / "train" / "empty" / "notes.txt").write_text("no images here")


def _no_test(root):
    _png(root / "train" / "a" / "a.png")
    _png(root / "train" / "b" / "b.png")


def _corrupt(root):
    _folder(root, per_class=1)
    (root / "train" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")


def _unknown_test_class(root):
    _folder(root, per_class=1)
    _png(root / "val" / "zebra" / "z.png")


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (_no_train, "no train/ folder"),
        (_no_classes, "train: no class folders"),
        (_one_class, "only one class folder (only)"),
        (_empty_class, "empty: a class folder with no images"),
        (_no_test, "no val/ or test/ folder"),
        (_corrupt, "broken.png: unreadable or corrupt image"),
        (_unknown_test_class, "zebra: class 'zebra' is not among train/'s classes"),
    ],
)
def test_broken_folders_are_one_line_naming_the_path(tmp_path, build, expected):
    root = tmp_path / "data"
    build(root)
    message = _one_line_error(DataError, data.load_dataset, f"imagefolder:{root}")
    assert expected in message and str(root) in message


def test_streamed_folder_gives_views_that_split_decode_and_train(tmp_path):
    root = _folder(tmp_path / "big", per_class=5, size=(16, 12))
    memory = data.load_imagefolder(root)
    streamed = data.load_imagefolder(root, memory_limit_bytes=100)
    assert isinstance(streamed.x_train, data.ImageFiles) and streamed.streamed
    assert streamed.x_train.shape == memory.x_train.shape == (10, 3, 12, 16)
    assert len(streamed.x_test) == 4 and streamed.input_shape == (3, 12, 16)
    assert streamed.mean == memory.mean and streamed.std == memory.std
    idx = torch.tensor([7, 2, 2])
    assert torch.equal(streamed.x_train[idx], memory.x_train[idx])
    assert torch.equal(streamed.x_train[3:6], memory.x_train[3:6])

    s = data.make_splits(streamed, holdout_fraction=0.2, limit_test=3, seed=1)
    m = data.make_splits(memory, holdout_fraction=0.2, limit_test=3, seed=1)
    assert isinstance(s.x_train, data.ImageFiles) and isinstance(s.x_holdout, data.ImageFiles)
    assert len(s.x_train) == 8 and len(s.x_holdout) == 2 and len(s.x_test) == 3
    assert torch.equal(s.x_train[torch.arange(8)], m.x_train)
    assert torch.equal(s.x_test[:], m.x_test) and torch.equal(s.y_train, m.y_train)

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 12 * 16, 2))
    opt = loop.make_optimizer(model, "sgd", 0.01, 0.0)
    before = model[1].weight.detach().clone()
    loss, acc = loop.train_epoch(
        model, s.x_train, s.y_train, optimizer=opt,
        schedule=loop.make_schedule(opt, "constant", 0.01, 3),
        scaler=torch.amp.GradScaler("cpu", enabled=False),
        generator=torch.Generator().manual_seed(0), batch_size=3,
        mean=streamed.mean, std=streamed.std,
    )  # fmt: skip
    assert loss > 0 and 0 <= acc <= 100 and not torch.equal(before, model[1].weight)
    stats = {"mean": memory.mean, "std": memory.std}
    streamed_eval = loop.evaluate(model, s.x_test, s.y_test, batch_size=2, **stats)
    assert streamed_eval == pytest.approx(loop.evaluate(model, m.x_test, m.y_test, **stats))


def test_streamed_batches_decode_in_worker_processes(tmp_path):
    root = _folder(tmp_path / "w", per_class=3, size=(8, 8))
    memory = data.load_imagefolder(root)
    view = data.load_imagefolder(root, memory_limit_bytes=0, workers=2).x_train
    order = torch.randperm(6, generator=torch.Generator().manual_seed(3))
    got = list(view.batches([order[:4], order[4:]]))
    assert torch.equal(torch.cat(got), memory.x_train[order])
    assert torch.equal(view.subset(order[:2])[:], memory.x_train[order[:2]])


def test_a_file_broken_after_loading_is_one_line_when_its_batch_is_decoded(tmp_path):
    root = _folder(tmp_path / "late", per_class=2)
    view = data.load_imagefolder(root, memory_limit_bytes=0, workers=1).x_train
    (root / "train" / "dog" / "1.png").write_bytes(b"gone")
    message = _one_line_error(DataError, view.__getitem__, slice(0, 4))
    assert message.startswith(str(root / "train" / "dog" / "1.png"))


def test_memory_limit_comes_from_the_environment(monkeypatch):
    from greenai.ml.data.imagefolder import memory_limit

    assert memory_limit() == 2048 * 2**20 and memory_limit(5) == 5
    monkeypatch.setenv("GREENAI_DATA_MEMORY_MB", "1.5")
    assert memory_limit() == 1536 * 1024
    monkeypatch.setenv("GREENAI_DATA_MEMORY_MB", "lots")
    assert "GREENAI_DATA_MEMORY_MB" in _one_line_error(UsageError, memory_limit)


# --- npz ----------------------------------------------------------------------------------------


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_npz_nhwc_uint8_with_class_names(tmp_path):
    x = _pixels(28, 28, 3, 1)[None].repeat(6, 0)
    spec = _npz(
        tmp_path / "My Set.npz", x_train=x, y_train=np.array([0, 1, 2, 0, 1, 2]),
        x_test=x[:2], y_test=np.array([[2], [1]]), classes=np.array(["a", "b", "c"]),
    )  # fmt: skip
    ds = data.load_dataset(spec)
    assert ds.x_train.shape == (6, 3, 28, 28) and ds.input_shape == (3, 28, 28)
    assert torch.equal(ds.x_train[0], torch.from_numpy(x[0]).permute(2, 0, 1))
    assert ds.classes == ("a", "b", "c") and ds.y_test.tolist() == [2, 1]
    assert ds.name == "npz-my-set" and ds.augment == () and ds.spec == f"npz:{tmp_path}/My Set.npz"
    assert data.dataset_slug(spec) == ds.name


def test_npz_nchw_float_is_scaled_and_test_labels_may_be_unseen(tmp_path):
    x = np.random.default_rng(0).random((4, 3, 8, 10)).astype(np.float32)
    spec = _npz(
        tmp_path / "f.npz", x_train=x, y_train=np.array([0, 1, 0, 1]), x_test=x[:1],
        y_test=np.array([4]),
    )  # fmt: skip
    ds = data.load_dataset(spec)
    assert ds.x_train.shape == (4, 3, 8, 10)
    assert torch.equal(ds.x_train, torch.from_numpy(np.rint(x * 255).astype(np.uint8)))
    assert ds.classes == ("0", "1", "2", "3", "4")


def test_npz_grayscale_three_dimensional(tmp_path):
    x = _pixels(12, 12, 1, 2)[None].repeat(3, 0)
    ds = data.load_dataset(
        _npz(tmp_path / "g.npz", x_train=x, y_train=[0, 1, 1], x_test=x, y_test=[1, 0, 0])
    )
    assert ds.input_shape == (1, 12, 12) and torch.equal(ds.x_test[0, 0], torch.from_numpy(x[0]))
    assert len(ds.mean) == 1


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"x_train": np.zeros((2, 4, 4)), "y_train": [0, 1]}, "missing array(s) x_test, y_test"),
        ({"y_train": [0, -1]}, "y_train: negative labels (smallest -1)"),
        ({"y_train": [0, 1, 1]}, "y_train: 3 labels for 2 images"),
        ({"y_train": [0.0, 1.0]}, "y_train: labels of type float64; expected integers"),
        ({"x_test": np.full((1, 4, 4), 2.0)}, "x_test: float images with values in [2, 2]"),
        ({"x_train": np.zeros((2, 4, 4, 5), np.uint8)}, "x_train: images of shape (2, 4, 4, 5)"),
    ],
)  # fmt: skip
def test_bad_npz_is_one_line_naming_the_array(tmp_path, arrays, expected):
    good = {"x_train": np.zeros((2, 4, 4), np.uint8), "y_train": [0, 1]}
    good |= {"x_test": np.zeros((1, 4, 4), np.uint8), "y_test": [1]}
    if "missing" in expected:
        good = arrays
    else:
        good |= arrays
    message = _one_line_error(DataError, data.load_dataset, _npz(tmp_path / "bad.npz", **good))
    assert str(tmp_path / "bad.npz") in message and expected in message


# --- MODULE:NAME ----------------------------------------------------------------------------------

MODULE = """
import numpy as np
import torch
from PIL import Image

def arrays():
    x = torch.zeros((4, 3, 6, 6), dtype=torch.uint8)
    x[1] = 200
    return x, torch.tensor([0, 1, 0, 1]), x[:2].numpy(), np.array([1, 0])

class Items(torch.utils.data.Dataset):
    def __init__(self, n, as_pil):
        self.n, self.as_pil = n, as_pil
    def __len__(self):
        return self.n
    def __getitem__(self, i):
        if self.as_pil:
            return Image.new("RGB", (5, 4), (i * 10, 0, 0)), i % 3
        return torch.full((3, 4, 5), i / 10), torch.tensor(i % 3)

def datasets():
    return Items(6, as_pil=True), Items(3, as_pil=False)

def nonsense():
    return {"x": 1}
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_data.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_data"


def test_module_returning_arrays(user_module):
    ds = data.load_dataset(f"{user_module}:arrays")
    assert ds.x_train.shape == (4, 3, 6, 6) and ds.x_train[1].eq(200).all()
    assert ds.classes == ("0", "1") and ds.name == "arrays" and ds.spec == "my_data:arrays"
    assert ds.augment == ()


def test_module_returning_torch_datasets(user_module):
    ds = data.load_dataset(f"{user_module}:datasets")
    assert ds.x_train.shape == (6, 3, 4, 5) and ds.x_test.shape == (3, 3, 4, 5)
    assert ds.x_train[:, 0, 0, 0].tolist() == [0, 10, 20, 30, 40, 50]  # PIL HWC -> CHW
    assert ds.x_test[:, 0, 0, 0].tolist() == [0, 26, 51]  # float 0..1 -> 0..255, rounded
    assert ds.y_train.tolist() == [0, 1, 2, 0, 1, 2] and ds.num_classes == 3


def test_module_errors_are_one_line(user_module):
    message = _one_line_error(DataError, data.load_dataset, f"{user_module}:nonsense")
    assert "nonsense() returned a dict" in message and "expected" in message
    message = _one_line_error(UsageError, data.load_dataset, "no_such_module_xyz:load")
    assert "cannot import module 'no_such_module_xyz'" in message
    assert "has no 'missing'" in _one_line_error(
        UsageError, data.check_dataset_spec, "my_data:missing"
    )


# --- specs ----------------------------------------------------------------------------------------


def test_specs_slugs_and_cheap_checks(tmp_path, user_module):
    assert data.dataset_slug("cifar10") == "cifar10"
    assert data.dataset_slug(f"imagefolder:{tmp_path}/Image_Net/") == "imagefolder-image-net"
    assert data.dataset_slug("pkg.sub:load_my_data") == "load-my-data"
    data.check_dataset_spec("synthetic")
    data.check_dataset_spec(f"{user_module}:arrays")
    data.check_dataset_spec(f"imagefolder:{_folder(tmp_path / 'ok', per_class=1)}", image_size=16)
    assert "no such file" in _one_line_error(DataError, data.check_dataset_spec, "npz:nope.npz")
    assert "no train/" in _one_line_error(
        DataError, data.check_dataset_spec, f"imagefolder:{tmp_path}"
    )
    assert "--image-size" in _one_line_error(
        UsageError, data.check_dataset_spec, "synthetic", image_size=32
    )
    assert "unknown dataset 'mnist'" in _one_line_error(
        UsageError, data.check_dataset_spec, "mnist"
    )
    assert "MODULE:NAME" in _one_line_error(UsageError, data.check_dataset_spec, "a b:c")
