"""The keras.ops added with Keras 3.x's signal, complex, einops and LU functions (stft,
istft, lu_factor, polar, rearrange, view_as_complex, view_as_real, and real/imag/conj/angle
of complex tensors) against real keras.ops (torch backend), float64 gradchecks of the
differentiable ones, and their errors."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("torch")

from lamina.keras import ops as L  # noqa: E402
from lamina.testing import gradcheck  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
K = keras.ops
rng = np.random.default_rng(0)
SIG = rng.normal(size=(2, 3, 40)).astype(np.float32)
WIN8 = np.arange(1, 9, dtype=np.float32) / 8


def _np(v):
    return v.numpy() if hasattr(v, "numpy") else K.convert_to_numpy(v)


def _close(got, want, tol):
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _close(g, w, tol)
        return
    got, want = _np(got), _np(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape,
                                                                 got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, atol=tol, rtol=tol)


# (sequence_length, sequence_stride, fft_length, window, center): torch.istft's branch
# (sequence_length == fft_length, centred, windowed) and Keras's own overlap-add branch
STFT = [(16, 4, 16, "hann", True), (10, 3, 16, "hamming", True), (12, 5, 12, "hann", False),
        (8, 2, 8, WIN8, True), (6, 2, 8, None, True), (16, 8, 32, None, False)]


@pytest.mark.parametrize("args", STFT, ids=[str(i) for i in range(len(STFT))])
def test_stft_and_istft(args):
    sl, st, fl, win, center = args
    for x in (SIG, SIG[0, 0], SIG.astype(np.float64)):
        _close(L.stft(x, sl, st, fl, win, center), K.stft(x, sl, st, fl, win, center), 2e-5)
    re, im = (_np(v) for v in K.stft(SIG, sl, st, fl, win, center))
    if st >= fl / re.shape[-2]:                   # Keras's overlap-add refuses the others
        for length in (None, 30):
            _close(L.istft((re, im), sl, st, fl, length, win, center),
                   K.istft((re, im), sl, st, fl, length, win, center), 2e-5)


def test_stft_istft_gradients():
    x = rng.normal(size=(2, 20))
    assert gradcheck(lambda v: L.stft(v, 8, 3, 8, "hann"), [x])
    assert gradcheck(lambda v: L.stft(v, 6, 4, 8, None, False), [x])
    re, im = (rng.normal(size=(2, 6, 5)) for _ in range(2))
    assert gradcheck(lambda a, b: L.istft((a, b), 8, 3, 8), [re, im])
    assert gradcheck(lambda a, b: L.istft((a, b), 6, 2, 8, window="hamming", center=False),
                     [re, im])


def test_lu_factor():
    a = rng.normal(size=(2, 4, 4)).astype(np.float32)
    _close(L.lu_factor(a), K.lu_factor(a), 1e-6)
    tall = rng.normal(size=(5, 3))
    _close(L.lu_factor(tall), K.lu_factor(tall), 1e-12)
    _close(L.lu_factor(tall.T.copy()), K.lu_factor(tall.T.copy()), 1e-12)
    # a singular matrix still factors (torch refuses it; LAPACK and scipy do this)
    lu, piv = L.lu_factor(np.array([[1.0, 2, 3], [2, 4, 6], [1, 1, 1]]))
    p = np.eye(3)
    for i, j in enumerate(piv.numpy()):
        p[[i, j]] = p[[j, i]]
    low = np.tril(lu.numpy(), -1) + np.eye(3)
    np.testing.assert_allclose(p.T @ low @ np.triu(lu.numpy()), [[1, 2, 3], [2, 4, 6],
                                                                 [1, 1, 1]], atol=1e-12)


def test_complex_helpers():
    mag = rng.uniform(0, 2, (3, 4)).astype(np.float32)
    ang = rng.normal(size=(3, 4)).astype(np.float32)
    _close(L.polar(mag, ang), K.polar(mag, ang), 1e-6)
    _close(L.polar(mag.astype(np.float64), ang), K.polar(mag.astype(np.float64), ang), 1e-6)
    pairs = rng.normal(size=(2, 3, 2)).astype(np.float32)
    _close(L.view_as_complex(pairs), K.view_as_complex(pairs), 0)
    z = pairs[..., 0] + 1j * pairs[..., 1]
    _close(L.view_as_real(L.view_as_complex(pairs)), K.view_as_real(K.view_as_complex(pairs)),
           0)
    _close(L.view_as_real(z), K.view_as_real(z), 0)
    for name in ("real", "imag", "conj", "angle", "abs"):
        _close(getattr(L, name)(z.astype(np.complex64)), getattr(K, name)(z.astype(np.complex64)),
               1e-6)
    # a real tensor gets a zero imaginary part (Keras's torch backend refuses it)
    np.testing.assert_array_equal(L.view_as_real(pairs[..., 0]).numpy()[..., 1], 0)
    assert gradcheck(lambda v: L.view_as_real(v), [pairs[..., 0].astype(np.float64)])


REARRANGE = [("b h w c -> b c h w", {}), ("b h w c -> (b h) w c", {}),
             ("b h w c -> h (b w) c", {}), ("b h w c -> b (c h w)", {}),
             ("b (h1 h) (w1 w) c -> (b h1 w1) h w c", {"h1": 2, "w1": 2}),
             ("b (h h1) (w w1) c -> b h w (c h1 w1)", {"h1": 2, "w1": 2}),
             ("b h w c->b h w c", {})]


@pytest.mark.parametrize("pattern,lengths", REARRANGE)
def test_rearrange(pattern, lengths):
    x = rng.normal(size=(4, 6, 8, 3)).astype(np.float32)
    _close(L.rearrange(x, pattern, **lengths), K.rearrange(x, pattern, **lengths), 0)


def test_rearrange_ellipsis_gradient_and_errors():
    x = rng.normal(size=(2, 3, 4, 2))
    np.testing.assert_array_equal(L.rearrange(x, "b ... c -> c b ...").numpy(),
                                  np.moveaxis(x, -1, 0))
    assert gradcheck(lambda v: L.rearrange(v, "b (h2 h) w c -> (b h2) (w c) h", h2=1), [x])
    with pytest.raises(ValueError, match="rearrange: .*does not match"):
        L.rearrange(x, "a b -> b a")
    with pytest.raises(ValueError, match="rearrange: .*each input axis once"):
        L.rearrange(x, "a b c d -> a b c")
    with pytest.raises(ValueError, match="rearrange: axis of length 3 cannot split"):
        L.rearrange(x, "a (b1 b) c d -> a b1 b c d", b1=2)


def test_errors_name_the_op():
    with pytest.raises(TypeError, match="stft: expected a float32 or float64"):
        L.stft(np.arange(10), 4, 2, 4)
    with pytest.raises(ValueError, match="stft: a window given by name"):
        L.stft(SIG, 4, 2, 4, window="kaiser")
    with pytest.raises(ValueError, match="stft: window must have shape"):
        L.stft(SIG, 4, 2, 4, window=np.ones(5))
    with pytest.raises(ValueError, match="stft: sequence_stride"):
        L.stft(SIG, 4, 0, 4)
    with pytest.raises(ValueError, match="istft: expected a tuple"):
        L.istft(SIG, 4, 2, 4)
    with pytest.raises(ValueError, match="view_as_complex: the last axis"):
        L.view_as_complex(SIG)
    with pytest.raises(ValueError, match="lu_factor: expected matrices"):
        L.lu_factor(SIG[0, 0])
