"""keras.ops.image against real keras.ops.image (torch backend): values, shapes and dtypes
on batched and unbatched images, both data formats and the options of each op; float64
gradchecks of the differentiable ones; errors that name the op."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("torch")

import lamina as lm  # noqa: E402
from lamina.keras import ops as lops  # noqa: E402
from lamina.testing import gradcheck, gradgradcheck  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
K, L = keras.ops.image, lops.image
rng = np.random.default_rng(0)
IMG = rng.uniform(0, 1, (2, 9, 11, 3)).astype(np.float32)       # channels last
IMG2 = np.clip(IMG + rng.normal(0, 0.1, IMG.shape), 0, 1).astype(np.float32)
CF = np.ascontiguousarray(np.moveaxis(IMG, -1, 1))               # channels first
IMG64 = IMG.astype(np.float64)
U8 = (IMG * 255).astype(np.uint8)
VOL = rng.normal(size=(2, 6, 7, 5, 2)).astype(np.float32)
GRID = rng.normal(size=(5, 6)).astype(np.float32)
COORDS = rng.uniform(-3, 8, (2, 4, 7)).astype(np.float32)
COORDS[:, 0, :3] = [[0.5, 1.5, 2.5], [0.5, -0.5, 5.5]]           # ties: round half to even
# zoom by 1.5 (half-pixel source points), a shear with a translation
TRANSFORMS = np.array([[1.5, 0, -2, 0, 1.5, -1.6, 0, 0], [1, 0.2, -2, 0.1, 1, 1.5, 0, 0]])
START = np.array([[0, 0], [0, 9], [11, 0], [11, 9]], np.float64)
END = np.array([[1, 1], [0.5, 8], [10, -1], [12, 9.5]], np.float64)
MAT = np.arange(12, dtype=np.float32).reshape(3, 4)
SCALE, SHIFT = np.array([2.0, 0.6], np.float32), np.array([-0.5, 0.3], np.float32)

CL = {"data_format": "channels_last"}
CFMT = {"data_format": "channels_first"}

# (name, args, kwargs, tolerance)
CASES = [
    ("rgb_to_grayscale", (IMG,), {}, 1e-6), ("rgb_to_grayscale", (CF,), CFMT, 1e-6),
    ("rgb_to_grayscale", (IMG[0],), {}, 1e-6), ("rgb_to_grayscale", (IMG[..., :1],), {}, 0),
    ("rgb_to_grayscale", (U8,), {}, 0),
    ("rgb_to_hsv", (IMG,), {}, 1e-6), ("rgb_to_hsv", (CF[0],), CFMT, 1e-6),
    ("hsv_to_rgb", (IMG,), {}, 1e-6), ("hsv_to_rgb", (CF,), CFMT, 1e-6),
    ("pad_images", (IMG, 1, 2), {"target_height": 12, "target_width": 15}, 0),
    ("pad_images", (CF[0], 1, 2, 3, 0), CFMT, 0),
    ("pad_images", (IMG[0], None, 0, 2, None, 12, 13), {}, 0),
    ("crop_images", (IMG, 1, 2), {"target_height": 5, "target_width": 6}, 0),
    ("crop_images", (IMG[0], None, 2, 1, 3, 5), {}, 0),
    ("crop_images", (CF, 2, 1, 3, 4), CFMT, 0),
    ("affine_transform", (IMG64, TRANSFORMS), {}, 1e-9),
    ("affine_transform", (IMG64[0], TRANSFORMS[1]), {"fill_value": 0.5}, 1e-9),
    ("affine_transform", (np.moveaxis(IMG64, -1, 1), TRANSFORMS), CFMT, 1e-9),
    ("affine_transform", (U8, TRANSFORMS), {}, 1),
    ("perspective_transform", (IMG64, START, END), {}, 1e-5),
    ("perspective_transform", (IMG64[0], START, END), {"interpolation": "nearest",
                                                       "fill_value": 0.2}, 0),
    ("perspective_transform", (np.moveaxis(IMG64, -1, 1), np.stack([START, START + 1]),
                               np.stack([END, END])), CFMT, 1e-5),
    ("gaussian_blur", (IMG,), CL, 1e-6),
    ("gaussian_blur", (IMG[0], (5, 5), (0.7, 1.6)), CL, 1e-6),
    ("gaussian_blur", (CF, (3, 3), (2.0, 0.5)), CFMT, 1e-6),
    ("sobel_edges", (IMG,), CL, 1e-5), ("sobel_edges", (CF,), CFMT, 1e-5),
    ("ssim", (IMG, IMG2), {"filter_size": 5}, 1e-5),
    ("ssim", (IMG[0], IMG2[0]), {"filter_size": 3, "max_val": 2.0, "k1": 0.02}, 1e-5),
    ("ssim", (CF, np.moveaxis(IMG2, -1, 1)), {"filter_size": 7, "filter_sigma": 1.0,
                                              **CFMT}, 1e-5),
    ("extract_patches", (IMG, (3, 3)), {}, 0),
    ("extract_patches", (IMG, 2, (1, 2)), {"padding": "same"}, 0),
    ("extract_patches", (IMG[0], (3, 2), 1, 2), {}, 0),
    ("extract_patches", (CF, (3, 3), (2, 2)), {"padding": "same", **CFMT}, 0),
    ("extract_patches", (VOL[0], (3, 3, 3), (2, 2, 2)), {"padding": "same"}, 0),
    ("extract_patches_3d", (VOL, (2, 3, 2)), {}, 0),
    ("extract_patches_3d", (np.moveaxis(VOL, -1, 1), 2, 1), CFMT, 0),
    ("scale_and_translate", (MAT, (5, 3), SCALE, SHIFT, (0, 1), "linear"), {}, 1e-5),
    ("scale_and_translate", (MAT, (5, 3), SCALE, SHIFT, (0, 1), "bicubic"),
     {"antialias": False}, 1e-5),
    ("scale_and_translate", (MAT, (5, 3), SCALE, SHIFT, (0, 1), "lanczos3"), {}, 1e-5),
    ("scale_and_translate", (IMG, (2, 4, 7, 3), [0.5, 0.7], [0.0, 1.0], (1, 2), "lanczos5"),
     {}, 1e-5),
] + [
    ("resize", (IMG, size, interp), {"antialias": aa}, 2e-6)
    for interp in ("nearest", "bilinear", "bicubic") for aa in (False, True)
    for size in ((4, 5), (13, 17), (9, 6))
] + [
    ("resize", (IMG, size), kw, 2e-6)
    for kw in ({"crop_to_aspect_ratio": True},
               {"pad_to_aspect_ratio": True, "fill_value": 0.5})
    for size in ((4, 8), (8, 4), (5, 5))
] + [
    ("resize", (CF, (5, 4)), CFMT, 2e-6), ("resize", (IMG[0], (5, 4), "bicubic"), {}, 2e-6),
    ("resize", (U8, (5, 4)), {}, 0), ("resize", (U8, (4, 7), "bicubic"), {}, 0),
] + [
    ("affine_transform", (IMG64, TRANSFORMS, interp, mode, 0.3), {}, 1e-9)
    for interp in ("nearest", "bilinear")
    for mode in ("constant", "nearest", "wrap", "mirror", "reflect")
] + [
    ("map_coordinates", (GRID, COORDS, order, mode, 0.7), {}, 1e-6)
    for order in (0, 1) for mode in ("constant", "nearest", "wrap", "mirror", "reflect")
] + [
    ("map_coordinates", (IMG[0], rng.uniform(-1, 10, (3, 4, 5)).astype(np.float32), 1), {},
     1e-6),
    ("map_coordinates", ((GRID * 10).astype(np.int32), COORDS, 1), {}, 0),
]


def _np(v):
    return v.numpy() if hasattr(v, "numpy") else keras.ops.convert_to_numpy(v)


@pytest.mark.parametrize("name,args,kwargs,tol", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_against_keras(name, args, kwargs, tol):
    want = _np(getattr(K, name)(*args, **kwargs))
    got = _np(getattr(L, name)(*args, **kwargs))
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape,
                                                                 got.dtype, want.dtype)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), atol=tol,
                               rtol=tol)


def test_gaussian_blur_kernel_size_is_width_then_height():
    """Keras builds the kernel as outer(taps(kernel_size[1], sigma[1]), taps(kernel_size[0],
    sigma[0])) (rows x columns), zero padded (k - 1) // 2 before; torch's backend only
    agrees for square kernels, so non-square ones are checked against that definition."""
    x = IMG[:1]

    def taps(n, s):
        t = np.arange(n) - (n - 1) / 2
        k = np.exp(-0.5 * (t / s) ** 2)
        return k / k.sum()

    for ks, sig in (((3, 5), (0.8, 1.7)), ((4, 2), (1.0, 0.6))):
        k2 = np.outer(taps(ks[1], sig[1]), taps(ks[0], sig[0]))
        kh, kw = k2.shape
        pad = np.pad(x[0].astype(np.float64), (((kh - 1) // 2, kh - 1 - (kh - 1) // 2),
                                               ((kw - 1) // 2, kw - 1 - (kw - 1) // 2), (0, 0)))
        want = sum(k2[i, j] * pad[i:i + x.shape[1], j:j + x.shape[2]]
                   for i in range(kh) for j in range(kw))
        got = L.gaussian_blur(x, ks, sig).numpy()[0]
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_default_data_format_follows_keras_config():
    from lamina.keras import config
    assert config.image_data_format() == "channels_last"
    config.set_image_data_format("channels_first")
    try:
        got = L.resize(CF, (5, 4)).numpy()
        np.testing.assert_allclose(got, _np(K.resize(CF, (5, 4), data_format="channels_first")),
                                   atol=2e-6)
        assert L.rgb_to_grayscale(CF).shape == (2, 1, 9, 11)
        assert L.extract_patches(CF, 3).shape == (2, 27, 3, 3)
    finally:
        config.set_image_data_format("channels_last")


def test_elastic_transform():
    # alpha = 0 moves nothing (in Keras too); the random fields cannot match Keras's draws,
    # so the rest checks lamina's own contract: seeded, shaped, moving pixels
    np.testing.assert_array_equal(L.elastic_transform(IMG, alpha=0.0).numpy(), IMG)
    np.testing.assert_array_equal(_np(K.elastic_transform(IMG, alpha=0.0, **CL)), IMG)
    a = L.elastic_transform(IMG, alpha=5.0, sigma=2.0, seed=3).numpy()
    np.testing.assert_array_equal(a, L.elastic_transform(IMG, alpha=5.0, sigma=2.0,
                                                         seed=3).numpy())
    assert a.shape == IMG.shape and a.dtype == np.float32
    assert not np.allclose(a, L.elastic_transform(IMG, alpha=5.0, sigma=2.0, seed=4).numpy())
    assert 0.01 < np.abs(a - IMG).mean() < 0.5
    gen = lm.keras.random.SeedGenerator(7)
    b = L.elastic_transform(CF[0], 5.0, 2.0, "nearest", "constant", seed=gen, **CFMT)
    assert b.shape == CF[0].shape
    # nearest sampling only moves existing values around (or fills with 0)
    assert np.isin(b.numpy(), np.append(CF[0], 0)).all()
    assert L.elastic_transform(U8, seed=1).numpy().dtype == np.uint8


def _g64(*arrays):
    return [np.asarray(a, np.float64) for a in arrays]


SMALL = rng.uniform(0.05, 0.95, (1, 5, 6, 2))
SMALL3 = rng.uniform(0.05, 0.95, (1, 4, 5, 3))


@pytest.mark.parametrize("name,fn,inputs", [
    ("resize bicubic", lambda x: L.resize(x, (3, 8), "bicubic"), _g64(SMALL)),
    ("resize antialias", lambda x: L.resize(x, (3, 4), antialias=True), _g64(SMALL)),
    ("resize pad ratio", lambda x: L.resize(x, (4, 8), pad_to_aspect_ratio=True), _g64(SMALL)),
    ("scale_and_translate", lambda x: L.scale_and_translate(x, (1, 7, 4, 2), [1.3, 0.7],
                                                            [0.2, 0.0], (1, 2), "cubic"),
     _g64(SMALL)),
    ("map_coordinates", lambda x, c: L.map_coordinates(x, c, 1, "reflect"),
     _g64(SMALL[0, :, :, 0], rng.uniform(-1.7, 5.7, (2, 3, 4)))),
    ("gaussian_blur", lambda x: L.gaussian_blur(x, (3, 4), (0.8, 1.5)), _g64(SMALL)),
    ("sobel_edges", L.sobel_edges, _g64(SMALL)),
    ("ssim", lambda a, b: L.ssim(a, b, filter_size=3), _g64(SMALL, SMALL[..., ::-1])),
    ("rgb_to_grayscale", L.rgb_to_grayscale, _g64(SMALL3)),
    ("rgb_to_hsv", L.rgb_to_hsv, _g64(SMALL3)),
    ("hsv_to_rgb", L.hsv_to_rgb, _g64(SMALL3)),
    ("pad_images", lambda x: L.pad_images(x, 1, 0, 2, 1), _g64(SMALL)),
    ("crop_images", lambda x: L.crop_images(x, 1, 0, 2, 1), _g64(SMALL)),
    ("extract_patches", lambda x: L.extract_patches(x, 2, 1, padding="same"), _g64(SMALL)),
    ("elastic_transform", lambda x: L.elastic_transform(x, 2.0, 1.0, seed=0), _g64(SMALL)),
])
def test_gradients(name, fn, inputs):
    assert gradcheck(fn, inputs, name=name)


@pytest.mark.parametrize("padding", ["same", "valid", ((0, 2), (1, 0))])
def test_separable_filter_differentiates_twice(padding):
    from lamina.ops.image import separable_filter2d
    f = lambda x: separable_filter2d(x, (0.2, 0.5, 0.3), (1.0, -2.0), padding)  # noqa: E731
    assert gradcheck(f, _g64(SMALL)) and gradgradcheck(f, _g64(SMALL))


def test_errors_name_the_op():
    with pytest.raises(ValueError, match="resize: .*rank 3"):
        L.resize(IMG[0, 0], (2, 2))
    with pytest.raises(ValueError, match="resize: interpolation"):
        L.resize(IMG, (2, 2), "area")
    with pytest.raises(ValueError, match="resize: only one of"):
        L.resize(IMG, (2, 2), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="rgb_to_hsv: expected float"):
        L.rgb_to_hsv(U8)
    with pytest.raises(ValueError, match="rgb_to_grayscale: expected 3"):
        L.rgb_to_grayscale(IMG[..., :2])
    with pytest.raises(ValueError, match="sobel_edges: .*rank 4"):
        L.sobel_edges(IMG[0])
    with pytest.raises(ValueError, match="pad_images: give exactly two"):
        L.pad_images(IMG, 1, 1)
    with pytest.raises(ValueError, match="crop_images: .*target_height would be -"):
        L.crop_images(IMG, 5, 0, 5, 0)
    with pytest.raises(ValueError, match="affine_transform: transform must be"):
        L.affine_transform(IMG, np.ones(6))
    with pytest.raises(ValueError, match="affine_transform: fill_mode"):
        L.affine_transform(IMG, TRANSFORMS, fill_mode="edge")
    with pytest.raises(ValueError, match="perspective_transform: start_points"):
        L.perspective_transform(IMG, START[:3], END[:3])
    with pytest.raises(ValueError, match="map_coordinates: expected 2 coordinate arrays"):
        L.map_coordinates(GRID, COORDS[:1], 1)
    with pytest.raises(ValueError, match="map_coordinates: order"):
        L.map_coordinates(GRID, COORDS, 3)
    with pytest.raises(ValueError, match="ssim: image1 .* must have the same shape"):
        L.ssim(IMG, IMG[0])
    with pytest.raises(ValueError, match="ssim: .*smaller than filter_size"):
        L.ssim(IMG, IMG)
    with pytest.raises(ValueError, match="extract_patches_3d: .*rank 4"):
        L.extract_patches_3d(IMG[0], 2)
    with pytest.raises(ValueError, match="scale_and_translate: method"):
        L.scale_and_translate(MAT, (5, 3), SCALE, SHIFT, (0, 1), "box")
    with pytest.raises(ValueError, match="data_format must be"):
        L.gaussian_blur(IMG, data_format="NHWC")
