"""Structured-data preprocessing layers: Normalization, Discretization, CategoryEncoding,
StringLookup, IntegerLookup.  Expected values are computed by hand or with NumPy here, or
are the examples of Keras 3's documentation (the lookups need TensorFlow in Keras, so
tests/keras_oracle cannot run them)."""
import json

import numpy as np
import pytest

from lamina.nn import layers, Sequential, Input
from lamina.nn.serialization import serialize_layer, deserialize_layer
from layer_checks import gradcheck_layer, roundtrip

rng = np.random.default_rng(5)


def _json_clone(layer):
    return deserialize_layer(json.loads(json.dumps(serialize_layer(layer))))


# ---------------------------------------------------------------- Normalization
def test_normalization_adapt_formula_and_weights():
    x = rng.normal(3.0, 2.0, (50, 3)).astype("float32")
    n = layers.Normalization()
    n.adapt(x)
    y = n(x).numpy()
    np.testing.assert_allclose(y, (x - x.mean(0)) / x.std(0), rtol=1e-4, atol=1e-5)
    assert [w.name for w in n.weights] == ["mean", "variance", "count"]
    assert n.trainable_weights == [] and n.count_params() == 7
    np.testing.assert_allclose(n.get_weights()[1], x.var(0), rtol=1e-5)


def test_normalization_adapt_batches_equals_whole_array():
    x = rng.normal(size=(37, 4, 2)).astype("float32")
    a, b = layers.Normalization(axis=-1), layers.Normalization(axis=-1)
    a.adapt(x)
    b.adapt([(x[:10], None), (x[10:30], None), (x[30:], None)])     # (x, y) batches
    np.testing.assert_allclose(b.get_weights()[0], a.get_weights()[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.get_weights()[1], a.get_weights()[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a(x).numpy().mean(axis=(0, 1)), np.zeros(2), atol=1e-5)
    # nested Python lists are one array, not a list of batches
    c = layers.Normalization()
    c.adapt([[1.0, 2.0], [3.0, 6.0]])
    np.testing.assert_allclose(c.get_weights()[0], [2.0, 4.0])
    np.testing.assert_allclose(c.get_weights()[1], [1.0, 4.0])


def test_normalization_given_values_axis_none_invert_and_epsilon():
    x = np.array([[1.0, 2.0], [3.0, 6.0]], "float32")
    y = layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 16.0])(x).numpy()
    np.testing.assert_allclose(y, [[0.0, 0.0], [1.0, 1.0]])
    y = layers.Normalization(axis=None, mean=2.0, variance=4.0)(x).numpy()
    np.testing.assert_allclose(y, (x - 2.0) / 2.0)
    inv = layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 16.0], invert=True)
    np.testing.assert_allclose(inv(np.array([[0.0, 0.0], [1.0, 1.0]], "float32")).numpy(), x)
    # zero variance: divided by keras.config.epsilon() (1e-7), not by zero
    z = layers.Normalization(mean=[1.0], variance=[0.0])(np.array([[1.0 + 1e-7]], "float32"))
    assert np.isfinite(z.numpy()).all() and abs(z.numpy()[0, 0] - 1.0) < 0.2
    # a mean of lower rank than the kept axes matches the trailing ones
    img = rng.normal(size=(2, 3, 4)).astype("float32")
    y = layers.Normalization(axis=(1, 2), mean=[1.0, 2.0, 3.0, 4.0],
                             variance=[1.0, 1.0, 1.0, 1.0])(img).numpy()
    np.testing.assert_allclose(y, img - np.array([1.0, 2.0, 3.0, 4.0]), rtol=1e-6)


def test_normalization_gradcheck_roundtrip_and_model():
    n = layers.Normalization(mean=[1.0, -1.0, 0.5], variance=[4.0, 0.25, 1.0],
                             dtype="float64")
    gradcheck_layer(n, rng.normal(size=(2, 3)))
    x = rng.normal(size=(6, 3)).astype("float32")
    a = layers.Normalization()
    a.adapt(x)
    clone = roundtrip(a, x)
    np.testing.assert_allclose(clone(x).numpy(), a(x).numpy())
    roundtrip(layers.Normalization(axis=None, mean=1.0, variance=2.0, invert=True), x)
    model = Sequential([Input((3,)), a, layers.Dense(2)])
    assert model.predict(x, verbose=0).shape == (6, 2)


