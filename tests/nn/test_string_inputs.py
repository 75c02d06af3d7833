"""Keras's "string" inputs: Input(dtype="string") feeds raw text arrays (NumPy str or object
arrays) through fit/predict to the layers that read text (StringLookup, Hashing,
TextVectorization), the structured-data pattern of Keras's tutorials."""
import numpy as np
import pytest

import lamina as lm
from lamina import keras


def _model():
    thal = keras.Input(shape=(1,), dtype="string", name="thal")
    num = keras.Input(shape=(2,), name="num")
    onehot = keras.layers.StringLookup(vocabulary=["fixed", "normal", "reversible"],
                                       output_mode="one_hot")(thal)
    h = keras.layers.Concatenate()([onehot, num])
    return keras.Model([thal, num], keras.layers.Dense(1, activation="sigmoid")(h))


@pytest.mark.parametrize("text_dtype", ["str", "object"])
def test_fit_and_predict_with_a_string_input(text_dtype):
    lm.random.seed(0)
    rng = np.random.default_rng(0)
    cats = np.array(["fixed", "normal", "reversible", "unknown"])
    ids = rng.integers(0, 4, 200)
    xs = {"thal": cats[ids].reshape(-1, 1).astype(text_dtype),
          "num": rng.standard_normal((200, 2)).astype("float32")}
    y = (ids == 1).astype("float32")          # the label is the category "normal"
    m = _model()
    assert m.inputs[0].dtype == object and m.get_layer("thal").dtype == "string"
    m.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    h = m.fit(xs, y, epochs=30, batch_size=32, verbose=0)
    assert h.history["accuracy"][-1] > 0.95       # only the text input carries the label
    p = m.predict(xs, verbose=0)
    assert p.shape == (200, 1) and ((p[:, 0] > 0.5) == (ids == 1)).mean() > 0.95


def test_a_string_model_saves_and_loads(tmp_path):
    m = _model()
    xs = {"thal": np.array([["normal"], ["fixed"]]), "num": np.zeros((2, 2), "float32")}
    path = tmp_path / "m.keras"
    m.save(path)
    back = keras.models.load_model(path)
    assert back.get_layer("thal").dtype == "string"
    np.testing.assert_allclose(back.predict(xs, verbose=0), m.predict(xs, verbose=0))


def test_non_text_object_arrays_are_still_refused():
    m = _model()
    m.compile("sgd", "mse")
    bad = {"thal": np.array([[1], [{"a": 1}]], dtype=object), "num": np.zeros((2, 2), "f4")}
    with pytest.raises(TypeError, match="object dtype"):
        m.fit(bad, np.zeros(2, "f4"), verbose=0)


def test_object_arrays_that_are_not_text_still_get_a_clear_error_on_call():
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(TypeError, match="cannot feed data of dtype object"):
        m(np.array([[1, {}], [2, 3]], dtype=object))
