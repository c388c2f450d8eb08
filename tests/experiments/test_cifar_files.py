"""The official CIFAR-10 formats, read without trusting them."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
from official_format import batch_bytes, py2_pickle, write_tarball

from greenai.errors import DataError
from greenai.ml import data
from greenai.ml.data import cifar_files


def test_batches_dir_round_trips_images_and_labels(batches_dir, tiny_arrays_):
    parts = cifar_files.read_batches_dir(batches_dir)
    xtr, ytr, xte, yte = tiny_arrays_
    np.testing.assert_array_equal(parts["train"][0], xtr)
    np.testing.assert_array_equal(parts["train"][1], ytr)
    np.testing.assert_array_equal(parts["test"][0], xte)
    np.testing.assert_array_equal(parts["test"][1], yte)


def test_official_pickles_use_python2_strings_and_numpy_core():
    blob = batch_bytes(np.zeros((1, 32, 32, 3), np.uint8), np.array([3]))
    assert b"numpy.core.multiarray\n_reconstruct" in blob
    assert b"_codecs" not in blob  # Python 2 str, not Python 3 bytes


def test_tarball_read_without_extracting(tmp_path, batches_dir, tiny_arrays_):
    tarball = write_tarball(tmp_path / "d" / cifar_files.TARBALL_NAME, batches_dir)
    ds = data.load_dataset("cifar10", data_dir=tarball.parent)
    assert ds.source.startswith("tarball")
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_train.dtype.is_floating_point is False
    # (N, 3, H, W) tensor from (N, H, W, 3) arrays: pixel (0, 0) of image 0 keeps its channels
    assert ds.x_train[0, :, 0, 0].tolist() == tiny_arrays_[0][0, 0, 0].tolist()
    assert not (tmp_path / "d" / cifar_files.BATCHES_DIR).exists()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = 4 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    "member",
    [
        _member("cifar-10-batches-py/../../escape.txt"),
        _member("/etc/escape.txt"),
        _member("cifar-10-batches-py/evil", tarfile.SYMTYPE, "/etc/passwd"),
        _member("cifar-10-batches-py/hard", tarfile.LNKTYPE, "cifar-10-batches-py/test_batch"),
        _member("cifar-10-batches-py/fifo", tarfile.FIFOTYPE),
    ],
    ids=["dotdot", "absolute", "symlink", "hardlink", "fifo"],
)
def test_unsafe_tarball_is_refused_and_nothing_extracted(tmp_path, batches_dir, member):
    tarball = write_tarball(tmp_path / "bad.tar.gz", batches_dir, extra=[member])
    with pytest.raises(DataError, match="refused"):
        cifar_files.read_tarball(tarball)
    target = tmp_path / "target"
    with pytest.raises(DataError, match="refused"):
        cifar_files.safe_extract(tarball, target)
    assert not (tmp_path / "escape.txt").exists()
    assert not target.exists() or not any(target.rglob("*"))


def test_safe_extract_extracts_a_good_tarball(tmp_path, batches_dir):
    tarball = write_tarball(tmp_path / "ok.tar.gz", batches_dir)
    cifar_files.safe_extract(tarball, tmp_path / "out")
    parts = cifar_files.read_batches_dir(tmp_path / "out" / cifar_files.BATCHES_DIR)
    assert len(parts["train"][1]) == 20


def test_restricted_unpickler_refuses_code_execution(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    blob = pickle.dumps({"data": Evil(), "labels": []}, protocol=2)
    with pytest.raises(DataError, match=r"refused.*system"):
        cifar_files.parse_batch(blob, what="evil")
    assert not (tmp_path / "pwned").exists()


def test_restricted_unpickler_refuses_other_globals():
    blob = pickle.dumps({"labels": [], "data": io.BytesIO}, protocol=2)
    with pytest.raises(DataError, match="refused"):
        cifar_files.parse_batch(blob, what="x")


@pytest.mark.parametrize("cut", [10, 200, 2000])
def test_truncated_batch_is_data_error(batches_dir, cut):
    path = batches_dir / "data_batch_1"
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(DataError, match="data_batch_1"):
        cifar_files.read_batches_dir(batches_dir)


def test_wrong_shapes_are_data_error():
    blob = py2_pickle({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]})
    with pytest.raises(DataError, match="3072"):
        cifar_files.parse_batch(blob, what="x")
    blob = py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 12]})
    with pytest.raises(DataError, match="labels"):
        cifar_files.parse_batch(blob, what="x")


def test_truncated_tarball_is_data_error(tmp_path, batches_dir):
    tarball = write_tarball(tmp_path / "t" / cifar_files.TARBALL_NAME, batches_dir)
    tarball.write_bytes(tarball.read_bytes()[: tarball.stat().st_size // 2])
    with pytest.raises(DataError):
        data.load_dataset("cifar10", data_dir=tarball.parent)


def test_md5_check_on_a_local_file(tmp_path):
    f = tmp_path / "file.bin"
    f.write_bytes(b"greenai")
    cifar_files.verify_md5(f, hashlib.md5(b"greenai").hexdigest())
    with pytest.raises(DataError, match="does not match the official"):
        cifar_files.verify_md5(f)  # the official tarball's MD5


def test_download_checks_the_md5_and_keeps_nothing_when_it_differs(tmp_path, batches_dir):
    tarball = write_tarball(tmp_path / "served" / cifar_files.TARBALL_NAME, batches_dir)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="does not match the official"):
        cifar_files.download_cifar10(cache, url=tarball.as_uri())  # a local file:// URL
    assert list(cache.iterdir()) == []
    folder = cifar_files.download_cifar10(
        cache, url=tarball.as_uri(), md5=cifar_files.md5_of(tarball)
    )
    assert folder == cache / cifar_files.BATCHES_DIR
    assert len(cifar_files.read_batches_dir(folder)["test"][1]) == 4