def test_normalization_errors():
    with pytest.raises(ValueError, match="normalization.*both mean and variance"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="differs from variance shape"):
        layers.Normalization(mean=[1.0, 2.0], variance=[1.0])
    n = layers.Normalization(axis=2)
    with pytest.raises(ValueError, match="axis.*out of range"):
        n(np.zeros((2, 3), "float32"))
    a = layers.Normalization()
    a.adapt(np.zeros((4, 3), "float32"))
    with pytest.raises(ValueError, match="does not match the built shape"):
        a.adapt(np.zeros((4, 5), "float32"))
    with pytest.raises(ValueError, match="cannot adapt a layer given mean"):
        layers.Normalization(mean=0.0, variance=1.0).adapt(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="got no data"):
        layers.Normalization().adapt([])


# ---------------------------------------------------------------- Discretization
def test_discretization_buckets_like_digitize():
    x = np.array([[-1.5, 0.0, 0.5], [1.0, 2.0, -0.1]], "float32")
    d = layers.Discretization(bin_boundaries=[0.0, 1.0])
    y = d(x)
    np.testing.assert_array_equal(y.numpy(), np.digitize(x, [0.0, 1.0]))
    assert y.numpy().dtype == np.int32 and d.compute_output_shape((None, 3)) == (None, 3)


