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
