"""examples/01_digits_mlp.py: the course's first lab reaches >= 0.96 test accuracy."""
import importlib.util
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "..", "..", "examples", "01_digits_mlp.py")


@pytest.fixture(scope="module")
def lab():
    spec = importlib.util.spec_from_file_location("digits_mlp", PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_data_split_and_model_size(lab):
    (xtr, ytr), (xte, yte) = lab.load_data()
    assert xtr.shape == (1527, 64) and xte.shape == (270, 64)
    assert ytr.shape == (1527, 10) and abs(float(xtr.mean())) < 1e-5
    assert lab.build_model().count_params() == 7510


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_reaches_the_accuracy_threshold(lab, opt):
    from lamina import keras
    optimizer = keras.optimizers.SGD(0.1) if opt == "sgd" else keras.optimizers.Adam(0.001)
    _, history, acc = lab.train(optimizer, epochs=15, verbose=0)
    assert acc >= 0.96
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_main_quick_prints_bar_and_accuracy(lab, capsys):
    acc_sgd, acc_adam = lab.main(["--quick"])
    out = capsys.readouterr().out
    assert "test accuracy" in out and "Epoch 3/3" in out and "7,510" in out
    assert "\r" not in out                # captured output is not a terminal
    assert acc_sgd > 0.9 and acc_adam > 0.8
