"""Shared op machinery (lamina/ops/base.py): the op table, dtype rules of operands,
unbroadcast, and the first-order-only guard for fused ops."""
import numpy as np
import pytest

import lamina as lm
from lamina.ops import base


def test_register_adds_names_and_aliases():
    @base.register("my_test_op", "my_test_alias")
    def f(x):
        return x
    try:
        assert lm.OPS["my_test_op"] is f and lm.OPS["my_test_alias"] is f
    finally:
        del lm.OPS["my_test_op"], lm.OPS["my_test_alias"]


@pytest.mark.parametrize("shape,target", [((2, 3), (3,)), ((4, 2, 3), (2, 1)), ((2, 3), ()),
                                          ((5,), (5,)), ((2, 1, 3), (1, 1, 3))])
def test_unbroadcast_sums_back(shape, target):
    g = np.random.default_rng(0).standard_normal(shape)
    got = base.unbroadcast(lm.tensor(g), target).numpy()
    raw = base.unbroadcast_array(g, target)
    # the reference: the gradient of broadcasting is a sum over the broadcast axes
    x = lm.tensor(np.zeros(target), requires_grad=True)
    lm.broadcast_to(x, shape).backward(lm.tensor(g))
    np.testing.assert_allclose(got, x.grad.numpy())
    np.testing.assert_allclose(raw, x.grad.numpy())
    assert got.shape == target


def test_first_order_only_guard():
    calls = []

    def fused(x):
        def back(g, out):
            base.first_order_only("fused_test")
            calls.append(1)
            return (base.wrap(g.data * 2),)
        return base.record(x.data * 2, (x,), back, "fused_test")

    x = lm.tensor([1.0, 2.0], requires_grad=True)
    fused(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    with pytest.raises(RuntimeError, match="fused_test.*first derivatives only"):
        lm.autograd.gradients(fused(x).sum(), [x], create_graph=True)


def test_binary_operands_dtype_rules():
    f32 = lm.tensor([1.0])
    a, b = base.binary_operands(f32, 2, "t")
    assert b.dtype == np.float32
    a, b = base.binary_operands(lm.tensor([1]), 2.5, "t")
    assert a.dtype == b.dtype == np.float32
    a, b = base.binary_operands(lm.tensor([1], dtype="int32"), lm.tensor([1], dtype="int64"), "t")
    assert a.dtype == b.dtype == np.int64
