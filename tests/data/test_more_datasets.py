"""Boston/California housing, CIFAR-100 and Reuters: tiny files written here in the real
formats (numeric .npz, the CIFAR-100 binary tar.gz, lamina's pickle-free token file) load
with Keras's shapes, dtypes and splits; digests are enforced; missing or corrupt files give
errors naming the file, the URL and the place to put it; nothing is unpickled."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import numpy as np
import pytest

from lamina.data import housing as H
from lamina.data import text_datasets as T
from lamina.data import vision as V


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path))

    def offline(url, dest, timeout=30):
        raise OSError("network unreachable (test)")
    monkeypatch.setattr(V, "_download", offline)
    monkeypatch.setattr(T, "_download", offline)
    return tmp_path


def _sha(path, algo="sha256"):
    return hashlib.new(algo, open(path, "rb").read()).hexdigest()


# ------------------------------------------------------------------ housing
def _write_housing(home, monkeypatch, name, n=23, features=13):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, features))
    y = rng.uniform(10, 50, n)
    path = home / "datasets" / name / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y)
    monkeypatch.setitem(H.PINS, name, _sha(path))
    return x, y


def _keras_split(x, y, test_split, seed):
    idx = np.arange(len(x))
    np.random.RandomState(seed).shuffle(idx)
    cut = int(len(x) * (1 - test_split))
    return (x[idx][:cut], y[idx][:cut]), (x[idx][cut:], y[idx][cut:])


@pytest.mark.parametrize("kw", [{}, {"test_split": 0.5, "seed": 3}, {"test_split": 0.0}])
def test_boston_split_as_keras(home, monkeypatch, kw):
    x, y = _write_housing(home, monkeypatch, "boston_housing")
    from lamina import keras
    got = keras.datasets.boston_housing.load_data(**kw)
    want = _keras_split(x, y, kw.get("test_split", 0.2), kw.get("seed", 113))
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            assert a.dtype == np.float64
            np.testing.assert_array_equal(a, b)
    assert got[0][0].shape[1] == 13


def test_california_versions_and_errors(home, monkeypatch):
    x, y = _write_housing(home, monkeypatch, "california_housing", n=650, features=8)
    (xtr, _), (xte, _) = H.california_housing.load_data(version="small")
    assert (len(xtr), len(xte)) == (480, 120)
    assert {tuple(r) for r in np.concatenate([xtr, xte])} == {tuple(r) for r in x[:600]}
    (xtr, _), (xte, _) = H.california_housing.load_data()
    assert (len(xtr), len(xte)) == (520, 130)
    with pytest.raises(ValueError, match="version must be one of"):
        H.california_housing.load_data(version="medium")
    with pytest.raises(ValueError, match="test_split"):
        H.california_housing.load_data(test_split=1.0)


def test_housing_missing_corrupt_and_bad_files(home, monkeypatch):
    with pytest.raises(FileNotFoundError) as e:
        H.boston_housing.load_data()
    msg = str(e.value)
    assert "boston_housing.npz" in msg and "storage.googleapis.com" in msg
    assert os.path.join(str(home), "datasets", "boston_housing", "boston_housing.npz") in msg
    _write_housing(home, monkeypatch, "boston_housing")
    path = home / "datasets" / "boston_housing" / "boston_housing.npz"
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ValueError, match="SHA-256 .* expected"):
        H.boston_housing.load_data()
    # object arrays (pickle) and missing keys are refused with a clear message
    obj = np.empty(2, dtype=object)
    obj[:] = [[1.0], [2.0, 3.0]]
    for arrays, pattern in ((dict(x=obj, y=np.zeros(2)), "pickle"),
                            (dict(x=np.zeros((2, 13))), r"lacks arrays \['y'\]"),
                            (dict(x=np.zeros((2, 13)), y=np.zeros(3)), "2 samples in x")):
        other = home / "elsewhere.npz"
        np.savez(other, **arrays)
        monkeypatch.setitem(H.PINS, "boston_housing", _sha(other))
        with pytest.raises(ValueError, match=pattern):
            H.boston_housing.load_data(path=str(other))      # absolute paths used as given


# ------------------------------------------------------------------ CIFAR-100
def _write_cifar100(home, monkeypatch, n_train=7, n_test=3):
    rng = np.random.default_rng(2)
    data, files = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        img = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
        coarse = rng.integers(0, 20, n).astype(np.uint8)
        fine = rng.integers(0, 100, n).astype(np.uint8)
        planes = img.transpose(0, 3, 1, 2).reshape(n, -1)      # R, G, B planes, row-major
        files[f"cifar-100-binary/{split}.bin"] = np.concatenate(
            [coarse[:, None], fine[:, None], planes], axis=1).tobytes()
        data[split] = (img, coarse, fine)
    files["cifar-100-binary/fine_label_names.txt"] = b"apple\n"
    path = home / "datasets" / "cifar100" / "cifar-100-binary.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_pinned_tar(path, files, monkeypatch)
    return data, path


def _write_pinned_tar(path, files, monkeypatch):
    """Write ``files`` ({member name: bytes}) as the CIFAR-100 archive at ``path`` and pin
    its MD5 as the published digest."""
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    url = V.CHECKSUMS["cifar100"]["cifar-100-binary.tar.gz"][0]
    monkeypatch.setitem(V.CHECKSUMS, "cifar100",
                        {"cifar-100-binary.tar.gz": (url, _sha(path, "md5"))})


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_binary_with_keras_shapes(home, monkeypatch, label_mode):
    data, _ = _write_cifar100(home, monkeypatch)
    from lamina import keras
    (xtr, ytr), (xte, yte) = keras.datasets.cifar100.load_data(label_mode=label_mode)
    assert xtr.shape == (7, 32, 32, 3) and xtr.dtype == np.uint8
    assert ytr.shape == (7, 1) and yte.shape == (3, 1) and ytr.dtype == np.int64
    col = 2 if label_mode == "fine" else 1
    np.testing.assert_array_equal(xtr, data["train"][0])
    np.testing.assert_array_equal(xte, data["test"][0])
    np.testing.assert_array_equal(ytr[:, 0], data["train"][col])
    np.testing.assert_array_equal(yte[:, 0], data["test"][col])


def test_cifar100_errors(home, monkeypatch):
    with pytest.raises(ValueError, match="label_mode"):
        V.cifar100.load_data(label_mode="medium")
    with pytest.raises(FileNotFoundError) as e:
        V.cifar100.load_data()
    assert "cifar-100-binary.tar.gz" in str(e.value) and "toronto.edu" in str(e.value)
    _, path = _write_cifar100(home, monkeypatch)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="MD5 .* expected"):
        V.cifar100.load_data()
    # an archive without test.bin, and a record of the wrong size
    for files, pattern in (({"train.bin": b"\0" * 3074}, "lacks test.bin"),
                           ({"train.bin": b"\0" * 3074, "test.bin": b"\0" * 3073},
                            "3074-byte record")):
        _write_pinned_tar(path, files, monkeypatch)
        with pytest.raises(ValueError, match=pattern):
            V.cifar100.load_data()


# ------------------------------------------------------------------ Reuters
RAW = [[0, 1, 2], [5, 3, 3, 9, 1], [4], [2, 2], [7, 8, 0, 1, 6, 5], [3, 1], [6, 0, 2, 11],
       [1], [9, 9, 4], [10, 0]]
LABELS = [3, 4, 3, 1, 19, 3, 4, 11, 3, 45]


@pytest.fixture
def reuters_file(home):
    path = home / "datasets" / "reuters" / "reuters.npz"
    T.save_reuters_tokens(str(path), RAW, LABELS)
    return path


def test_reuters_shuffles_indexes_and_splits_as_keras(reuters_file):
    from lamina import keras
    (xtr, ytr), (xte, yte) = keras.datasets.reuters.load_data()
    idx = np.arange(10)
    np.random.RandomState(113).shuffle(idx)
    assert xtr.dtype == object and ytr.dtype == np.int64 and (len(xtr), len(xte)) == (8, 2)
    # num_words=None keeps ids below the largest one: Keras turns the largest into oov_char
    want = [[w if w < 14 else 2 for w in [1] + [w + 3 for w in RAW[i]]] for i in idx]
    assert [list(s) for s in xtr] + [list(s) for s in xte] == want
    np.testing.assert_array_equal(np.concatenate([ytr, yte]), np.array(LABELS)[idx])
    (xtr, ytr), (xte, _) = T.reuters.load_data(num_words=8, skip_top=4, maxlen=4,
                                               test_split=0.5, start_char=None, index_from=0)
    kept = [i for i in idx if len(RAW[i]) < 4]
    assert [list(s) for s in xtr] + [list(s) for s in xte] == \
        [[w if 4 <= w < 8 else 2 for w in RAW[i]] for i in kept]
    np.testing.assert_array_equal(ytr, np.array(LABELS)[kept][:len(kept) // 2])
    (xtr, _), _ = T.reuters.load_data(num_words=6, oov_char=None, test_split=0.0)
    assert all(all(w < 6 for w in s) for s in xtr) and len(xtr) == 10


def test_reuters_file_is_plain_and_checked(home, reuters_file):
    with np.load(reuters_file, allow_pickle=False) as f:
        assert sorted(f.files) == ["x_offsets", "x_tokens", "y"]
        assert f["x_tokens"].dtype == np.int32
    data = bytearray(reuters_file.read_bytes())
    data[-30] ^= 0xFF
    reuters_file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        T.reuters.load_data()
    # Keras's own reuters.npz (object arrays) is refused, with the converter named
    os.remove(str(reuters_file) + ".sha256")
    obj = np.empty(2, dtype=object)
    obj[:] = [[1, 2], [3]]
    np.savez(reuters_file, x=obj, y=np.array([1, 2]))
    with pytest.raises(ValueError, match="pickle.*save_reuters_tokens"):
        T.reuters.load_data()
    reuters_file.unlink()
    with pytest.raises(FileNotFoundError, match="save_reuters_tokens.*reuters.npz"):
        T.reuters.load_data()
    T.save_reuters_tokens(str(reuters_file), RAW, LABELS)
    with pytest.raises(ValueError, match="maxlen=1"):
        T.reuters.load_data(maxlen=1)
    with pytest.raises(ValueError, match="test_split"):
        T.reuters.load_data(test_split=-0.1)
    with pytest.raises(ValueError, match="3 sequences but 2 labels"):
        T.save_reuters_tokens(str(home / "r.npz"), RAW[:3], LABELS[:2])


def test_reuters_word_index_and_labels(home, monkeypatch):
    with pytest.raises(FileNotFoundError, match="reuters_word_index.json"):
        T.reuters.get_word_index()
    p = home / "datasets" / "reuters" / "reuters_word_index.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"the": 1, "of": 2}))
    with pytest.raises(ValueError, match="MD5 .* expected"):       # Keras's pin is checked
        T.reuters.get_word_index()
    monkeypatch.setattr(T, "REUTERS_WORD_INDEX_MD5", _sha(p, "md5"))
    assert T.reuters.get_word_index() == {"the": 1, "of": 2}
    names = T.reuters.get_label_names()
    assert isinstance(names, tuple) and len(names) == 46 and names[3] == "earn"


# ------------------------------------------------------------------ facade, safety
def test_preprocessing_aliases_are_the_utils_functions():
    from lamina import keras
    assert keras.preprocessing.text_dataset_from_directory is \
        keras.utils.text_dataset_from_directory
    assert keras.preprocessing.timeseries_dataset_from_array is \
        keras.utils.timeseries_dataset_from_array


def test_no_loader_imports_pickle():
    import lamina.data
    folder = os.path.dirname(lamina.data.__file__)
    for name in os.listdir(folder):
        if name.endswith(".py"):
            src = open(os.path.join(folder, name), encoding="utf-8").read()
            assert "import pickle" not in src and "allow_pickle=True" not in src, name
