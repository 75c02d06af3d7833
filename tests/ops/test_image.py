"""Image ops: resize and upsampling against PyTorch's interpolate (half-pixel centres:
'bilinear' with align_corners=False, 'nearest-exact' as Keras uses), gradients, padding and
cropping."""
from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.ops import image as I
from lamina.testing import gradcheck, gradgradcheck


@pytest.mark.parametrize("size", [(10, 8), (7, 3), (3, 9), (5, 4)])
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_resize_matches_torch(size, method, torch):
    x = np.random.default_rng(0).standard_normal((2, 5, 4, 3))
    mode = "bilinear" if method == "bilinear" else "nearest-exact"
    kw = {"align_corners": False} if method == "bilinear" else {}
    ref = torch.nn.functional.interpolate(torch.tensor(x).permute(0, 3, 1, 2), size=size,
                                          mode=mode, **kw).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(I.resize(lm.tensor(x), size, method).numpy(), ref, atol=1e-12)
    assert gradcheck(lambda a: I.resize(a, size, method), [x])


def test_upsample2d(torch):
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 2))
    y = I.upsample2d(lm.tensor(x), (2, 3))
    ref = torch.nn.functional.interpolate(torch.tensor(x).permute(0, 3, 1, 2),
                                          scale_factor=(2, 3), mode="nearest")
    np.testing.assert_array_equal(y.numpy(), ref.permute(0, 2, 3, 1).numpy())
    assert gradcheck(lambda a: I.upsample2d(a, (2, 3)), [x])
    assert gradgradcheck(lambda a: I.upsample2d(a, 2) ** 2, [x[:1, :2, :2, :1]])
    yb = I.upsample2d(lm.tensor(x), 2, "bilinear")
    np.testing.assert_allclose(yb.numpy(), I.resize(lm.tensor(x), (6, 8)).numpy())


def test_pad_and_crop():
    x = np.random.default_rng(2).standard_normal((2, 5, 4, 3))
    y = I.zero_pad2d(lm.tensor(x), ((1, 2), (0, 1)))
    assert y.shape == (2, 8, 5, 3)
    np.testing.assert_array_equal(y.numpy()[:, 1:6, 0:4], x)
    assert y.numpy()[:, 0].sum() == 0 and y.numpy()[:, 6:].sum() == 0
    assert I.zero_pad2d(lm.tensor(x), 1).shape == (2, 7, 6, 3)
    c = I.crop2d(lm.tensor(x), ((1, 2), (0, 1)))
    np.testing.assert_array_equal(c.numpy(), x[:, 1:3, 0:3])
    assert gradcheck(lambda a: I.crop2d(I.zero_pad2d(a, (2, 1)), ((1, 0), (0, 2))), [x])


def test_errors():
    with pytest.raises(ValueError, match="crop2d: cropping .* leaves nothing"):
        I.crop2d(lm.zeros((1, 4, 4, 1)), 2)
    with pytest.raises(ValueError, match="resize: interpolation must be"):
        I.resize(lm.zeros((1, 4, 4, 1)), (2, 2), "cubic")
    with pytest.raises(ValueError, match="zero_pad2d: padding must be"):
        I.zero_pad2d(lm.zeros((1, 4, 4, 1)), (1, 2, 3))


def _f64(*shape, lo=0.05, hi=0.95, seed=11):
    r = np.random.default_rng(seed)
    return lm.tensor(r.uniform(lo, hi, shape), requires_grad=True)


@pytest.mark.parametrize("name,fn,shapes", [
    ("separable_filter2d", lambda x: I.separable_filter2d(x, (0.2, 0.5, 0.3), (1.0, -2.0)),
     [(1, 5, 6, 2)]),
    ("map_coordinates", lambda x, c: I.map_coordinates(x, c * 6 - 1, 1, "reflect"),
     [(5, 6), (2, 3, 4)]),
    ("rgb_to_grayscale", I.rgb_to_grayscale, [(2, 3, 4, 3)]),
    ("rgb_to_hsv", I.rgb_to_hsv, [(2, 3, 4, 3)]),
    ("hsv_to_rgb", I.hsv_to_rgb, [(2, 3, 4, 3)]),
    ("scale_and_translate", lambda x: I.scale_and_translate(
        x, (1, 7, 4, 2), [1.3, 0.7], [0.2, 0.0], (1, 2), "cubic"), [(1, 5, 6, 2)]),
])
def test_registered_image_ops_gradcheck(name, fn, shapes):
    # the ops the Keras image functions and augmentation layers are built on
    assert name in lm.OPS
    xs = [_f64(*s, seed=11 + i) for i, s in enumerate(shapes)]
    assert gradcheck(fn, xs, name=name)
