"""Variable: names and paths, trainable <-> requires_grad, in-place assignment."""
import numpy as np
import pytest

import lamina as lm
from lamina.nn import Variable, layers


def test_paths_names_and_trainable():
    d = layers.Dense(2, name="dense_x")
    d(np.zeros((1, 3), "float32"))
    k = d.kernel
    assert isinstance(k, Variable) and isinstance(k, lm.Tensor)
    assert k.path == "dense_x/kernel" and k.name == "kernel"
    assert k.trainable and k.requires_grad
    k.trainable = False
    assert not k.requires_grad
    k.trainable = True
    assert k.value is k and k.dtype == np.float32 and k.shape == (3, 2)


def test_assign_family_keeps_array_and_checks_shape():
    v = Variable(np.zeros((2, 2), "float32"), name="w", path="l/w")
    arr = v.data
    v.assign(np.ones((2, 2)))
    v.assign_add(np.full((2, 2), 2.0))
    v.assign_sub(lm.tensor(np.ones((2, 2), "float32")))
    assert v.data is arr and v.dtype == np.float32
    np.testing.assert_array_equal(v.numpy(), np.full((2, 2), 2.0))
    snapshot = v.numpy()
    v.assign(np.zeros((2, 2)))
    assert snapshot[0, 0] == 2.0            # numpy() is a copy
    with pytest.raises(ValueError, match=r"l/w.*\(2, 2\).*\(3,\)"):
        v.assign(np.zeros(3))


def test_variable_in_ops_and_gradient():
    v = Variable(np.array([1.0, 2.0], "float32"), name="v")
    loss = lm.sum(v * v)
    loss.backward()
    np.testing.assert_allclose(v.grad.numpy(), [2.0, 4.0])
    frozen = Variable(np.ones(2, "float32"), trainable=False)
    assert not (frozen * 2.0).requires_grad
