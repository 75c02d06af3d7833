"""Core layers: build, forward values, shapes (concrete and symbolic), gradients
(gradcheck in float64), config round trips, error messages."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import layers, Input
from layer_checks import gradcheck_layer, roundtrip

rng = np.random.default_rng(0)


def _x(*shape):
    return rng.standard_normal(shape)


# (factory taking dtype, input shape) for every shape-preserving or simple core layer
CASES = [
    ("dense", lambda dt: layers.Dense(3, dtype=dt), (4, 5)),
    ("dense_tanh", lambda dt: layers.Dense(3, activation="tanh", dtype=dt), (4, 5)),
    ("dense_nobias", lambda dt: layers.Dense(2, use_bias=False, dtype=dt), (2, 3, 5)),
    ("activation", lambda dt: layers.Activation("sigmoid", dtype=dt), (3, 4)),
    ("flatten", lambda dt: layers.Flatten(dtype=dt), (2, 3, 4)),
    ("reshape", lambda dt: layers.Reshape((2, -1), dtype=dt), (3, 4, 3)),
    ("permute", lambda dt: layers.Permute((2, 1), dtype=dt), (2, 3, 4)),
    ("repeat", lambda dt: layers.RepeatVector(3, dtype=dt), (2, 4)),
    ("identity", lambda dt: layers.Identity(dtype=dt), (2, 4)),
    ("dropout", lambda dt: layers.Dropout(0.5, dtype=dt), (3, 4)),
    ("masking", lambda dt: layers.Masking(0.0, dtype=dt), (2, 3, 4)),
]


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_gradcheck(name, make, shape):
    layer = make("float64")
    gradcheck_layer(layer, _x(*shape))


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_symbolic_shape_matches_concrete(name, make, shape):
    layer = make(None)
    y = layer(_x(*shape).astype("float32"))
    sym = make(None)(Input(shape[1:]))
    assert sym.shape == (None,) + y.shape[1:]
    assert y.dtype == np.float32
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + y.shape[1:]


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_config_roundtrip(name, make, shape):
    roundtrip(make(None), _x(*shape).astype("float32"))


def test_dense_values_and_weights():
    d = layers.Dense(3, activation="relu", kernel_initializer="ones", bias_initializer="zeros")
    x = np.array([[1.0, -2.0], [0.5, 0.5]], dtype="float32")
    y = d(x)
    np.testing.assert_allclose(y.numpy(), np.maximum(x @ np.ones((2, 3)), 0))
    assert [w.path for w in d.weights] == [f"{d.name}/kernel", f"{d.name}/bias"]
    assert d.kernel.shape == (2, 3) and d.count_params() == 9


def test_dense_wrong_input_names_layer_and_shapes():
    d = layers.Dense(3)
    d(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"'dense.*expected axis -1.*value 4.*\(2, 5\)"):
        d(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match="positive integer"):
        layers.Dense(0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        layers.Dense(3, bogus=1)


def test_dense_regularizers_in_losses():
    d = layers.Dense(2, kernel_regularizer="l2", activity_regularizer="l1",
                     kernel_initializer="ones")
    x = np.ones((4, 3), "float32")
    y = d(x)
    losses = d.losses
    assert len(losses) == 2
    # activity loss: 0.01 * sum|y| / batch; kernel: 0.01 * sum(k^2)
    np.testing.assert_allclose(float(losses[0]), 0.01 * np.abs(y.numpy()).sum() / 4, rtol=1e-5)
    np.testing.assert_allclose(float(losses[1]), 0.01 * 6, rtol=1e-5)
    d(x)
    assert len(d.losses) == 2     # add_loss is reset on each outer call


def test_dropout_training_and_inference():
    lm.random.seed(0)
    drop = layers.Dropout(0.5)
    x = np.ones((200, 10), "float32")
    assert np.array_equal(drop(x).numpy(), x)            # training defaults to False
    y = drop(x, training=True).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.35 < (y == 0).mean() < 0.65
    ns = layers.Dropout(0.5, noise_shape=(None, 1))(x, training=True).numpy()
    assert all(len(set(r)) == 1 for r in ns)              # one decision per row


def test_reshape_flatten_permute_values():
    x = np.arange(24, dtype="float32").reshape(2, 3, 4)
    np.testing.assert_array_equal(layers.Flatten()(x).numpy(), x.reshape(2, 12))
    np.testing.assert_array_equal(layers.Reshape((4, 3))(x).numpy(), x.reshape(2, 4, 3))
    np.testing.assert_array_equal(layers.Permute((2, 1))(x).numpy(), x.transpose(0, 2, 1))
    r = layers.RepeatVector(2)(x[:, 0]).numpy()
    np.testing.assert_array_equal(r, np.stack([x[:, 0]] * 2, 1))
    with pytest.raises(ValueError, match="reshape.*12 values per sample"):
        layers.Reshape((5,))(x)


def test_embedding_lookup_mask_and_grad():
    w = rng.standard_normal((6, 3)).astype("float32")
    e = layers.Embedding(6, 3, weights=[w], mask_zero=True)
    ids = np.array([[1, 0, 5], [2, 2, 0]])
    y = e(ids)
    np.testing.assert_array_equal(y.numpy(), w[ids])
    from lamina.nn.layers import get_mask
    np.testing.assert_array_equal(get_mask(y).numpy(), ids != 0)
    loss = lm.sum(e(ids))
    loss.backward()
    counts = np.bincount(ids.ravel(), minlength=6)[:, None] * np.ones((1, 3))
    np.testing.assert_allclose(e.embeddings.grad.numpy(), counts)
    sym = layers.Embedding(6, 3, mask_zero=True, input_length=3)(Input((3,), dtype="int32"))
    assert sym.shape == (None, 3, 3) and sym._has_mask
    with pytest.raises(IndexError, match="out of range"):
        e(np.array([[7]]))
    roundtrip(layers.Embedding(6, 3, mask_zero=True), ids)


def test_lambda_layer_and_named_function_roundtrip():
    def double(x):
        return x * 2.0
    lam = layers.Lambda(double)
    x = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(lam(x).numpy(), 2 * x)
    roundtrip(lam, x, custom_objects={"double": double})
    from lamina.nn.serialization import serialize_layer, deserialize_layer
    with pytest.raises(ValueError, match="custom_objects"):
        deserialize_layer(serialize_layer(lam))
    with pytest.raises(ValueError, match="lambda"):
        layers.Lambda(lambda t: t).get_config()
    assert layers.Lambda(lambda t: t[:, :2])(Input((5,))).shape == (None, 2)


def test_masking_layer():
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]], "float32")
    y = layers.Masking(0.0)(x)
    from lamina.nn.layers import get_mask
    np.testing.assert_array_equal(get_mask(y).numpy(), [[True, False, True]])


def test_embedding_table_gradcheck():
    gradcheck_layer(layers.Embedding(5, 3, dtype="float64"), np.array([[0, 4, 4], [1, 2, 0]]))


def test_dropout_training_gradient_is_mask_times_scale():
    lm.random.seed(3)
    x = lm.tensor(rng.uniform(1, 2, (50, 8)).astype("float32"), requires_grad=True)
    y = layers.Dropout(0.25)(x, training=True)
    lm.sum(y).backward()
    np.testing.assert_allclose(x.grad.numpy(), y.numpy() / x.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.unique(x.grad.numpy()), [0.0, 1 / 0.75], rtol=1e-6)


def test_unknown_activation_names_the_layer():
    with pytest.raises(ValueError, match="Dense 'd_bad'.*relux"):
        layers.Dense(2, activation="relux", name="d_bad")
    with pytest.raises(ValueError, match="Activation 'a_bad'"):
        layers.Activation("nope", name="a_bad")
