"""HashedCrossing: TensorFlow's cross_hashed bins (the values Keras documents and tests),
built on the FarmHash64 of the Hashing layer; shapes and encodings; determinism and
range; functional models, configs and .keras round trips; errors."""
from __future__ import annotations

import numpy as np
import pytest

from lamina import keras
from lamina.nn.layers import HashedCrossing
from lamina.nn.layers import crossing as C
from lamina.nn.layers.hashing import farmhash64

from layer_checks import roundtrip

F1 = np.array(["A", "B", "A", "B", "A"])
F2 = np.array([101, 101, 101, 102, 102])


def test_bins_are_tensorflows():
    # Keras's docstring and keras/src/layers/preprocessing/hashed_crossing_test.py
    np.testing.assert_array_equal(HashedCrossing(5)((F1, F2)).numpy(), [1, 4, 1, 1, 3])
    assert int(HashedCrossing(10)((np.array("A"), np.array(101))).numpy()) == 1
    y = HashedCrossing(5, output_mode="one_hot")((F1, F2)).numpy()
    np.testing.assert_array_equal(y, np.eye(5, dtype=np.float32)[[1, 4, 1, 1, 3]])


def test_strings_enter_by_the_hashing_layers_fingerprint():
    # the chain TensorFlow computes, spelled out with the shared FarmHash64
    key = np.array([0xDECAFCAFFE], np.uint64)
    a = C.fingerprint_cat64(key, np.array([farmhash64(b"B")], np.uint64))
    b = C.fingerprint_cat64(a, np.array([102], np.uint64))
    assert int(b[0] % np.uint64(97)) == int(HashedCrossing(97)((["B"], [102])).numpy()[0])
    assert C.farmhash64 is farmhash64


def test_shapes_dtypes_and_input_kinds():
    bins = HashedCrossing(5)((F1, F2)).numpy()
    y = HashedCrossing(5)((F1[:, None], F2[:, None]))
    assert y.shape == (5, 1) and y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy()[:, 0], bins)
    assert HashedCrossing(5, dtype="int32")((F1, F2)).dtype == np.int32
    oh = HashedCrossing(5, output_mode="one_hot")((F1[:, None], F2[:, None]))
    assert oh.shape == (5, 5) and oh.dtype == np.float32
    assert HashedCrossing(5, output_mode="one_hot", dtype="float64")((F1, F2)).dtype == \
        np.float64
    assert HashedCrossing(6, output_mode="one_hot")((np.array("A"), np.array(1))).shape == (6,)
    # bytes, object arrays and int32 cross as str and int64 do
    np.testing.assert_array_equal(
        HashedCrossing(5)((F1.astype("S"), F2.astype(np.int32))).numpy(), bins)
    np.testing.assert_array_equal(
        HashedCrossing(5)((F1.astype(object), F2.astype(object))).numpy(), bins)
    np.testing.assert_array_equal(HashedCrossing(5)([list(F1), list(F2)]).numpy(), bins)


def test_deterministic_in_range_and_order_sensitive():
    r = np.random.default_rng(0)
    a = r.integers(-10**12, 10**12, 400)
    b = r.choice(["x", "yy", "zzz", "", "ünï"], 400)
    c = r.integers(0, 3, 400)
    layer = HashedCrossing(13)
    y = layer((a, b, c)).numpy()
    assert y.min() >= 0 and y.max() < 13 and len(np.unique(y)) == 13
    np.testing.assert_array_equal(HashedCrossing(13)((a, b, c)).numpy(), y)
    # equal crossings land in equal bins, wherever they occur
    again = layer((np.tile(a[:3], 2), np.tile(b[:3], 2), np.tile(c[:3], 2))).numpy()
    np.testing.assert_array_equal(again, np.tile(y[:3], 2))
    big = HashedCrossing(2**40)
    assert big((F1, F2)).numpy()[0] != big((F2, F1)).numpy()[0]


def test_functional_model_config_and_keras_file(tmp_path):
    a = keras.Input((1,), dtype="string")
    b = keras.Input((1,), dtype="int64")
    layer = HashedCrossing(7, output_mode="one_hot")
    out = layer([a, b])
    assert out.shape == (None, 7)
    assert layer.compute_output_shape([(None, 1), (None, 1)]) == (None, 7)
    assert HashedCrossing(7).compute_output_shape([(None,), (None,)]) == (None,)
    model = keras.Model([a, b], out)
    x = [F1[:, None], F2[:, None]]
    y = model(x).numpy()
    np.testing.assert_array_equal(y.argmax(-1), HashedCrossing(7)((F1, F2)).numpy())
    model.save(tmp_path / "cross.keras")
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "cross.keras")(x).numpy(),
                                  y)
    assert list(layer.get_config()) == ["num_bins", "output_mode", "sparse", "name", "dtype"]
    roundtrip(HashedCrossing(9, name="cross"), (F1, F2))


def test_errors_name_the_layer():
    layer = HashedCrossing(10, name="hc")
    with pytest.raises(ValueError, match="'hc'.*list or tuple"):
        layer(np.array([1, 2]))
    with pytest.raises(ValueError, match="'hc'.*at least two"):
        layer([np.array([1])])
    with pytest.raises(ValueError, match=r"'hc'.*integers or strings.*float"):
        layer((np.array([1.0]), np.array([1])))
    with pytest.raises(ValueError, match=r"'hc'.*\(batch, 1\)"):
        layer((np.ones((1, 1, 1), int), np.ones((1, 1, 1), int)))
    with pytest.raises(ValueError, match=r"'hc'.*same shape.*\[\(2,\), \(3,\)\]"):
        layer((np.ones(2, int), np.ones(3, int)))
    with pytest.raises(ValueError, match="sparse"):
        HashedCrossing(3, output_mode="one_hot", sparse=True)
    with pytest.raises(ValueError, match="output_mode"):
        HashedCrossing(3, output_mode="multi_hot")
    with pytest.raises(ValueError, match="num_bins"):
        HashedCrossing(0)
