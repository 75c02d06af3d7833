"""lamina's keras.datasets and keras.preprocessing against real Keras 3 (torch backend) on the
same local data: Keras's ``get_file`` is pointed at the test's files (no network), so both
libraries shuffle and split the same arrays.  Reuters: Keras reads the ragged arrays through
its ``load_npz`` (replaced here by the in-memory arrays, so no pickle is written), lamina the
same newswires from its pickle-free file.  CIFAR-100: Keras's ``load_batch`` gets the pickled
release's dict from a stand-in unpickler, lamina the binary release of the same images."""
import io
import os
import tarfile

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lamina import keras as lk  # noqa: E402
from lamina.data import housing as H  # noqa: E402
from lamina.data import text_datasets as T  # noqa: E402
from lamina.data import vision as V  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "lamina"))
    return tmp_path


def _same(got, want):
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            assert a.dtype == b.dtype and a.shape == b.shape
            if a.dtype == object:
                assert [list(s) for s in a] == [list(s) for s in b]
            else:
                np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- housing
@pytest.mark.parametrize("name,kw", [
    ("boston_housing", {}), ("boston_housing", {"test_split": 0.35, "seed": 5}),
    ("california_housing", {}), ("california_housing", {"version": "small", "seed": 1}),
    ("california_housing", {"test_split": 0.0})])
def test_housing_same_split_as_keras(home, monkeypatch, name, kw):
    import importlib
    kmod = importlib.import_module(f"keras.src.datasets.{name}")
    rng = np.random.default_rng(0)
    path = home / f"{name}.npz"
    np.savez(path, x=rng.normal(size=(640, 8)), y=rng.uniform(size=640).astype(np.float32))
    monkeypatch.setattr(kmod, "get_file", lambda *a, **k: str(path))
    monkeypatch.setitem(H.PINS, name, V._sha256(str(path)))
    _same(getattr(lk.datasets, name).load_data(path=str(path), **kw),
          getattr(keras.datasets, name).load_data(path=str(path), **kw))


# ---------------------------------------------------------------- reuters
RAW = [list(np.random.default_rng(i).integers(0, 40, 3 + i % 9)) for i in range(37)]
LABELS = np.random.default_rng(9).integers(0, 46, 37)


@pytest.mark.parametrize("kw", [
    {}, {"num_words": 20}, {"num_words": 25, "skip_top": 6, "test_split": 0.3},
    {"maxlen": 8, "seed": 4}, {"start_char": None, "index_from": 0, "oov_char": None,
                               "num_words": 30}])
def test_reuters_same_as_keras(home, monkeypatch, kw):
    from keras.src.datasets import npz_utils, reuters
    obj = np.empty(len(RAW), dtype=object)
    obj[:] = [[int(w) for w in s] for s in RAW]
    monkeypatch.setattr(reuters, "get_file", lambda *a, **k: "unused")
    monkeypatch.setattr(npz_utils, "load_npz", lambda p: {"x": obj, "y": LABELS.copy()})
    T.save_reuters_tokens(str(home / "lamina" / "datasets" / "reuters" / "reuters.npz"),
                          RAW, LABELS)
    _same(lk.datasets.reuters.load_data(**kw), keras.datasets.reuters.load_data(**kw))
    assert lk.datasets.reuters.get_label_names() == keras.datasets.reuters.get_label_names()