@pytest.mark.parametrize("mode,shape,expected", [
    ("one_hot", (3,), [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
    ("multi_hot", (3,), [1, 1, 1]),
    ("count", (2, 3), [[1, 1, 1], [0, 0, 3]]),
    ("multi_hot", (2, 3), [[1, 1, 1], [0, 0, 1]]),
])
def test_discretization_encodings(mode, shape, expected):
    x = np.array([-1.0, 0.5, 3.0, 2.0, 2.0, 2.0], "float32")[:int(np.prod(shape))]
    x = x.reshape(shape)
    d = layers.Discretization(bin_boundaries=[0.0, 1.0], output_mode=mode)
    y = d(x).numpy()
    np.testing.assert_array_equal(y, expected)
    assert y.dtype == np.float32
    assert d.compute_output_shape(shape) == y.shape


def test_discretization_adapt_quantiles_and_roundtrip():
    x = np.arange(1000, dtype="float32")
    d = layers.Discretization(num_bins=4)
    d.adapt(x)
    np.testing.assert_allclose(d.bin_boundaries, np.quantile(x, [0.25, 0.5, 0.75]), atol=15)
    counts = np.bincount(d(x).numpy(), minlength=4)
    assert counts.min() >= 230 and counts.max() <= 270
    batched = layers.Discretization(num_bins=4)
    batched.adapt([x[:500], x[500:]])
    np.testing.assert_allclose(batched.bin_boundaries, d.bin_boundaries, atol=15)
    clone = _json_clone(d)
    assert clone.bin_boundaries == d.bin_boundaries and clone.num_bins == 4
    np.testing.assert_array_equal(clone(x).numpy(), d(x).numpy())


def test_discretization_errors():
    with pytest.raises(ValueError, match="num_bins or bin_boundaries"):
        layers.Discretization()
    with pytest.raises(ValueError, match="not both"):
        layers.Discretization(bin_boundaries=[0.0], num_bins=3)
    with pytest.raises(ValueError, match="output_mode"):
        layers.Discretization(bin_boundaries=[0.0], output_mode="tf_idf")
    with pytest.raises(ValueError, match="adapt"):
        layers.Discretization(num_bins=3)(np.zeros((2,), "float32"))
    with pytest.raises(ValueError, match="cannot adapt"):
        layers.Discretization(bin_boundaries=[0.0]).adapt(np.zeros(3))
    with pytest.raises(ValueError, match="discretization_e.*got no data"):
        layers.Discretization(num_bins=3, name="discretization_e").adapt([])


# ---------------------------------------------------------------- CategoryEncoding
def test_category_encoding_modes_by_hand():
    x = np.array([[0, 1], [0, 0], [1, 2], [3, 1]])
    mh = layers.CategoryEncoding(num_tokens=4)(x).numpy()
    np.testing.assert_array_equal(mh, [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0],
                                       [0, 1, 0, 1]])
    ct = layers.CategoryEncoding(4, output_mode="count")(x).numpy()
    np.testing.assert_array_equal(ct, [[1, 1, 0, 0], [2, 0, 0, 0], [0, 1, 1, 0],
                                       [0, 1, 0, 1]])
    oh = layers.CategoryEncoding(4, output_mode="one_hot")(np.array([3, 2, 0, 1])).numpy()
    np.testing.assert_array_equal(oh, np.eye(4)[[3, 2, 0, 1]])
    w = np.array([[0.5, 1.5], [2.0, 1.0], [1.0, 1.0], [0.0, 3.0]], "float32")
    cw = layers.CategoryEncoding(4, output_mode="count")(x, count_weights=w).numpy()
    np.testing.assert_allclose(cw, [[0.5, 1.5, 0, 0], [3.0, 0, 0, 0], [0, 1, 1, 0],
                                    [0, 3.0, 0, 0]])
    assert mh.dtype == np.float32


def test_category_encoding_shapes_config_and_model():
    ce = layers.CategoryEncoding(5, output_mode="one_hot")
    assert ce.compute_output_shape((None, 1)) == (None, 5)
    assert ce.compute_output_shape((None, 3)) == (None, 3, 5)
    assert layers.CategoryEncoding(5).compute_output_shape((None, 3)) == (None, 5)
    assert layers.CategoryEncoding(5).compute_output_shape((None,)) == (5,)
    roundtrip(layers.CategoryEncoding(6, output_mode="count"), np.array([[1, 2, 5]]))
    model = Sequential([Input((3,), dtype="int32"), layers.CategoryEncoding(6),
                        layers.Dense(2)])
    assert model(np.array([[1, 2, 5]])).shape == (1, 2)


def test_category_encoding_errors():
    with pytest.raises(ValueError, match="num_tokens must be set"):
        layers.CategoryEncoding()
    with pytest.raises(ValueError, match="output_mode"):
        layers.CategoryEncoding(3, output_mode="int")
    with pytest.raises(ValueError, match=r"category_encoding.*\[0, 3\).*\[0, 5\]"):
        layers.CategoryEncoding(3)(np.array([[0, 5]]))
    with pytest.raises(TypeError, match="integer ids"):
        layers.CategoryEncoding(3)(np.array([[0.5]], "float32"))
    with pytest.raises(ValueError, match="count_weights"):
        layers.CategoryEncoding(3)(np.array([[0]]), count_weights=np.ones((1, 1)))


# ---------------------------------------------------------------- StringLookup
VOCAB = ["a", "b", "c", "d"]


def test_string_lookup_keras_doc_examples():
    data = np.array([["a", "c", "d"], ["d", "z", "b"]])
    y = layers.StringLookup(vocabulary=VOCAB)(data)
    np.testing.assert_array_equal(y.numpy(), [[1, 3, 4], [4, 0, 2]])
    assert y.numpy().dtype == np.int64
    ad = layers.StringLookup()
    ad.adapt(data)
    # d twice, the rest once: ties by token in reverse order
    assert ad.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    np.testing.assert_array_equal(ad(data).numpy(), [[5, 3, 1], [1, 2, 4]])
    m = layers.StringLookup(vocabulary=VOCAB, mask_token="")
    assert m.get_vocabulary() == ["", "[UNK]", "a", "b", "c", "d"]
    np.testing.assert_array_equal(m(np.array([["a", "c", "d"], ["d", "", "b"]])).numpy(),
                                  [[2, 4, 5], [5, 0, 3]])
    inv = layers.StringLookup(vocabulary=VOCAB, invert=True)
    np.testing.assert_array_equal(inv(np.array([[1, 3, 4], [4, 0, 2]])),
                                  [["a", "c", "d"], ["d", "[UNK]", "b"]])


def test_string_lookup_encodings_keras_doc_examples():
    data = np.array([["a", "c", "d", "d"], ["d", "z", "b", "z"]])
    mh = layers.StringLookup(vocabulary=VOCAB, output_mode="multi_hot")(data).numpy()
    np.testing.assert_array_equal(mh, [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    ct = layers.StringLookup(vocabulary=VOCAB, output_mode="count")(data).numpy()
    np.testing.assert_array_equal(ct, [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    tf = layers.StringLookup(vocabulary=VOCAB, output_mode="tf_idf",
                             idf_weights=[0.25, 0.75, 0.6, 0.4])(data).numpy()
    np.testing.assert_allclose(tf, [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]],
                               rtol=1e-6)
    oh = layers.StringLookup(vocabulary=VOCAB, output_mode="one_hot")(
        np.array(["a", "b", "c", "d", "z"])).numpy()
    np.testing.assert_array_equal(oh, np.eye(5)[[1, 2, 3, 4, 0]])
    pad = layers.StringLookup(vocabulary=VOCAB, output_mode="multi_hot", max_tokens=8,
                              pad_to_max_tokens=True)
    assert pad(data).shape == (2, 8) and pad.compute_output_shape((None, 4)) == (None, 8)


def test_string_lookup_adapt_tf_idf_max_tokens_and_bytes():
    docs = np.array([["x", "y"], ["y", "y"], ["z", "y"]])
    t = layers.StringLookup(output_mode="tf_idf")
    t.adapt(docs)
    assert t.get_vocabulary() == ["[UNK]", "y", "z", "x"]
    idf = np.log(1 + 3 / (1 + np.array([3.0, 1.0, 1.0])))
    y = t(np.array([["y", "y", "x", "q"]])).numpy()
    np.testing.assert_allclose(y, [[idf.mean(), 2 * idf[0], 0, idf[2]]], rtol=1e-6)
    small = layers.StringLookup(max_tokens=3)
    small.adapt(np.array(["a", "b", "b", "c", "c", "c"]))
    assert small.get_vocabulary() == ["[UNK]", "c", "b"] and small.vocabulary_size() == 3
    assert small.get_vocabulary(include_special_tokens=False) == ["c", "b"]
    np.testing.assert_array_equal(small(np.array([b"c", b"a"], dtype=object)).numpy(),
                                  [1, 0])


def test_string_lookup_config_roundtrip_and_vocabulary_file(tmp_path):
    s = layers.StringLookup(vocabulary=VOCAB, mask_token="", num_oov_indices=2)
    clone = _json_clone(s)
    assert clone.get_vocabulary() == s.get_vocabulary()
    ad = layers.StringLookup(output_mode="tf_idf")
    ad.adapt(np.array([["p", "q"], ["q", "r"]]))
    clone = _json_clone(ad)
    x = np.array([["q", "r", "s"]])
    np.testing.assert_allclose(clone(x).numpy(), ad(x).numpy())
    f = tmp_path / "vocab.txt"
    f.write_text("[UNK]\na\nb\n")
    fl = layers.StringLookup(vocabulary=str(f))
    assert fl.get_vocabulary() == ["[UNK]", "a", "b"]
    assert _json_clone(fl).get_vocabulary() == ["[UNK]", "a", "b"]
    # several OOV slots: each unknown string always lands in the same one
    many = layers.StringLookup(vocabulary=VOCAB, num_oov_indices=3)
    ids = many(np.array(["zz", "yy", "zz", "a"])).numpy()
    assert ids[0] == ids[2] and 0 <= ids[1] < 3 and ids[3] == 3


def test_string_lookup_errors():
    with pytest.raises(ValueError, match="string_lookup.*repeats"):
        layers.StringLookup(vocabulary=["a", "a"], name="string_lookup")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        layers.StringLookup(vocabulary=VOCAB, num_oov_indices=0)(np.array(["z"]))
    with pytest.raises(ValueError, match="invert=True needs output_mode='int'"):
        layers.StringLookup(invert=True, output_mode="count")
    with pytest.raises(ValueError, match="exceeds max_tokens"):
        layers.StringLookup(vocabulary=VOCAB, max_tokens=3)
    with pytest.raises(ValueError, match="idf_weights"):
        layers.StringLookup(vocabulary=VOCAB, output_mode="tf_idf")
    with pytest.raises(TypeError, match="expected strings"):
        layers.StringLookup(vocabulary=VOCAB)(np.array([1, 2]))
    with pytest.raises(ValueError, match="cannot adapt"):
        layers.StringLookup(vocabulary=VOCAB).adapt(np.array(["a"]))
    with pytest.raises(RuntimeError, match="needs a vocabulary"):
        layers.StringLookup(output_mode="multi_hot")(np.array([["a"]]))


# ---------------------------------------------------------------- IntegerLookup
IVOCAB = [12, 36, 1138, 42]


def test_integer_lookup_keras_doc_examples():
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    np.testing.assert_array_equal(layers.IntegerLookup(vocabulary=IVOCAB)(data).numpy(),
                                  [[1, 3, 4], [4, 0, 2]])
    ad = layers.IntegerLookup()
    ad.adapt(data)
    assert ad.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    np.testing.assert_array_equal(ad(data).numpy(), [[5, 2, 1], [1, 3, 4]])
    two = layers.IntegerLookup(vocabulary=IVOCAB, num_oov_indices=2)
    np.testing.assert_array_equal(two(np.array([[12, 1138, 42], [37, 1000, 36]])).numpy(),
                                  [[2, 4, 5], [1, 0, 3]])
    inv = layers.IntegerLookup(vocabulary=IVOCAB, invert=True)
    np.testing.assert_array_equal(inv(np.array([[1, 3, 4], [4, 0, 2]])).numpy(),
                                  [[12, 1138, 42], [42, -1, 36]])
    tf = layers.IntegerLookup(vocabulary=[-1] + IVOCAB, output_mode="tf_idf",
                              idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    y = tf(np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])).numpy()
    np.testing.assert_allclose(y, [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]],
                               rtol=1e-6)


def test_integer_lookup_mask_token_model_and_roundtrip():
    m = layers.IntegerLookup(vocabulary=[10, 20, 30], mask_token=0)
    assert m.get_vocabulary() == [0, -1, 10, 20, 30]
    np.testing.assert_array_equal(m(np.array([10, 0, 5, 30])).numpy(), [2, 0, 1, 4])
    # in the encoding modes the mask token counts nowhere
    mh = layers.IntegerLookup(vocabulary=[10, 20], mask_token=0, output_mode="multi_hot")
    np.testing.assert_array_equal(mh(np.array([[0, 10, 0]])).numpy(), [[0, 1, 0]])
    model = Sequential([Input((2,), dtype="int64"), layers.IntegerLookup(vocabulary=[5, 6]),
                        layers.Embedding(3, 2)])
    assert model(np.array([[5, 9]])).shape == (1, 2, 2)
    ad = layers.IntegerLookup(max_tokens=3)
    ad.adapt(np.array([1, 2, 2, 3, 3, 3]))
    clone = _json_clone(ad)
    assert clone.get_vocabulary() == [-1, 3, 2]
    cfg = ad.get_config()
    assert cfg["vocabulary_dtype"] == "int64" and cfg["oov_token"] == -1
    with pytest.raises(TypeError, match="integer_lookup.*expected integers"):
        layers.IntegerLookup(vocabulary=IVOCAB, name="integer_lookup")(np.array(["a"]))


def test_lookup_config_keys_in_keras_order():
    # the order of Keras 3's IndexLookup.get_config (StringLookup drops vocabulary_dtype
    # and appends encoding)
    common = ["invert", "max_tokens", "num_oov_indices", "oov_token", "mask_token",
              "output_mode", "sparse", "pad_to_max_tokens"]
    tail = ["idf_weights", "vocabulary", "vocabulary_size", "oov_method", "salt"]
    base = ["name", "trainable", "dtype"]
    assert list(layers.IntegerLookup().get_config()) == base + common + \
        ["vocabulary_dtype"] + tail
    assert list(layers.StringLookup().get_config()) == base + common + tail + ["encoding"]


# ---------------------------------------------------------------- hashing
def test_oov_hashing_matches_keras_doc_examples():
    s = layers.StringLookup(vocabulary=VOCAB, num_oov_indices=2)
    np.testing.assert_array_equal(s(np.array([["a", "c", "d"], ["m", "z", "b"]])).numpy(),
                                  [[2, 4, 5], [0, 1, 3]])
    i = layers.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4,
                             oov_method="farmhash")
    np.testing.assert_array_equal(i(np.array([100, 300, 700, 1100, 1700, 2000])).numpy(),
                                  [3, 3, 2, 2, 0, 1])
    np.testing.assert_array_equal(i(np.array([100, 200, 300, 400])).numpy(), [3, 1, 3, 1])
    floor = layers.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4)
    np.testing.assert_array_equal(floor(np.array([100, 300, 7])).numpy(), [0, 0, 3])
    with pytest.raises(ValueError, match="salt only applies"):
        layers.IntegerLookup(vocabulary=[1], salt=3)


