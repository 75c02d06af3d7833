"""Property tests for the shape rules: broadcasting of binary ops (values and the
shapes of their gradients) and reductions over any axis set, with and without keepdims."""
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import lamina as lm  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, database=None)
BINARY = [("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply),
          ("maximum", np.maximum), ("minimum", np.minimum)]


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0,
                                               max_side=4),
       op=st.sampled_from(BINARY), data=st.data())
def test_binary_broadcasting_values_and_grad_shapes(shapes, op, data):
    name, ref = op
    sa, sb = shapes.input_shapes
    a = data.draw(hnp.arrays(np.float64, sa, elements=st.floats(-3, 3)))
    b = data.draw(hnp.arrays(np.float64, sb, elements=st.floats(-3, 3)))
    ta, tb = lm.tensor(a, requires_grad=True), lm.tensor(b, requires_grad=True)
    out = getattr(lm, name)(ta, tb)
    assert out.shape == shapes.result_shape == np.broadcast_shapes(sa, sb)
    np.testing.assert_array_equal(out.numpy(), ref(a, b))
    out.sum().backward()
    assert ta.grad.shape == sa and tb.grad.shape == sb
    if name in ("add", "subtract"):
        # each input entry is used once per output entry it broadcasts to
        count_a = out.data.size // max(a.size, 1) if a.size else 0
        np.testing.assert_allclose(ta.grad.numpy(), np.full(sa, count_a))


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=3))
def test_incompatible_shapes_raise_valueerror(shapes):
    sa, sb = shapes.input_shapes
    bad = tuple(s + 2 for s in sb) if sb else None
    if bad is None:
        return
    try:
        np.broadcast_shapes(sa, bad)
        return  # happens to broadcast; nothing to check
    except ValueError:
        pass
    with pytest.raises(ValueError):
        lm.add(lm.zeros(sa), lm.zeros(bad))


REDUCTIONS = [("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min),
              ("prod", np.prod), ("var", np.var), ("logsumexp", None)]


@st.composite
def array_and_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none" or nd == 0:
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axis = tuple(draw(st.lists(st.integers(0, nd - 1), unique=True, min_size=1, max_size=nd)))
    x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-2, 2)))
    return x, axis


@SETTINGS
@given(xa=array_and_axis(), keepdims=st.booleans(), op=st.sampled_from(REDUCTIONS))
def test_reduction_shapes_values_and_grad_shape(xa, keepdims, op):
    x, axis = xa
    name, ref = op
    t = lm.tensor(x, requires_grad=True)
    out = getattr(lm, name)(t, axis=axis, keepdims=keepdims)
    if ref is None:
        m = np.max(x, axis=axis, keepdims=True)
        expect = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
        if not keepdims:
            expect = np.squeeze(expect, axis=axis) if axis is not None else expect.reshape(())
    else:
        expect = ref(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expect)
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-10, atol=1e-12)
    out.sum().backward()
    assert t.grad.shape == x.shape


@SETTINGS
@given(xa=array_and_axis())
def test_sum_gradient_is_ones(xa):
    x, axis = xa
    t = lm.tensor(x, requires_grad=True)
    lm.sum(t, axis=axis).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.ones_like(x))
