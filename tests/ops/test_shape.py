"""Shape ops beyond the table: errors that name the op, and view-like behaviour."""
import numpy as np
import pytest

import lamina as lm


def test_shape_errors_name_the_op():
    x = lm.zeros(2, 3)
    with pytest.raises(ValueError, match=r"squeeze: axis 1 has size 3"):
        lm.squeeze(x, 1)
    with pytest.raises(ValueError, match=r"split: axis 1 of size 3 cannot be split into 2"):
        lm.split(x, 2, axis=1)
    with pytest.raises(ValueError, match="pad: only mode='constant'"):
        lm.pad(x, 1, mode="reflect")
    with pytest.raises(ValueError, match=r"broadcast_to: shape \(2, 3\) cannot be broadcast"):
        lm.broadcast_to(x, (3, 3))
    with pytest.raises(ValueError, match=r"stack: tensor 1 has shape \(3, 2\)"):
        lm.stack([x, lm.zeros(3, 2)])
    with pytest.raises(ValueError, match="transpose: axes"):
        lm.transpose(x, (0, 0))
    with pytest.raises(TypeError, match="repeat: only an integer"):
        lm.repeat(x, [1, 2])


def test_tensor_method_spellings():
    x = lm.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.reshape(6, 4).shape == (6, 4) and x.reshape((4, 6)).shape == (4, 6)
    assert x.view(-1).shape == (24,) and x.permute(2, 0, 1).shape == (4, 2, 3)
    assert x.transpose(0, 2).shape == (4, 3, 2) and x.transpose().shape == (4, 3, 2)
    assert x.unsqueeze(0).shape == (1, 2, 3, 4) and x.flatten().shape == (24,)
    assert x.mT.shape == (2, 4, 3)


def test_concatenate_mixed_dtypes_promote():
    y = lm.concatenate([lm.zeros(2, dtype="float32"), lm.zeros(2, dtype="float64")])
    assert y.dtype == np.float64


def test_pad_values():
    y = lm.pad(lm.ones(2), (1, 2), constant_values=7.0)
    np.testing.assert_array_equal(y.numpy(), [7, 1, 1, 7, 7])
