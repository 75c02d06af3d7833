"""Fused recurrent ops (lamina/ops/recurrent.py): gradcheck, agreement with the
step-by-step composition of core ops (values and gradients), masking and
go_backwards semantics, PyTorch's LSTM/GRU with weights copied across."""
import numpy as np
import pytest

import lamina as lm
from lamina.ops import recurrent as R
from lamina.testing import gradcheck

N, T, D, H = 2, 4, 3, 3


def _weights(rng, gates, bias_shape, dtype=np.float64):
    k = rng.standard_normal((D, gates * H)) * 0.5
    u = rng.standard_normal((H, gates * H)) * 0.5
    b = rng.standard_normal(bias_shape) * 0.3
    return k.astype(dtype), u.astype(dtype), b.astype(dtype)


def _mask(seed=3):
    m = np.ones((N, T), dtype=bool)
    m[0, 0] = False        # a masked first step: output zeros, state carried
    m[0, 2] = False
    m[1, 3] = False        # a masked last step
    return m


# ----------------------------------------------------- reference: step by step
def _reference(kind, x, h0, c0, k, u, b, mask=None, go_backwards=False, **kw):
    """The same recurrence written with lamina ops, one step at a time, Keras masking."""
    steps = list(range(x.shape[1]))
    if go_backwards:
        steps = steps[::-1]
    h, c = h0, c0
    prev_out = lm.zeros_like(h0)
    outs = []
    for t in steps:
        xt = x[:, t]
        if kind == "lstm":
            hn, cn = R.lstm_cell(xt, h, c, k, u, b)
        elif kind == "gru":
            hn, cn = R.gru_cell(xt, h, k, u, b, **kw), None
        else:
            hn, cn = R.simple_rnn_cell(xt, h, k, u, b, **kw), None
        if mask is not None:
            mt = lm.tensor(mask[:, t:t + 1])
            out = lm.where(mt, hn, prev_out)
            h = lm.where(mt, hn, h)
            c = lm.where(mt, cn, c) if cn is not None else None
        else:
            out, h, c = hn, hn, cn
        prev_out = out
        outs.append(out)
    seq = lm.stack(outs, axis=1)
    return (seq, h, c) if kind == "lstm" else (seq, h)


def _fused(kind, x, h0, c0, k, u, b, **kw):
    if kind == "lstm":
        return R.lstm(x, h0, c0, k, u, b, **kw)
    if kind == "gru":
        return R.gru(x, h0, k, u, b, **kw)
    return R.simple_rnn(x, h0, k, u, b, **kw)


CASES = [
    ("lstm", 4, (4 * H,), {}),
    ("gru", 3, (2, 3 * H), {"reset_after": True}),
    ("gru", 3, (3 * H,), {"reset_after": False}),
    ("simple_rnn", 1, (H,), {"activation": "tanh"}),
    ("simple_rnn", 1, (H,), {"activation": "relu"}),
]
IDS = ["lstm", "gru_after", "gru_before", "rnn_tanh", "rnn_relu"]


@pytest.mark.parametrize("kind,gates,bshape,kw", CASES, ids=IDS)
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("backwards", [False, True], ids=["fwd", "bwd"])
def test_gradcheck(kind, gates, bshape, kw, masked, backwards):
    rng = np.random.default_rng(0)
    k, u, b = _weights(rng, gates, bshape)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H)) * 0.5
    c0 = rng.standard_normal((N, H)) * 0.5
    mask = _mask() if masked else None
    if kind == "simple_rnn" and kw["activation"] == "relu":
        x = x + 0.05 * np.sign(x)   # keep pre-activations away from the kink

    if kind == "lstm":
        def f(x, h0, c0, k, u, b):
            return R.lstm(x, h0, c0, k, u, b, mask=mask, go_backwards=backwards)
        gradcheck(f, [x, h0, c0, k, u, b], atol=1e-6, rtol=1e-4)
    else:
        def f(x, h0, k, u, b):
            return _fused(kind, x, h0, None, k, u, b, mask=mask, go_backwards=backwards, **kw)
        gradcheck(f, [x, h0, k, u, b], atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("kind,gates,bshape,kw", CASES, ids=IDS)
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("backwards", [False, True], ids=["fwd", "bwd"])
def test_matches_step_by_step_composition(kind, gates, bshape, kw, masked, backwards):
    rng = np.random.default_rng(1)
    k, u, b = (lm.tensor(a, requires_grad=True) for a in _weights(rng, gates, bshape))
    x = lm.tensor(rng.standard_normal((N, T, D)), requires_grad=True)
    h0 = lm.tensor(rng.standard_normal((N, H)), requires_grad=True)
    c0 = lm.tensor(rng.standard_normal((N, H)), requires_grad=True)
    mask = _mask() if masked else None
    ins = [x, h0, k, u, b] + ([c0] if kind == "lstm" else [])
    got = _fused(kind, x, h0, c0, k, u, b, mask=mask, go_backwards=backwards, **kw)
    ref = _reference(kind, x, h0, c0, k, u, b, mask=mask, go_backwards=backwards, **kw)
    ws = [rng.standard_normal(o.shape) for o in got]
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-10, atol=1e-12)

    def proj(outs):
        return sum((o * lm.tensor(w)).sum() for o, w in zip(outs, ws))
    g_got = lm.autograd.gradients(proj(got), ins)
    g_ref = lm.autograd.gradients(proj(ref), ins)
    for a, r in zip(g_got, g_ref):
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-9, atol=1e-11)


