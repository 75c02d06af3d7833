"""Models: Sequential (list, add, input_shape/input_dim, Input), functional DAGs (several
inputs/outputs as lists or dicts, shared layers, nested models), subclassed models;
layers/get_layer/build/output_names/inputs/outputs; calling on arrays and tensors."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import layers, Model, Sequential, Input, InputLayer
from lamina.nn.layers import reset_uids

rng = np.random.default_rng(4)


def _dense_ref(x, layer, act=None):
    k, b = layer.get_weights()
    y = x @ k + b
    return np.tanh(y) if act == "tanh" else y


@pytest.mark.parametrize("style", ["list", "add", "input_dim", "input_shape", "Input",
                                   "InputLayer", "deferred"])
def test_sequential_ways_to_build(style):
    first = {"input_dim": dict(input_dim=6), "input_shape": dict(input_shape=(6,))}.get(style, {})
    l1, l2 = layers.Dense(5, activation="tanh", **first), layers.Dense(2)
    if style == "add":
        m = Sequential()
        m.add(Input((6,)))
        m.add(l1)
        m.add(l2)
    elif style == "Input":
        m = Sequential([Input((6,)), l1, l2])
    elif style == "InputLayer":
        m = Sequential([InputLayer(shape=(6,)), l1, l2])
    else:
        m = Sequential([l1, l2])
    x = rng.standard_normal((3, 6)).astype("float32")
    if style in ("list", "deferred"):
        assert not m.built
    y = m(x)
    assert m.built and m.layers == [l1, l2]
    assert m.output_shape == (None, 2) and m.input_shape == (None, 6)
    np.testing.assert_allclose(y.numpy(), _dense_ref(_dense_ref(x, l1, "tanh"), l2), rtol=1e-5,
                               atol=1e-6)
    assert m.count_params() == 6 * 5 + 5 + 5 * 2 + 2
    assert m.output_names == [l2.name]


def test_sequential_build_pop_and_errors():
    m = Sequential([layers.Dense(3), layers.Dense(1)])
    m.build((None, 4))
    assert m.built and m.count_params() == 4 * 3 + 3 + 3 + 1
    popped = m.pop()
    assert isinstance(popped, layers.Dense) and len(m.layers) == 1
    assert m.output_shape == (None, 3)
    with pytest.raises(TypeError, match="expected a Layer"):
        m.add("dense")
    with pytest.raises(ValueError, match="unique names"):
        m.add(layers.Dense(2, name=m.layers[0].name))


def test_functional_multi_io_lists_dicts_shared_layers():
    a, b = Input((4,), name="a"), Input((4,), name="b")
    shared = layers.Dense(3, name="shared")
    ha, hb = shared(a), shared(b)
    o1 = layers.Dense(1, name="o1")(layers.add([ha, hb]))
    o2 = layers.Dense(2, name="o2")(layers.concatenate([ha, hb]))
    m = Model([a, b], [o1, o2])
    xa, xb = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    y1, y2 = m([xa, xb])
    sa, sb = _dense_ref(xa, shared), _dense_ref(xb, shared)
    np.testing.assert_allclose(y1.numpy(), _dense_ref(sa + sb, m.get_layer("o1")), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(y2.numpy(), _dense_ref(np.concatenate([sa, sb], 1),
                                                      m.get_layer("o2")), rtol=1e-4, atol=1e-5)
    assert m.output_names == ["o1", "o2"]
    assert m.count_params() == 15 + 4 + 14
    assert len(m.weights) == 6                     # the shared layer's weights once
    assert [t.shape for t in m.inputs] == [(None, 4), (None, 4)]
    assert [t.shape for t in m.outputs] == [(None, 1), (None, 2)]
    # dict inputs by input name, dict outputs by key
    md = Model({"a": a, "b": b}, {"sum": o1, "cat": o2})
    out = md({"b": xb, "a": xa})
    assert set(out) == {"sum", "cat"} and md.output_names == ["sum", "cat"]
    np.testing.assert_allclose(out["sum"].numpy(), y1.numpy(), rtol=1e-6)
    out2 = m({"a": xa, "b": xb})
    np.testing.assert_allclose(out2[0].numpy(), y1.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="missing input"):
        md({"a": xa})


def test_nested_models_and_models_as_layers():
    enc = Sequential([Input((6,)), layers.Dense(4, activation="relu"), layers.Dense(2)],
                     name="enc")
    inp = Input((6,))
    code = enc(inp)
    dec = Model(code_in := Input((2,)), layers.Dense(6)(code_in), name="dec")
    ae = Model(inp, dec(code))
    x = rng.standard_normal((3, 6)).astype("float32")
    np.testing.assert_allclose(ae(x).numpy(), dec(enc(x)).numpy(), rtol=1e-6)
    assert ae.count_params() == enc.count_params() + dec.count_params()
    assert [l.name for l in ae.layers][1:] == ["enc", "dec"]
    # a model used twice shares its weights
    two = Model([i1 := Input((6,)), i2 := Input((6,))], layers.add([enc(i1), enc(i2)]))
    assert two.count_params() == enc.count_params()
    y = two([x, x]).numpy()
    np.testing.assert_allclose(y, 2 * enc(x).numpy(), rtol=1e-5)


def test_symbolic_arithmetic_and_slicing_in_graphs():
    inp = Input((4,))
    h = layers.Dense(3)(inp)
    out = (h * 2.0 + 1.0 - h) / 2.0
    m = Model(inp, [out, inp[:, :2], 1.0 - h])
    x = rng.standard_normal((2, 4)).astype("float32")
    hx = m.layers[1](x).numpy()
    y, s, r = m(x)
    np.testing.assert_allclose(y.numpy(), (hx + 1) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(s.numpy(), x[:, :2])
    np.testing.assert_allclose(r.numpy(), 1 - hx, rtol=1e-6)


def test_subclassed_model_tracks_builds_and_runs():
    class MLP(Model):
        def __init__(self, units=(8, 4)):
            super().__init__()
            self.hidden = [layers.Dense(u, activation="relu") for u in units]
            self.out = layers.Dense(1)

        def call(self, x, training=None):
            for h in self.hidden:
                x = h(x)
            return self.out(x)

    m = MLP()
    assert not m.built
    m.build((None, 5))
    assert m.built and m.count_params() == 5 * 8 + 8 + 8 * 4 + 4 + 4 + 1
    assert m.name == "mlp" and len(m.layers) == 3
    assert m.get_layer(index=-1) is m.out
    y = m(lm.tensor(rng.standard_normal((2, 5)).astype("float32")))
    assert y.shape == (2, 1)
    loss = lm.mean(y * y)
    loss.backward()
    assert all(v.grad is not None for v in m.trainable_weights)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        m.get_layer("nope")


def test_graph_errors():
    a, b = Input((3,)), Input((3,))
    out = layers.add([a, b])
    with pytest.raises(ValueError, match="graph disconnected"):
        Model(a, out)
    with pytest.raises(TypeError, match="KerasTensors"):
        Model(a, np.zeros(3))
    with pytest.raises(TypeError, match="holds no data"):
        np.asarray(a)


def test_call_on_tensor_numpy_list_and_no_grad():
    m = Sequential([Input((2,)), layers.Dense(1)])
    for x in (np.ones((3, 2)), lm.tensor(np.ones((3, 2), "float32")), [[1.0, 1.0]] * 3):
        assert m(x, training=False).shape == (3, 1)
    with lm.no_grad():
        assert not m(np.ones((1, 2))).requires_grad
    assert m(np.ones((1, 2))).requires_grad


def test_int_vector_input_is_treated_as_column():
    inp = Input((1,))
    m = Model(inp, layers.Dense(1)(inp))
    assert m(np.arange(4)).shape == (4, 1)


def test_duplicate_layer_names_rejected_in_functional():
    inp = Input((2,))
    with pytest.raises(ValueError, match="'twin' is used by two layers"):
        Model(inp, layers.Dense(1, name="twin")(layers.Dense(2, name="twin")(inp)))


def test_feature_extractor_from_sequential_layers():
    m = Sequential([Input((5,)), layers.Dense(4, name="hid"), layers.Dense(2)])
    feat = Model(m.input, m.get_layer("hid").output)
    x = rng.standard_normal((3, 5)).astype("float32")
    np.testing.assert_allclose(feat(x).numpy(), m.layers[0](x).numpy(), rtol=1e-6)
    both = Model(m.inputs, [l.output for l in m.layers])
    assert [t.shape for t in both(x)] == [(3, 4), (3, 2)]


def test_op_functions_on_symbolic_tensors_record_nodes():
    import json
    from lamina.nn.layers import symbolic_aware, symbolic_call
    mean = symbolic_aware(lm.mean)
    inp = Input((3, 4))
    pooled = mean(inp, axis=1)
    assert pooled.shape == (None, 4)
    out = symbolic_call(lm.concatenate, [[pooled, lm.nn.layers.Dense(2)(pooled)]], {"axis": -1})
    m = Model(inp, out)
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    y = m(x).numpy()
    np.testing.assert_allclose(y[:, :4], x.mean(1), rtol=1e-6)
    assert mean(lm.tensor(x), axis=1).shape == (2, 4)          # eager calls unchanged
    m2 = Model.from_config(json.loads(json.dumps(m.get_config())))
    m2.set_weights(m.get_weights())
    np.testing.assert_allclose(m2(x).numpy(), y, rtol=1e-6)


def test_embedding_mask_reaches_recurrent_layer_in_functional_model():
    inp = Input((None,), dtype="int32")
    h = layers.Embedding(20, 4, mask_zero=True)(inp)
    m = Model(inp, layers.LSTM(3)(h))
    ids = np.array([[3, 4, 0, 0], [1, 2, 3, 0]])
    np.testing.assert_allclose(m(ids).numpy()[0], m(ids[:1, :2]).numpy()[0], atol=1e-6)


def test_subclass_calling_functional_init():
    class Wrapped(Model):
        def __init__(self, units=3):
            inp = Input((4,))
            out = layers.Dense(units)(inp)
            super().__init__(inp, out)
            self.units = units

    w = Wrapped(2)
    x = rng.standard_normal((5, 4)).astype("float32")
    assert w(x).shape == (5, 2) and w.count_params() == 10
    assert [t.shape for t in w.outputs] == [(None, 2)] and w.units == 2
    assert isinstance(w.layers[0], InputLayer)
