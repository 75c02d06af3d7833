"""The Layer base: lazy build, add_weight, tracking, freezing, get/set_weights, naming,
losses, the training call-context, masks, input checks."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import layers, Model, Sequential, Input
from lamina.nn.layers import Layer, reset_uids


class Scale(Layer):
    """y = x * w (w per feature) with an optional counter weight."""

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1],), initializer="ones")
        self.count = self.add_weight(name="count", shape=(), initializer="zeros",
                                     trainable=False)

    def call(self, x):
        self.add_loss(lm.sum(self.w) * 0.0 + 1.0)
        return x * self.w


def test_lazy_build_and_add_weight():
    s = Scale()
    assert not s.built and s.weights == []
    with pytest.raises(ValueError, match="not built"):
        s.count_params()
    s(np.ones((2, 3), "float32"))
    assert s.built and s.count_params() == 4
    assert [w.path for w in s.weights] == [f"{s.name}/w", f"{s.name}/count"]
    assert len(s.trainable_weights) == 1 and len(s.non_trainable_weights) == 1
    # Keras 2 argument order (name first) also works
    v = s.add_weight("extra", (2,), initializer="zeros")
    assert v.name == "extra" and v.shape == (2,)


def test_auto_names_are_unique_snake_case_and_resettable():
    reset_uids()
    assert layers.Dense(1).name == "dense"
    assert layers.Dense(1).name == "dense_1"
    assert layers.BatchNormalization().name == "batch_normalization"
    assert layers.LeakyReLU().name == "leaky_re_lu"
    assert Scale().name == "scale"
    reset_uids()
    assert layers.Dense(1).name == "dense"


def test_tracking_attributes_lists_dicts_and_later_appends():
    class Block(Layer):
        def __init__(self):
            super().__init__()
            self.first = layers.Dense(2)
            self.items = [layers.Dense(2)]
            self.table = {"a": layers.Dense(2)}
            self.items.append(layers.Dense(2))        # appended after assignment
            self.raw = lm.nn.Variable(np.ones(3, "float32"), name="raw")

        def call(self, x):
            x = self.first(x)
            for d in self.items:
                x = d(x)
            return self.table["a"](x) * 1.0

    b = Block()
    b(np.ones((1, 2), "float32"))
    assert len(b.layers) == 4
    assert len(b.weights) == 9          # 4 dense layers x 2 + the raw variable
    b.table["b"] = layers.Dense(1)
    assert len(b.layers) == 5


def test_freezing_before_and_after_build_and_nested():
    d = layers.Dense(2, trainable=False)
    d(np.ones((1, 3), "float32"))
    assert d.trainable_weights == [] and len(d.non_trainable_weights) == 2
    assert not d.kernel.requires_grad
    m = Sequential([Input((3,)), layers.Dense(4), layers.BatchNormalization(), layers.Dense(1)])
    assert len(m.trainable_weights) == 6
    m.layers[0].trainable = False
    assert len(m.trainable_weights) == 4 and len(m.non_trainable_weights) == 4
    m.trainable = False
    assert m.trainable_weights == [] and all(not l.trainable for l in m.layers)
    m.trainable = True
    # moving statistics stay non-trainable when the model is unfrozen
    assert len(m.trainable_weights) == 6 and len(m.non_trainable_weights) == 2


def test_get_set_weights_copies_and_checks():
    d = layers.Dense(2)
    d(np.ones((1, 3), "float32"))
    ws = d.get_weights()
    ws[0][:] = 7.0
    assert not np.any(d.kernel.numpy() == 7.0)
    d.set_weights(ws)
    np.testing.assert_array_equal(d.kernel.numpy(), ws[0])
    with pytest.raises(ValueError, match=r"dense.*kernel.*\(3, 2\).*\(2, 2\)"):
        d.set_weights([np.zeros((2, 2)), np.zeros(2)])
    with pytest.raises(ValueError, match="expected 2 arrays"):
        d.set_weights([np.zeros((3, 2))])


def test_losses_reset_per_outer_call_and_include_sublayers():
    class Outer(Layer):
        def __init__(self):
            super().__init__()
            self.s1, self.s2 = Scale(), Scale()

        def call(self, x):
            return self.s2(self.s1(x))
    o = Outer()
    o(np.ones((1, 2), "float32"))
    assert len(o.losses) == 2
    o(np.ones((1, 2), "float32"))
    assert len(o.losses) == 2


class Recorder(Layer):
    """Records the training flag it saw."""

    def call(self, x, training=None):
        self.seen = training
        return x


def test_training_flag_reaches_nested_layers_without_passing_it():
    class Inner(Layer):
        def __init__(self):
            super().__init__()
            self.rec = Recorder()

        def call(self, x):                      # does not pass training on
            return self.rec(x)

    class M(Model):
        def __init__(self):
            super().__init__()
            self.inner = Inner()
            self.drop = layers.Dropout(0.99)

        def call(self, x):
            return self.drop(self.inner(x))

    m = M()
    x = np.ones((4, 50), "float32")
    y = m(x, training=True).numpy()
    assert m.inner.rec.seen is True and (y == 0).mean() > 0.5
    y = m(x, training=False).numpy()
    assert m.inner.rec.seen is False and np.array_equal(y, x)
    m(x)
    assert not m.inner.rec.seen
    # an explicit flag on an inner call wins over the context
    r = Recorder()
    seq = Sequential([layers.Lambda(lambda t: r(t, training=False))])
    seq(x, training=True)
    assert r.seen is False


def test_training_flag_in_functional_and_sequential():
    rec = Recorder()
    inp = Input((3,))
    m = Model(inp, rec(layers.Dense(2)(inp)))
    m(np.ones((1, 3)), training=True)
    assert rec.seen is True
    m(np.ones((1, 3)))
    assert not rec.seen


def test_mask_propagates_from_embedding_to_mask_consumers():
    seen = {}

    class Consumer(Layer):
        def call(self, x, mask=None):
            seen["mask"] = mask
            return x

    ids = np.array([[3, 1, 0, 0]])
    emb = layers.Embedding(5, 2, mask_zero=True)
    Consumer()(layers.Dropout(0.1)(emb(ids)))            # through a masking-aware layer
    np.testing.assert_array_equal(seen["mask"].numpy(), ids != 0)
    inp = Input((4,), dtype="int32")
    h = layers.Embedding(5, 2, mask_zero=True)(inp)
    m = Model(inp, Consumer()(h))
    m(ids)
    np.testing.assert_array_equal(seen["mask"].numpy(), ids != 0)
    Consumer()(layers.Flatten()(emb(ids)))               # Flatten does not support masks
    assert seen["mask"] is None


def test_input_checks_name_layer_and_shapes():
    m = Sequential([Input((4,)), layers.Dense(2, name="d1")])
    with pytest.raises(ValueError, match=r"'d1'.*value 4.*\(3, 5\)"):
        m(np.zeros((3, 5)))
    inp = Input((4,), name="inp")
    f = Model(inp, layers.Dense(2)(inp))
    with pytest.raises(ValueError, match=r"'inp'.*expected shape \(None, 4\), got \(3, 5\)"):
        f(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"expects 1 input"):
        f([np.zeros((3, 4)), np.zeros((3, 4))])
    d = layers.Dense(2, name="d2")
    with pytest.raises(ValueError, match="d2.*min_ndim=2"):
        d(np.zeros(3, "float32"))
    d3 = layers.Dense(2, name="d3")
    d3(Input((4,)))
    with pytest.raises(ValueError, match="d3.*value 4"):
        d3(Input((5,)))


def test_numpy_inputs_become_float32_and_ints_stay_ints():
    class Peek(Layer):
        def call(self, x):
            self.dt = x.dtype
            return x
    p = Peek()
    p(np.ones((1, 2)))
    assert p.dt == np.float32
    p(np.ones((1, 2), "int64"))
    assert p.dt == np.int64


def test_input_output_shape_attributes():
    d = layers.Dense(3)
    inp = Input((5,))
    out = d(inp)
    assert d.input is inp and d.output is out
    assert d.input_shape == (None, 5) and d.output_shape == (None, 3)
    e = layers.Dense(2)
    e(np.zeros((4, 7), "float32"))
    assert e.input_shape == (None, 7) and e.output_shape == (None, 2)
    with pytest.raises(AttributeError, match="never been called on a symbolic"):
        e.output


def test_training_default_of_call_signature_is_used():
    class AlwaysTrain(Layer):
        def __init__(self):
            super().__init__()
            self.rec = Recorder()

        def call(self, x, training=True):
            return self.rec(x)

    a = AlwaysTrain()
    a(np.ones((1, 2), "float32"))
    assert a.rec.seen is True                   # the default reached the nested layer
    a(np.ones((1, 2), "float32"), training=False)
    assert a.rec.seen is False


def test_extra_positional_numpy_arguments_are_converted():
    class Two(Layer):
        def call(self, a, b):
            return a + b
    y = Two()(np.ones((2, 2)), np.ones((2, 2)))
    assert isinstance(y, lm.Tensor) and y.dtype == np.float32
    s = Two()(Input((2,)), Input((2,)))
    assert s.shape == (None, 2)


def test_missing_super_init_gives_clear_error():
    class Bad(Layer):
        def __init__(self):
            self.units = 3

        def call(self, x):
            return x
    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()(np.ones((1, 2)))


def test_sequential_add_extends_graph_without_rebuilding():
    d1 = layers.Dense(3)
    m = Sequential([Input((2,)), d1])
    for _ in range(3):
        m.add(layers.Dense(3))
    assert len(d1._inbound_nodes) == 1
    assert m.output_shape == (None, 3) and len(m.layers) == 4


def test_nested_python_lists_become_one_array():
    y = layers.Dense(2)([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert y.shape == (2, 2) and y.dtype == np.float32
