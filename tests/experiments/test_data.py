"""Finding and loading data sets; batch-level augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from official_format import tiny_arrays, write_batches_dir

from greenai.errors import DataError, UsageError
from greenai.ml import data


def _write_npz_pair(folder, arrays):
    xtr, ytr, xte, yte = arrays
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "cifar10_train.npz", x=xtr, y=ytr)
    np.savez(folder / "cifar10_test.npz", x=xte, y=yte)
    return folder


def test_missing_data_says_where_it_looked_and_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENAI_DATA_DIR", str(tmp_path / "envdir"))
    with pytest.raises(DataError) as err:
        data.locate_cifar10()
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "envdir") in message
    assert str(tmp_path / "xdg-cache" / "greenai" / "data") in message
    assert "--download" in message and "--data-dir" in message


def test_explicit_data_dir_is_the_only_place_looked(tmp_path, monkeypatch):
    _write_npz_pair(tmp_path / "env", tiny_arrays())
    monkeypatch.setenv("GREENAI_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DataError, match="nowhere"):
        data.locate_cifar10(tmp_path / "nowhere")


def test_lookup_order_env_then_cache(tmp_path, monkeypatch):
    cache = tmp_path / "xdg-cache" / "greenai" / "data"
    write_batches_dir(cache, tiny_arrays(seed=1))
    assert data.locate_cifar10() == ("batches", cache / "cifar-10-batches-py")
    _write_npz_pair(tmp_path / "env", tiny_arrays(seed=2))
    monkeypatch.setenv("GREENAI_DATA_DIR", str(tmp_path / "env"))
    assert data.locate_cifar10() == ("npz", tmp_path / "env")


def test_npz_pair_and_batches_give_the_same_dataset(tmp_path):
    arrays = tiny_arrays(seed=3)
    a = data.load_dataset("cifar10", _write_npz_pair(tmp_path / "npz", arrays))
    write_batches_dir(tmp_path / "b", arrays)
    b = data.load_dataset("cifar10", tmp_path / "b")
    assert a.source.startswith("npz") and b.source.startswith("batches")
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert a.x_train.dtype == torch.uint8 and a.x_train.shape == (20, 3, 32, 32)
    assert a.y_train.dtype == torch.int64


def test_corrupt_npz_is_data_error(tmp_path):
    folder = _write_npz_pair(tmp_path / "npz", tiny_arrays())
    (folder / "cifar10_test.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"cifar10_test\.npz"):
        data.load_dataset("cifar10", folder)


def test_npz_with_object_arrays_is_refused(tmp_path):
    folder = _write_npz_pair(tmp_path / "npz", tiny_arrays())
    np.savez(folder / "cifar10_train.npz", x=np.array([object()], dtype=object), y=np.zeros(1))
    with pytest.raises(DataError, match=r"cifar10_train\.npz"):
        data.load_dataset("cifar10", folder)


def test_unknown_dataset_is_usage_error():
    with pytest.raises(UsageError, match="unknown dataset 'mnist'"):
        data.load_dataset("mnist")


def test_synthetic_is_seeded_and_says_accuracy_means_nothing():
    a, b = data.synthetic(seed=5), data.synthetic(seed=5)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert "means nothing" in a.note
    assert a.x_train.dtype == torch.uint8


def test_splits_hold_out_training_images_never_test_ones():
    ds = data.synthetic(n_train=200, n_test=50)
    s = data.make_splits(ds, holdout_fraction=0.25, limit_train=100, limit_test=20, seed=1)
    assert len(s.y_holdout) == 50 and len(s.y_train) == 100 and len(s.y_test) == 20
    assert torch.equal(s.x_test, ds.x_test[:20])
    flat = ds.x_train.flatten(1)
    rows = {tuple(r.tolist()) for r in flat}
    train_rows = {tuple(r.tolist()) for r in s.x_train.flatten(1)}
    hold_rows = {tuple(r.tolist()) for r in s.x_holdout.flatten(1)}
    assert train_rows <= rows and hold_rows <= rows and not train_rows & hold_rows


def test_augment_keeps_shape_dtype_and_only_shifts_or_flips():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 256, (64, 3, 32, 32), dtype=torch.uint8)
    out = data.augment(x, g)
    assert out.shape == x.shape and out.dtype == torch.uint8
    # every output image is its input shifted by at most 4 px (zero fill) and maybe mirrored
    for i in range(8):
        candidates = []
        for img in (x[i], x[i].flip(2)):
            padded = torch.nn.functional.pad(img, (4, 4, 4, 4))
            candidates += [
                padded[:, dy : dy + 32, dx : dx + 32] for dy in range(9) for dx in range(9)
            ]
        assert any(torch.equal(out[i], c) for c in candidates)
    assert not torch.equal(out, x)  # something moved


def test_normalize_uses_channel_statistics():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    out = data.normalize(x, (0.5, 0.5, 0.5), (0.5, 0.25, 0.5), torch.float32)
    assert out.dtype == torch.float32
    assert torch.allclose(out[:, 0], torch.ones(1)) and torch.allclose(
        out[:, 1], torch.full((1,), 2.0)
    )


@pytest.mark.slow
def test_real_cifar10_slice_loads_and_trains_a_step(cifar10_dir):
    from greenai.ml.models import create_model
    from greenai.ml.training import loop

    ds = data.load_dataset("cifar10", cifar10_dir)
    assert ds.x_train.shape == (50000, 3, 32, 32) and ds.x_test.shape == (10000, 3, 32, 32)
    assert ds.y_train.bincount().tolist() == [5000] * 10
    mean = ds.x_train[:5000].float().mean((0, 2, 3)) / 255
    assert torch.allclose(mean, torch.tensor(data.CIFAR10_MEAN), atol=0.01)
    s = data.make_splits(ds, limit_train=512, limit_test=256, seed=0)
    model = create_model("seed_cnn")
    opt = loop.make_optimizer(model, "adam", 1e-3, 0.0)
    sched = loop.make_schedule(opt, "constant", 1e-3, 8)
    before = [p.detach().clone() for p in model.parameters()]
    loss, acc = loop.train_epoch(
        model, s.x_train, s.y_train, optimizer=opt, schedule=sched,
        scaler=torch.amp.GradScaler("cpu", enabled=False), generator=torch.Generator().manual_seed(0),
        batch_size=64, mean=ds.mean, std=ds.std,
    )  # fmt: skip
    assert 0 < loss < 5 and 0 <= acc <= 100
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    _loss, test_acc = loop.evaluate(model, s.x_test, s.y_test, mean=ds.mean, std=ds.std)
    assert len(s.y_test) == 256 and 0 <= test_acc <= 100


def test_augment_reflect_shifts_within_the_pad_with_a_mirrored_border():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    out = data.augment(x, g, pad_px=2, reflect=True)
    assert out.shape == x.shape and out.dtype == torch.uint8
    seen = set()
    for i in range(64):
        matches = []
        for flipped, img in ((False, x[i]), (True, x[i].flip(2))):
            padded = torch.nn.functional.pad(img[None].float(), (2, 2, 2, 2), mode="reflect")[0]
            for dy in range(5):
                for dx in range(5):
                    if torch.equal(out[i].float(), padded[:, dy : dy + 32, dx : dx + 32]):
                        matches.append((flipped, dy, dx))
        assert matches, f"image {i} is not a reflect-padded 2-px crop of its input"
        seen.update(matches)
    assert len(seen) > 10  # offsets and flips vary across the batch


def test_builtin_datasets_describe_their_shape_augmentations_and_spec(tmp_path):
    syn = data.synthetic(n_train=8, n_test=4)
    assert syn.input_shape == (3, 32, 32) and syn.augment == ("crop", "flip")
    assert syn.spec == "synthetic" and syn.name == "synthetic" and not syn.streamed
    cifar = data.load_dataset("cifar10", _write_npz_pair(tmp_path / "c", tiny_arrays()))
    assert cifar.spec == "cifar10" and cifar.mean == data.CIFAR10_MEAN
    assert cifar.augment == ("crop", "flip") and cifar.input_shape == (3, 32, 32)
    assert data.DATASETS == ("cifar10", "synthetic")
    data.check_dataset_name("imagefolder:/not/looked/at")  # the form only, no file system
    with pytest.raises(DataError, match="CIFAR-10 not found"):
        data.check_dataset_spec("cifar10", tmp_path / "empty")
    data.check_dataset_spec("cifar10", tmp_path / "empty", download=True)  # to be fetched later


def test_channel_stats_match_the_pixels_and_survive_a_constant_channel():
    x = torch.randint(0, 256, (50, 3, 4, 4), dtype=torch.uint8)
    x[:, 2] = 7
    mean, std = data.channel_stats(x, max_images=50, batch_size=16)
    pixels = x.transpose(0, 1).reshape(3, -1).double() / 255
    assert mean == pytest.approx(pixels.mean(1).tolist(), abs=1e-6)
    assert std[:2] == pytest.approx(pixels.std(1, unbiased=False)[:2].tolist(), abs=1e-6)
    assert std[2] == 1.0  # constant: no division by zero when normalising


class _Recorder(torch.nn.Module):
    """A linear model that keeps every batch it is given (what the loop fed it)."""

    def __init__(self, n_in: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(n_in, 2)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.fc(x.flatten(1))


def _fed(x, **flags):
    """(what train_epoch fed the model, the un-augmented images in the same order), normalised."""
    from greenai.ml.training import loop

    model = _Recorder(x[0].numel())
    opt = loop.make_optimizer(model, "sgd", 0.0, 0.0)
    stats = {"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}
    loop.train_epoch(
        model, x, torch.arange(len(x)) % 2, optimizer=opt,
        schedule=loop.make_schedule(opt, "constant", 0.0, 1),
        scaler=torch.amp.GradScaler("cpu", enabled=False),
        generator=torch.Generator().manual_seed(0), batch_size=len(x), **stats, **flags,
    )  # fmt: skip
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return model.seen[0], data.normalize(x[order], **stats, dtype=torch.float32)


def test_training_loop_applies_only_the_augmentations_asked_for():
    x = torch.randint(1, 256, (16, 3, 8, 8), dtype=torch.uint8)
    seen, plain = _fed(x, crop=False, flip=False)
    assert torch.equal(seen, plain)
    seen, plain = _fed(x, do_augment=False)  # the config's switch still turns both off
    assert torch.equal(seen, plain)
    seen, plain = _fed(x, crop=False, flip=True)
    mirrored = [torch.equal(s, p.flip(2)) for s, p in zip(seen, plain, strict=True)]
    kept = [torch.equal(s, p) for s, p in zip(seen, plain, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True)) and any(mirrored)
    seen, plain = _fed(x, crop=True, flip=False)
    zero = data.normalize(
        torch.zeros(1, 3, 1, 1, dtype=torch.uint8), (0.5,) * 3, (0.25,) * 3, torch.float32
    )[0]
    for s, p in zip(seen, plain, strict=True):
        padded = torch.nn.functional.pad(p - zero, (4, 4, 4, 4)) + zero  # pads with black pixels
        assert any(
            torch.allclose(s, padded[:, dy : dy + 8, dx : dx + 8], atol=1e-5)
            for dy in range(9)
            for dx in range(9)
        )  # shifted, never mirrored
    assert not torch.equal(seen, plain)