def test_masking_carries_state_and_repeats_output():
    rng = np.random.default_rng(2)
    k, u, b = _weights(rng, 4, (4 * H,), np.float32)
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    mask = _mask()
    seq, h, c = R.lstm(x, None, None, k, u, b, mask=mask)
    s = seq.numpy()
    np.testing.assert_array_equal(s[0, 0], 0)              # nothing seen yet: zeros
    np.testing.assert_array_equal(s[0, 2], s[0, 1])        # masked: previous output
    np.testing.assert_array_equal(s[1, 3], s[1, 2])
    np.testing.assert_array_equal(h.numpy()[1], s[1, 2])   # the state skips the masked step
    # dropping the masked steps gives the same final state
    seq1, h1, c1 = R.lstm(x[1:, :3], None, None, k, u, b)
    np.testing.assert_allclose(h.numpy()[1], h1.numpy()[0], rtol=1e-6)
    np.testing.assert_allclose(c.numpy()[1], c1.numpy()[0], rtol=1e-6)


def test_go_backwards_equals_reversed_input():
    rng = np.random.default_rng(3)
    k, u, b = _weights(rng, 3, (2, 3 * H), np.float32)
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    s1, h1 = R.gru(x, None, k, u, b, go_backwards=True)
    s2, h2 = R.gru(np.ascontiguousarray(x[:, ::-1]), None, k, u, b)
    np.testing.assert_allclose(s1.numpy(), s2.numpy(), rtol=1e-6)   # processing order
    np.testing.assert_allclose(h1.numpy(), h2.numpy(), rtol=1e-6)


def test_float32_stays_float32_and_no_grad_records_nothing():
    rng = np.random.default_rng(4)
    k, u, b = (lm.tensor(a, requires_grad=True) for a in _weights(rng, 4, (4 * H,), np.float32))
    x = lm.tensor(rng.standard_normal((N, T, D)).astype(np.float32))
    seq, h, c = R.lstm(x, None, None, k, u, b)
    assert seq.dtype == np.float32 and h.shape == (N, H) and c.shape == (N, H)
    assert seq.requires_grad
    with lm.no_grad():
        seq, h, c = R.lstm(x, None, None, k, u, b)
    assert not seq.requires_grad


def test_second_order_raises():
    rng = np.random.default_rng(5)
    k, u, b = (lm.tensor(a, requires_grad=True) for a in _weights(rng, 1, (H,)))
    x = lm.tensor(rng.standard_normal((N, T, D)))
    seq, h = R.simple_rnn(x, None, k, u, b)
    with pytest.raises(RuntimeError, match="second derivatives"):
        lm.autograd.gradients(h.sum(), [k], create_graph=True)


def test_registered_in_op_table():
    for name in ("lstm", "gru", "simple_rnn"):
        assert lm.OPS[name] is getattr(R, name)


@pytest.mark.parametrize("bad,match", [
    (dict(x=np.zeros((2, 3))), "batch, timesteps, features"),
    (dict(kernel=np.zeros((5, 12))), "kernel of shape"),
    (dict(recurrent_kernel=np.zeros((3, 9))), "recurrent_kernel"),
    (dict(bias=np.zeros(5)), "bias has shape"),
    (dict(mask=np.ones((2, 5), bool)), "mask has shape"),
    (dict(h0=np.zeros((3, 3))), "initial h"),
])
def test_shape_errors_name_the_op(bad, match):
    args = dict(x=np.zeros((2, 4, 3)), h0=None, c0=None, kernel=np.zeros((3, 12)),
                recurrent_kernel=np.zeros((3, 12)), bias=np.zeros(12), mask=None)
    args.update(bad)
    with pytest.raises(ValueError, match=match) as e:
        R.lstm(**args)
    assert "lstm" in str(e.value)


# ------------------------------------------------------------------ PyTorch
def _keras_to_torch_lstm(k, u, b):
    # Keras (i, f, c, o) == torch (i, f, g, o): same order, transposed
    return k.T, u.T, b, np.zeros_like(b)


