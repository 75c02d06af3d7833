"""Image datasets: tiny files written here in the real formats (gzipped IDX, the CIFAR-10
binary tar.gz) are loaded with Keras's shapes and dtypes; checksums are enforced; a
missing file gives an error naming the file and where to put it; the synthetic digits."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import tarfile

import numpy as np
import pytest

from lamina.data import vision as V


def _idx_bytes(arr):
    code = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}[arr.dtype.type]
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path))

    def offline(url, dest, timeout=30):
        raise OSError("network unreachable (test)")
    monkeypatch.setattr(V, "_download", offline)
    return tmp_path


def _write_mnist(home, name, monkeypatch, n_train=5, n_test=3):
    rng = np.random.default_rng(0)
    folder = home / "datasets" / name
    folder.mkdir(parents=True)
    data = {}
    sums = dict(V.CHECKSUMS[name])
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        y = rng.integers(0, 10, n).astype(np.uint8)
        data[split] = (x, y)
        for kind, arr in (("images-idx3", x), ("labels-idx1", y)):
            fname = f"{split}-{kind}-ubyte.gz"
            p = folder / fname
            p.write_bytes(gzip.compress(_idx_bytes(arr)))
            sums[fname] = (sums[fname][0], _sha(p))
    monkeypatch.setitem(V.CHECKSUMS, name, sums)
    return data


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_format_loads_with_keras_shapes(home, monkeypatch, name):
    data = _write_mnist(home, name, monkeypatch)
    (xtr, ytr), (xte, yte) = getattr(V, name).load_data()
    assert xtr.shape == (5, 28, 28) and xtr.dtype == np.uint8
    assert ytr.shape == (5,) and ytr.dtype == np.uint8
    assert xte.shape == (3, 28, 28) and yte.shape == (3,)
    np.testing.assert_array_equal(xtr, data["train"][0])
    np.testing.assert_array_equal(yte, data["t10k"][1])


def test_checksum_mismatch_is_refused(home, monkeypatch):
    _write_mnist(home, "mnist", monkeypatch)
    p = home / "datasets" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes() + b"x")
    with pytest.raises(ValueError, match="SHA-256 .* expected"):
        V.mnist.load_data()


def test_missing_file_says_what_to_put_where(home):
    with pytest.raises(FileNotFoundError) as e:
        V.mnist.load_data()
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg
    assert os.path.join(str(home), "datasets", "mnist", "train-images-idx3-ubyte.gz") in msg
    assert "https://" in msg and "network unreachable" in msg
    with pytest.raises(FileNotFoundError, match="cifar-10-binary.tar.gz"):
        V.cifar10.load_data(download=False)


def test_default_cache_dir(monkeypatch):
    monkeypatch.delenv("LAMINA_HOME", raising=False)
    assert V.cache_dir() == os.path.join(os.path.expanduser("~"), ".lamina", "datasets")


def test_cifar10_binary_release(home, monkeypatch):
    rng = np.random.default_rng(1)
    folder = home / "datasets" / "cifar10"
    folder.mkdir(parents=True)
    path = folder / "cifar-10-binary.tar.gz"
    batches = {}
    with tarfile.open(path, "w:gz") as tar:
        for name, n in [(f"data_batch_{i}.bin", 2) for i in range(1, 6)] + \
                       [("test_batch.bin", 3)]:
            img = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
            lab = rng.integers(0, 10, n).astype(np.uint8)
            batches[name] = (img, lab)
            rec = np.concatenate([lab[:, None], img.transpose(0, 3, 1, 2).reshape(n, -1)], 1)
            raw = rec.astype(np.uint8).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    monkeypatch.setitem(V.CHECKSUMS, "cifar10",
                        {"cifar-10-binary.tar.gz": ("https://example", _sha(path))})
    (xtr, ytr), (xte, yte) = V.cifar10.load_data()
    assert xtr.shape == (10, 32, 32, 3) and xtr.dtype == np.uint8
    assert ytr.shape == (10, 1) and ytr.dtype == np.uint8
    assert xte.shape == (3, 32, 32, 3) and yte.shape == (3, 1)
    np.testing.assert_array_equal(xtr[:2], batches["data_batch_1.bin"][0])
    np.testing.assert_array_equal(xtr[8:], batches["data_batch_5.bin"][0])
    np.testing.assert_array_equal(yte[:, 0], batches["test_batch.bin"][1])


def test_read_idx_rejects_bad_files(tmp_path):
    p = tmp_path / "bad.idx"
    p.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        V.read_idx(str(p))
    good = _idx_bytes(np.arange(6, dtype=np.int32).reshape(2, 3))
    p.write_bytes(good[:-2])
    with pytest.raises(ValueError, match="declares shape"):
        V.read_idx(str(p))
    p.write_bytes(good)
    np.testing.assert_array_equal(V.read_idx(str(p)), np.arange(6).reshape(2, 3))


def test_synthetic_digits():
    (xtr, ytr), (xte, yte) = V.synthetic_digits(n_train=300, n_test=100, seed=3)
    assert xtr.shape == (300, 28, 28) and xtr.dtype == np.uint8
    assert ytr.shape == (300,) and ytr.dtype == np.uint8 and xte.shape == (100, 28, 28)
    assert set(np.unique(ytr)) == set(range(10))
    # digits are drawn in the frame (ink present) and shifted (centres of mass vary)
    assert (xtr.reshape(300, -1).max(axis=1) > 150).all()
    rows = (xtr.sum(axis=2) * np.arange(28)).sum(axis=1) / xtr.sum(axis=(1, 2))
    assert rows.std() > 1.0
    (a, _), _ = V.synthetic_digits(n_train=300, n_test=100, seed=3)
    np.testing.assert_array_equal(a, xtr)
    (b, _), _ = V.synthetic_digits(n_train=300, n_test=100, seed=4)
    assert not np.array_equal(a, b)