# ---------------------------------------------------------------- cifar100
@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_same_as_keras(home, monkeypatch, label_mode):
    from keras.src.datasets import cifar, cifar100
    rng = np.random.default_rng(3)
    kdir = home / "keras" / "cifar-100-python"
    kdir.mkdir(parents=True)
    pickled, files = {}, {}
    for split, n in (("train", 6), ("test", 4)):
        planes = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
        coarse, fine = rng.integers(0, 20, n), rng.integers(0, 100, n)
        (kdir / split).write_bytes(b"")
        # what Keras's unpickler returns for the python release: bytes keys, list labels
        pickled[str(kdir / split)] = {b"data": planes, b"fine_labels": fine.tolist(),
                                      b"coarse_labels": coarse.tolist()}
        files[f"cifar-100-binary/{split}.bin"] = np.concatenate(
            [coarse[:, None].astype(np.uint8), fine[:, None].astype(np.uint8), planes],
            axis=1).tobytes()

    class StandIn:
        def __init__(self, f, encoding=None):
            self.name = f.name

        def load(self):
            return pickled[self.name]
    monkeypatch.setattr(cifar, "RestrictedUnpickler", StandIn)
    monkeypatch.setattr(cifar100, "get_file", lambda *a, **k: str(kdir.parent))
    tpath = home / "lamina" / "datasets" / "cifar100" / "cifar-100-binary.tar.gz"
    tpath.parent.mkdir(parents=True)
    with tarfile.open(tpath, "w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    url = V.CHECKSUMS["cifar100"]["cifar-100-binary.tar.gz"][0]
    monkeypatch.setitem(V.CHECKSUMS, "cifar100", {
        "cifar-100-binary.tar.gz": (url, V._sha256(str(tpath), "md5"))})
    _same(lk.datasets.cifar100.load_data(label_mode),
          keras.datasets.cifar100.load_data(label_mode))


# ---------------------------------------------------------------- preprocessing
@pytest.fixture
def text_tree(tmp_path):
    for c, n in (("neg", 5), ("pos", 4), ("zz", 3)):
        (tmp_path / "main" / c).mkdir(parents=True)
        for i in range(n):
            (tmp_path / "main" / c / f"{c}{i}.txt").write_text(f"{c} text {i}")
    (tmp_path / "main" / "neg" / "skip.md").write_text("not a txt")
    return tmp_path / "main"


@pytest.mark.parametrize("kw", [dict(shuffle=False), dict(seed=7),
                                dict(seed=3, validation_split=0.25, subset="training"),
                                dict(seed=3, validation_split=0.25, subset="validation")])
def test_text_dataset_same_files_and_labels_as_keras(text_tree, kw):
    """Keras's file index and split (its tf-free part) against the files and labels of
    lamina's keras.preprocessing.text_dataset_from_directory."""
    from keras.src.utils import dataset_utils
    paths, labels, names = dataset_utils.index_directory(
        str(text_tree), "inferred", formats=(".txt",), shuffle=kw.get("shuffle", True),
        seed=kw.get("seed"),
        verbose=False)
    if "subset" in kw:
        paths, labels = dataset_utils.get_training_or_validation_split(
            paths, labels, kw["validation_split"], kw["subset"])
    ds = lk.preprocessing.text_dataset_from_directory(str(text_tree), batch_size=4,
                                                      verbose=False, **kw)
    assert ds.class_names == names == ["neg", "pos", "zz"]
    assert ds.file_paths == list(paths)       # Keras's seeded order, so the same split
    # the first epoch serves the files in that order
    assert [int(v) for _, y in ds for v in np.asarray(y)] == [int(v) for v in labels]


def test_text_dataset_same_batches_as_keras_with_tf(text_tree):
    pytest.importorskip("tensorflow")
    kw = dict(batch_size=4, shuffle=False, label_mode="categorical", verbose=False)
    want = keras.preprocessing.text_dataset_from_directory(str(text_tree), **kw)
    got = lk.preprocessing.text_dataset_from_directory(str(text_tree), **kw)
    assert got.class_names == want.class_names
    for (gx, gy), (wx, wy) in zip(got, want):
        assert gx.tolist() == [t.decode() for t in wx.numpy().tolist()]
        np.testing.assert_array_equal(gy, wy.numpy())


def test_timeseries_alias_is_the_utils_function():
    """keras.preprocessing.timeseries_dataset_from_array is keras.utils' function (Keras's
    own needs TensorFlow; the utils oracle compares it where that is installed)."""
    assert keras.preprocessing.timeseries_dataset_from_array is \
        keras.utils.timeseries_dataset_from_array
    ds = lk.preprocessing.timeseries_dataset_from_array(np.arange(10), None, 3, batch_size=4)
    assert np.asarray(ds[0]).tolist() == [[i, i + 1, i + 2] for i in range(4)]
