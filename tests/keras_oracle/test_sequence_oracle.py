"""lamina's recurrent and attention layers against real Keras 3 (PyTorch backend): the same
parameter counts and weight shapes, and the same outputs once Keras's weights are copied
into lamina (return_sequences/return_state, masks, go_backwards, Bidirectional,
MultiHeadAttention with masks, Attention, AdditiveAttention)."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lamina.nn.layers import attention as LA  # noqa: E402
from lamina.nn.layers import recurrent as LR  # noqa: E402

N, T, D, U = 3, 6, 5, 4


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _outs(o):
    return [_np(t) for t in (o if isinstance(o, (list, tuple)) else [o])]


def _lm_outs(o):
    return [t.numpy() for t in (o if isinstance(o, (list, tuple)) else [o])]


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((N, T, D)).astype(np.float32)


def _mask():
    m = np.ones((N, T), bool)
    m[0, 4:] = False
    m[1, :2] = False
    return m


@pytest.mark.parametrize("name,kw", [
    ("SimpleRNN", {}), ("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False}),
    ("LSTM", {"go_backwards": True}), ("GRU", {"go_backwards": True}),
])
@pytest.mark.parametrize("masked", [False, True])
def test_recurrent_layers_match_keras(name, kw, masked, x):
    kl = getattr(keras.layers, name)(U, return_sequences=True, return_state=True, **kw)
    ll = getattr(LR, name)(U, return_sequences=True, return_state=True, **kw)
    m = _mask() if masked else None
    ko = kl(x, mask=m) if masked else kl(x)
    ll.build(x.shape)
    assert [tuple(w.shape) for w in ll.weights] == [tuple(w.shape) for w in kl.weights]
    assert ll.count_params() == kl.count_params()
    ll.set_weights([_np(w) for w in kl.weights])
    lo = ll(x, mask=m)
    for a, b in zip(_lm_outs(lo), _outs(ko)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_return_last_output_matches_keras(x):
    kl = keras.layers.LSTM(U)
    ko = _np(kl(x))
    ll = LR.LSTM(U)
    ll.build(x.shape)
    ll.set_weights([_np(w) for w in kl.weights])
    np.testing.assert_allclose(ll(x).numpy(), ko, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["concat", "sum", "ave", "mul"])
def test_bidirectional_matches_keras(mode, x):
    kl = keras.layers.Bidirectional(keras.layers.GRU(U, return_sequences=True), merge_mode=mode)
    ko = _np(kl(x))
    ll = LR.Bidirectional(LR.GRU(U, return_sequences=True), merge_mode=mode)
    ll.build(x.shape)
    assert ll.count_params() == kl.count_params()
    ll.set_weights([_np(w) for w in kl.weights])
    np.testing.assert_allclose(ll(x).numpy(), ko, rtol=1e-4, atol=1e-5)


def test_time_distributed_matches_keras(x):
    from lamina.nn.layers.core import Dense
    kl = keras.layers.TimeDistributed(keras.layers.Dense(3))
    ko = _np(kl(x))
    ll = LR.TimeDistributed(Dense(3))
    ll.build(x.shape)
    ll.set_weights([_np(w) for w in kl.weights])
    np.testing.assert_allclose(ll(x).numpy(), ko, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["plain", "mask", "causal", "value_dim", "sliding_window",
                                  "causal_sliding_gated"])
def test_multi_head_attention_matches_keras(case):
    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 4, 6)).astype(np.float32)
    v = rng.standard_normal((2, 5, 6)).astype(np.float32)
    kw = dict(num_heads=3, key_dim=2)
    if case == "value_dim":
        kw.update(value_dim=4, output_shape=7)
    call = {}
    if case == "mask":
        am = rng.random((2, 4, 5)) > 0.3
        am[..., 0] = True
        call["attention_mask"] = am
    if case.startswith("causal"):
        v = rng.standard_normal((2, 4, 6)).astype(np.float32)
        call["use_causal_mask"] = True
    if "sliding" in case:
        kw["sliding_window"] = 2
    if "gated" in case:
        kw.update(use_gate=True, value_dim=4)
    kl = keras.layers.MultiHeadAttention(**kw)
    ko, ks = kl(q, v, return_attention_scores=True, **call)
    ll = LA.MultiHeadAttention(**kw)
    ll(q, v)
    assert ll.count_params() == kl.count_params()
    assert [tuple(w.shape) for w in ll.weights] == [tuple(w.shape) for w in kl.weights]
    ll.set_weights([_np(w) for w in kl.weights])
    lo, ls = ll(q, v, return_attention_scores=True, **call)
    np.testing.assert_allclose(ls.numpy(), _np(ks), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(lo.numpy(), _np(ko), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,kw", [
    ("Attention", {}), ("Attention", {"use_scale": True}),
    ("Attention", {"score_mode": "concat"}), ("AdditiveAttention", {}),
])
def test_dense_attention_matches_keras(name, kw):
    rng = np.random.default_rng(2)
    q = rng.standard_normal((2, 3, 4)).astype(np.float32)
    v = rng.standard_normal((2, 5, 4)).astype(np.float32)
    vm = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    qm = np.array([[1, 1, 0], [1, 1, 1]], bool)
    kl = getattr(keras.layers, name)(**kw)
    ko = _np(kl([q, v], mask=[qm, vm], use_causal_mask=True))
    ll = getattr(LA, name)(**kw)
    ll([q, v])
    assert ll.count_params() == kl.count_params()
    ll.set_weights([_np(w) for w in kl.weights])
    lo = ll([q, v], mask=[qm, vm], use_causal_mask=True)
    np.testing.assert_allclose(lo.numpy(), ko, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_with_mask_and_states_matches_keras(return_sequences, x):
    m = _mask()
    kl = keras.layers.Bidirectional(keras.layers.LSTM(U, return_sequences=return_sequences,
                                                      return_state=True))
    ko = kl(x, mask=m)
    ll = LR.Bidirectional(LR.LSTM(U, return_sequences=return_sequences, return_state=True))
    ll.build(x.shape)
    ll.set_weights([_np(w) for w in kl.weights])
    lo = ll(x, mask=m)
    assert len(lo) == len(ko) == 5
    for a, b in zip(_lm_outs(lo), _outs(ko)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_zero_output_for_mask_matches_keras(return_sequences, go_backwards, x):
    m = _mask()
    m[2, -1] = False
    m[2, 0] = False
    kw = dict(return_sequences=return_sequences, go_backwards=go_backwards,
              zero_output_for_mask=True)
    kl = keras.layers.GRU(U, **kw)
    ko = _np(kl(x, mask=m))
    ll = LR.GRU(U, **kw)
    ll.build(x.shape)
    ll.set_weights([_np(w) for w in kl.weights])
    np.testing.assert_allclose(ll(x, mask=m).numpy(), ko, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kw", [
    {}, {"padding": "same", "return_sequences": True},
    {"strides": 2, "return_state": True}, {"dilation_rate": 2, "padding": "same"},
    {"go_backwards": True, "return_sequences": True, "activation": "relu"},
    {"use_bias": False, "kernel_size": (2, 3)},
])
def test_conv_lstm2d_matches_keras(kw):
    from lamina.nn.layers import conv_recurrent as LC
    kw = dict(kw)
    ks = kw.pop("kernel_size", 3)
    x = np.random.default_rng(3).standard_normal((2, 4, 7, 6, 3)).astype(np.float32)
    kl = keras.layers.ConvLSTM2D(5, ks, **kw)
    ko = kl(x)
    ll = LC.ConvLSTM2D(5, ks, **kw)
    ll.build(x.shape)
    assert [tuple(w.shape) for w in ll.weights] == [tuple(w.shape) for w in kl.weights]
    assert ll.count_params() == kl.count_params()
    ll.set_weights([_np(w) for w in kl.weights])
    for a, b in zip(_lm_outs(ll(x)), _outs(ko)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
