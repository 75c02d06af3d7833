"""summary(): parameter counts computed by hand, shared weights once, non-trainable
totals, output shapes, functional connections."""
import numpy as np

from lamina.nn import layers, Model, Sequential, Input


def _lines(model, **kw):
    out = []
    model.summary(print_fn=out.append, **kw)
    return out


def _total(lines, what):
    line = next(l for l in lines if l.strip().startswith(what))
    return int(line.split(":")[1].split("(")[0].replace(",", ""))


def test_course_mlp_counts():
    m = Sequential([layers.Dense(100, input_dim=64, activation="tanh"),
                    layers.Dense(10, activation="softmax")])
    lines = _lines(m)
    assert lines[0] == f'Model: "{m.name}"'
    # 64*100 + 100 = 6,500 and 100*10 + 10 = 1,010
    assert any("6,500" in l and "(None, 100)" in l and "(Dense)" in l for l in lines)
    assert any("1,010" in l and "(None, 10)" in l for l in lines)
    assert _total(lines, "Total params") == 7510
    assert _total(lines, "Trainable params") == 7510
    assert _total(lines, "Non-trainable params") == 0
    assert any("29.34 KB" in l for l in lines)


def test_mnist_mlp_and_batchnorm_counts():
    m = Sequential([Input((784,)), layers.Dense(512, activation="relu"),
                    layers.BatchNormalization(), layers.Dropout(0.2),
                    layers.Dense(512, activation="relu"), layers.Dense(10)])
    lines = _lines(m)
    # 784*512+512 + 4*512 (BN) + 512*512+512 + 512*10+10
    total = 784 * 512 + 512 + 4 * 512 + 512 * 512 + 512 + 512 * 10 + 10
    assert _total(lines, "Total params") == total == m.count_params()
    assert _total(lines, "Non-trainable params") == 2 * 512
    assert _total(lines, "Trainable params") == total - 1024


def test_shared_layers_counted_once_and_connections():
    a, b = Input((8,), name="left"), Input((8,), name="right")
    shared = layers.Dense(4, name="tower")
    out = layers.Dense(1, name="head")(layers.concatenate([shared(a), shared(b)]))
    m = Model([a, b], out)
    lines = _lines(m)
    assert _total(lines, "Total params") == 8 * 4 + 4 + 8 + 1
    row = next(l for l in lines if "tower (Dense)" in l)
    assert "left[0][0]" in row and "right[0][0]" in row and "36" in row
    assert any("Connected to" in l for l in lines)


def test_frozen_layer_moves_to_non_trainable():
    m = Sequential([Input((3,)), layers.Dense(2), layers.Dense(1)])
    m.layers[0].trainable = False
    lines = _lines(m, show_trainable=True)
    assert _total(lines, "Trainable params") == 3
    assert _total(lines, "Non-trainable params") == 8


def test_unbuilt_and_subclassed():
    m = Sequential([layers.Dense(3)])
    lines = _lines(m)
    assert any("0 (unbuilt)" in l for l in lines) and _total(lines, "Total params") == 0
    m(np.ones((1, 5), "float32"))
    assert _total(_lines(m), "Total params") == 18


def test_expand_nested_lists_the_inner_layers_under_their_model():
    from lamina import keras
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d1"),
                              keras.layers.Dense(2, name="d2")], name="inner")
    i = keras.Input((4,), name="x")
    m = keras.Model(i, keras.layers.Dense(1, name="head")(inner(i)), name="outer")
    lines = []
    m.summary(expand_nested=True, show_trainable=True, print_fn=lines.append)
    names = [ln.split("|")[1].strip() for ln in lines if ln.startswith("|")][1:]
    assert names == ["x (InputLayer)", "inner (Sequential)", "└ d1 (Dense)", "└ d2 (Dense)",
                     "head (Dense)"]
    row = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]]
           for ln in lines if ln.startswith("|")}
    assert row["└ d1 (Dense)"][:2] == ["(None, 3)", "15"]
    assert row["x (InputLayer)"][-1] == "-" and row["head (Dense)"][-1] == "Y"
    flat = []
    m.summary(print_fn=flat.append)
    assert not any("d1" in ln for ln in flat)
    assert " Total params: 26 (104.00 B)" in flat and " Total params: 26 (104.00 B)" in lines