def _keras_to_torch_gru(k, u, b):
    # Keras (z, r, h) -> torch (r, z, n)
    def reorder(w):
        z, r, h = np.split(w, 3, axis=-1)
        return np.concatenate([r, z, h], axis=-1)
    return reorder(k).T, reorder(u).T, reorder(b[0]), reorder(b[1])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_matches_torch_values_and_gradients(kind, torch):
    rng = np.random.default_rng(6)
    n, t, d, h = 3, 7, 5, 6
    gates = 4 if kind == "lstm" else 3
    k = rng.standard_normal((d, gates * h)) * 0.4
    u = rng.standard_normal((h, gates * h)) * 0.4
    b = rng.standard_normal((gates * h,) if kind == "lstm" else (2, gates * h)) * 0.2
    x = rng.standard_normal((n, t, d))
    h0 = rng.standard_normal((n, h)) * 0.3
    c0 = rng.standard_normal((n, h)) * 0.3

    mod = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(d, h, batch_first=True).double()
    wih, whh, bih, bhh = (_keras_to_torch_lstm if kind == "lstm" else _keras_to_torch_gru)(k, u, b)
    with torch.no_grad():
        mod.weight_ih_l0.copy_(torch.tensor(wih))
        mod.weight_hh_l0.copy_(torch.tensor(whh))
        mod.bias_ih_l0.copy_(torch.tensor(bih))
        mod.bias_hh_l0.copy_(torch.tensor(bhh))
    tx = torch.tensor(x, requires_grad=True)
    th0 = torch.tensor(h0[None], requires_grad=True)
    tc0 = torch.tensor(c0[None], requires_grad=True)
    if kind == "lstm":
        tseq, (thn, tcn) = mod(tx, (th0, tc0))
        touts = [tseq, thn[0], tcn[0]]
    else:
        tseq, thn = mod(tx, th0)
        touts = [tseq, thn[0]]
    ws = [rng.standard_normal(tuple(o.shape)) for o in touts]
    sum((o * torch.tensor(w)).sum() for o, w in zip(touts, ws)).backward()

    lx, lh0, lc0, lk, lu, lb = (lm.tensor(a, requires_grad=True) for a in (x, h0, c0, k, u, b))
    outs = R.lstm(lx, lh0, lc0, lk, lu, lb) if kind == "lstm" else R.gru(lx, lh0, lk, lu, lb)
    for a, o in zip(outs, touts):
        np.testing.assert_allclose(a.numpy(), o.detach().numpy(), rtol=1e-10, atol=1e-12)
    sum((o * lm.tensor(w)).sum() for o, w in zip(outs, ws)).backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(lh0.grad.numpy(), th0.grad.numpy()[0], rtol=1e-9, atol=1e-11)
    if kind == "lstm":
        np.testing.assert_allclose(lc0.grad.numpy(), tc0.grad.numpy()[0], rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(lk.grad.numpy(), mod.weight_ih_l0.grad.numpy().T, rtol=1e-9,
                                   atol=1e-11)
        np.testing.assert_allclose(lu.grad.numpy(), mod.weight_hh_l0.grad.numpy().T, rtol=1e-9,
                                   atol=1e-11)
        np.testing.assert_allclose(lb.grad.numpy(), mod.bias_ih_l0.grad.numpy(), rtol=1e-9,
                                   atol=1e-11)
    else:
        gk, gu, gbi, gbh = _keras_to_torch_gru(lk.grad.numpy(), lu.grad.numpy(), lb.grad.numpy())
        np.testing.assert_allclose(gk, mod.weight_ih_l0.grad.numpy(), rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(gu, mod.weight_hh_l0.grad.numpy(), rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(gbi, mod.bias_ih_l0.grad.numpy(), rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(gbh, mod.bias_hh_l0.grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kind,gates,bshape,kw", CASES[:3], ids=IDS[:3])
def test_backward_twice_with_retain_graph_accumulates(kind, gates, bshape, kw):
    rng = np.random.default_rng(7)
    k, u, b = (lm.tensor(a, requires_grad=True) for a in _weights(rng, gates, bshape))
    x = lm.tensor(rng.standard_normal((N, T, D)))
    out = _fused(kind, x, None, None, k, u, b, mask=_mask(), **kw)
    loss = out[0].sum() + out[1].sum()
    loss.backward(retain_graph=True)
    g1 = u.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(u.grad.numpy(), 2 * g1, rtol=1e-12)


@pytest.mark.parametrize("trainable", [
    (True, True, True), (False, True, True), (True, False, True), (True, True, False),
    (False, False, True), (False, True, False), (True, False, False), (False, False, False),
    "no_bias"], ids=lambda v: v if isinstance(v, str) else "".join("kub"[i] if f else "-"
                                                                   for i, f in enumerate(v)))
def test_lstm_gradients_of_any_subset_of_weights(trainable):
    """The LSTM gets d kernel, d bias and d recurrent kernel from one GEMM over stacked
    rows; each subset of weights that needs a gradient must still get the right one."""
    rng = np.random.default_rng(11)
    k, u, b = _weights(rng, 4, (4 * H,))
    x0, h0, c0 = (rng.standard_normal(s) for s in ((N, T, D), (N, H), (N, H)))
    flags = (True, True, False) if trainable == "no_bias" else trainable
    args = [lm.tensor(a, requires_grad=f) for a, f in zip((k, u, b), flags)]
    if trainable == "no_bias":
        args[2] = None
    x = lm.tensor(x0, requires_grad=True)
    got = R.lstm(x, lm.tensor(h0), lm.tensor(c0), *args)
    (got[0].sum() + 2 * got[1].sum()).backward()
    refs = [lm.tensor(a, requires_grad=True) for a in (k, u, b)]
    rx = lm.tensor(x0, requires_grad=True)
    ref = _reference("lstm", rx, lm.tensor(h0), lm.tensor(c0), refs[0], refs[1],
                     None if trainable == "no_bias" else refs[2])
    (ref[0].sum() + 2 * ref[1].sum()).backward()
    np.testing.assert_allclose(got[0].numpy(), ref[0].numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), rx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for a, r in zip(args, refs):
        if a is None:
            continue
        if a.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), r.grad.numpy(), rtol=1e-9, atol=1e-12)
        else:
            assert a.grad is None


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("backwards", [False, True], ids=["fwd", "bwd"])
def test_lstm_last_output_only_matches_full_sequence(masked, backwards):
    """return_sequences=False: the last output (and its gradient) as outputs[:, -1]."""
    rng = np.random.default_rng(12)
    k, u, b = _weights(rng, 4, (4 * H,))
    x0, h0, c0 = (rng.standard_normal(s) for s in ((N, T, D), (N, H), (N, H)))
    mask = _mask() if masked else None
    if masked:
        mask[1, :] = False          # a fully masked row: last output 0, h = h0
    w = [rng.standard_normal((N, H)) for _ in range(3)]
    grads = []
    for full in (True, False):
        ts = [lm.tensor(a, requires_grad=True) for a in (x0, h0, c0, k, u, b)]
        out = R.lstm(*ts, mask=mask, go_backwards=backwards, return_sequences=full)
        last = out[0][:, -1] if full else out[0]
        assert last.shape == (N, H)
        if full:
            ref_vals = [o.numpy() for o in (last, out[1], out[2])]
        else:
            for got, ref in zip((last, out[1], out[2]), ref_vals):
                np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-14)
        loss = sum((o * lm.tensor(wi)).sum() for o, wi in zip((last, out[1], out[2]), w))
        loss.backward()
        grads.append([t.grad.numpy() for t in ts])
    for a, r in zip(grads[1], grads[0]):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)



@pytest.mark.parametrize("steps", [1, 2, 7])
def test_lstm_short_and_odd_lengths_and_carried_large_state_match_composition(steps):
    """The backward walks reversed per-step views and recomputes tanh(c) from the saved
    states (it keeps neither tanh(c) nor reads h): check lengths 1, 2, 7 against the
    step-by-step composition, with masked steps carrying a large cell state (where the
    carried c's tanh differs from the cell's)."""
    rng = np.random.default_rng(21)
    k, u, b = (lm.tensor(a, requires_grad=True) for a in _weights(rng, 4, (4 * H,)))
    x = lm.tensor(rng.standard_normal((N, steps, D)), requires_grad=True)
    h0 = lm.tensor(rng.standard_normal((N, H)), requires_grad=True)
    c0 = lm.tensor(rng.standard_normal((N, H)) * 4, requires_grad=True)
    mask = np.ones((N, steps), dtype=bool)
    mask[0, 0] = False
    mask[1, -1] = False
    ins = [x, h0, c0, k, u, b]
    got = R.lstm(x, h0, c0, k, u, b, mask=mask)
    ref = _reference("lstm", x, h0, c0, k, u, b, mask=mask)
    ws = [rng.standard_normal(o.shape) for o in got]
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-10, atol=1e-12)

    def proj(outs):
        return sum((o * lm.tensor(w)).sum() for o, w in zip(outs, ws))
    for a, r in zip(lm.autograd.gradients(proj(got), ins), lm.autograd.gradients(proj(ref), ins)):
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-9, atol=1e-11)
