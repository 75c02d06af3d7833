"""to_categorical, normalize and plot_history's missing-dependency message."""
import sys

import numpy as np
import pytest

from lamina.data.utils import to_categorical, normalize
from lamina.data.plotting import plot_history


def test_to_categorical():
    out = to_categorical(np.array([[2], [0], [1]]), 4)
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32)[[2, 0, 1]])
    assert out.dtype == np.float32
    assert to_categorical([1, 3]).shape == (2, 4)
    assert to_categorical(np.zeros((2, 5), int), 3).shape == (2, 5, 3)
    with pytest.raises(ValueError, match="does not fit"):
        to_categorical([5], 3)
    with pytest.raises(ValueError, match="integer"):
        to_categorical([0.5])


def test_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0, 0]])
    np.testing.assert_allclose(normalize(x, order=1)[0], [3 / 7, 4 / 7])


def test_plot_history_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import fails
    with pytest.raises(ImportError, match="matplotlib"):
        plot_history({"loss": [1.0, 0.5]}, str(tmp_path / "h.png"))


def test_plot_history_checks_metrics():
    with pytest.raises(ValueError, match="not in the history"):
        plot_history({"loss": [1.0]}, "x.png", metrics=["accuracy"])


def test_plot_history_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    p = plot_history({"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]}, str(tmp_path / "h.png"))
    assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_model_says_what_to_use_instead():
    from lamina.data.plotting import plot_model
    with pytest.raises(ImportError, match="summary"):
        plot_model(object())


# ----------------------------------------------------------------- split_dataset
def test_split_dataset_sizes_by_hand():
    from lamina.data.utils import split_dataset
    a = np.arange(10)
    left, right = split_dataset(a, left_size=0.3)
    np.testing.assert_array_equal(left, [0, 1, 2])
    np.testing.assert_array_equal(right, np.arange(3, 10))
    left, right = split_dataset(a, right_size=2)
    np.testing.assert_array_equal(left, np.arange(8))
    np.testing.assert_array_equal(right, [8, 9])
    # both given and smaller than the whole: the middle samples are dropped
    left, right = split_dataset(a, left_size=2, right_size=0.3)
    np.testing.assert_array_equal(left, [0, 1])
    np.testing.assert_array_equal(right, [7, 8, 9])
    # floats round half to even, as Python's round (Keras uses it): 0.25 * 10 = 2.5 -> 2
    assert len(split_dataset(a, left_size=0.25)[0]) == 2


def test_split_dataset_keeps_the_structure_and_pairs():
    from lamina.data.utils import split_dataset
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10) * 3
    (xl, yl), (xr, yr) = split_dataset((x, y), left_size=6, shuffle=True, seed=4)
    assert xl.shape == (6, 2) and xr.shape == (4, 2)
    np.testing.assert_array_equal(xl[:, 0] / 2 * 3, yl)       # rows stay paired
    np.testing.assert_array_equal(xr[:, 0] / 2 * 3, yr)
    assert sorted(np.concatenate([yl, yr]).tolist()) == sorted(y.tolist())
    import random
    order = list(range(10))
    random.Random(4).shuffle(order)                           # Keras's permutation
    np.testing.assert_array_equal(np.concatenate([yl, yr]), y[order])
    parts = split_dataset([x, y], left_size=0.5)
    assert all(isinstance(p, list) and len(p) == 2 for p in parts)
    again = split_dataset((x, y), left_size=6, shuffle=True, seed=4)
    np.testing.assert_array_equal(again[0][1], yl)


@pytest.mark.parametrize("kw,err,match", [
    (dict(), ValueError, "give left_size"),
    (dict(left_size="half"), TypeError, "left_size must be"),
    (dict(left_size=0), ValueError, "left_size"),
    (dict(left_size=10), ValueError, "smaller than the number of samples 10"),
    (dict(right_size=1.5), ValueError, "right_size"),
    (dict(left_size=0.6, right_size=0.6), ValueError, "more than 1"),
    (dict(left_size=6, right_size=5), ValueError, "more than the 10 samples"),
    (dict(left_size=0.01), ValueError, "left part empty"),
])
def test_split_dataset_errors(kw, err, match):
    from lamina.data.utils import split_dataset
    with pytest.raises(err, match=match) as e:
        split_dataset(np.arange(10), **kw)
    assert "split_dataset" in str(e.value)


def test_split_dataset_bad_datasets():
    from lamina.data.utils import split_dataset
    with pytest.raises(TypeError, match="NumPy array or a tuple/list"):
        split_dataset({"x": np.arange(3)}, left_size=1)
    with pytest.raises(ValueError, match="same number of samples"):
        split_dataset((np.arange(3), np.arange(4)), left_size=1)
    with pytest.raises(TypeError, match=r"dataset\[1\] must be a NumPy array"):
        split_dataset((np.arange(3), [1, 2, 3]), left_size=1)
    with pytest.raises(ValueError, match="empty"):
        split_dataset((), left_size=1)