NAMES = np.asarray([["omar"], ["stringer"], ["marlo"], ["wire"], ["skywalker"]])


def test_hashing_bins_match_keras_documented_values():
    # values from Keras 3's Hashing docstring and tests (TensorFlow's FarmHash64/SipHash)
    letters = np.asarray([["A"], ["B"], ["C"], ["D"], ["E"]])
    np.testing.assert_array_equal(layers.Hashing(3)(letters).numpy().ravel(), [1, 0, 1, 1, 2])
    np.testing.assert_array_equal(layers.Hashing(2)(NAMES).numpy().ravel(), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(layers.Hashing(3)(np.arange(5)[:, None]).numpy().ravel(),
                                  [1, 0, 1, 0, 2])
    np.testing.assert_array_equal(layers.Hashing(2)([[1, 2], [2, 3], [3, 4]]).numpy(),
                                  np.ones((3, 2)))
    masked = layers.Hashing(3, mask_value="")(np.asarray([["A"], ["B"], [""], ["C"], ["D"]]))
    np.testing.assert_array_equal(masked.numpy().ravel(), [1, 1, 0, 2, 2])
    np.testing.assert_array_equal(layers.Hashing(3, mask_value="omar")(NAMES).numpy().ravel(),
                                  [0, 1, 2, 1, 1])
    np.testing.assert_array_equal(layers.Hashing(3, salt=[133, 137])(letters).numpy().ravel(),
                                  [1, 2, 1, 0, 2])
    np.testing.assert_array_equal(layers.Hashing(3, salt=133)(letters).numpy().ravel(),
                                  [0, 0, 2, 1, 0])
    np.testing.assert_array_equal(layers.Hashing(2, salt=[211, 137])(NAMES).numpy().ravel(),
                                  [1, 0, 1, 0, 1])
    np.testing.assert_array_equal(
        layers.Hashing(3, salt=[133, 137])(np.arange(5)[:, None]).numpy().ravel(),
        [1, 1, 2, 0, 1])
    assert layers.Hashing(1)(letters).numpy().max() == 0


def test_hashing_output_modes_shapes_config_and_errors():
    ids = layers.Hashing(4)(NAMES).numpy()
    assert ids.dtype == np.int64 and ids.shape == (5, 1)
    oh = layers.Hashing(4, output_mode="one_hot")(NAMES).numpy()
    np.testing.assert_array_equal(oh, np.eye(4)[ids[:, 0]])
    row = NAMES.reshape(1, 5)
    ct = layers.Hashing(4, output_mode="count")(row).numpy()
    np.testing.assert_array_equal(ct, np.bincount(ids[:, 0], minlength=4)[None])
    mh = layers.Hashing(4, output_mode="multi_hot")(row).numpy()
    np.testing.assert_array_equal(mh, (ct > 0).astype("float32"))
    assert layers.Hashing(4, output_mode="count").compute_output_shape((None, 5)) == (None, 4)
    h = layers.Hashing(5, salt=7, mask_value=0)
    assert h.get_config()["salt"] == [7, 7]
    assert list(h.get_config())[3:] == ["num_bins", "salt", "mask_value", "output_mode",
                                        "sparse"]
    roundtrip(h, np.array([[0, 3, 12]]))
    model = Sequential([Input((3,), dtype="int64"), layers.Hashing(7), layers.Embedding(7, 2)])
    assert model(np.array([[1, 2, 3]])).shape == (1, 3, 2)
    with pytest.raises(ValueError, match="num_bins"):
        layers.Hashing(0)
    with pytest.raises(ValueError, match="salt"):
        layers.Hashing(3, salt="x")
    with pytest.raises(TypeError, match="hashing_e.*strings or integers"):
        layers.Hashing(3, name="hashing_e")(np.array([True]))


def test_hash_functions_against_reference_implementations():
    farmhash = pytest.importorskip("farmhash")      # pyfarmhash: not a lamina dependency
    from lamina.nn.layers.hashing import farmhash64
    r = np.random.default_rng(0)
    for n in list(range(0, 140)) + [1000]:
        b = r.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert farmhash64(b) == farmhash.fingerprint64(b), n
