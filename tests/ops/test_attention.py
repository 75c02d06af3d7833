"""Fused scaled dot-product attention (lamina/ops/attention.py): gradcheck, agreement
with the composition of core ops, masks and causal masking, dropout, PyTorch."""
import numpy as np
import pytest

import lamina as lm
from lamina.ops.attention import scaled_dot_product_attention as sdpa
from lamina.testing import gradcheck


def _qkv(rng, b=(2,), lq=3, lk=4, d=5, dv=2):
    return (rng.standard_normal(b + (lq, d)), rng.standard_normal(b + (lk, d)),
            rng.standard_normal(b + (lk, dv)))


def _composed(q, k, v, mask=None, causal=False, scale=None):
    """softmax(q k^T * scale, masked) v written with lamina ops."""
    d = q.shape[-1]
    s = lm.matmul(q, lm.swapaxes(k, -1, -2)) * (1 / np.sqrt(d) if scale is None else scale)
    allowed = None if mask is None else np.asarray(mask, bool)
    if causal:
        tri = np.tril(np.ones((q.shape[-2], k.shape[-2]), bool))
        allowed = tri if allowed is None else allowed & tri
    if allowed is not None:
        s = lm.where(lm.tensor(allowed), s, lm.full_like(s, -1e9))
    return lm.matmul(lm.softmax(s, axis=-1), v)


@pytest.mark.parametrize("mode", ["plain", "mask", "causal", "scale", "heads"])
def test_gradcheck(mode):
    rng = np.random.default_rng(0)
    b = (2, 2) if mode == "heads" else (2,)
    q, k, v = _qkv(rng, b)
    mask = rng.random((2, 3, 4)) > 0.3 if mode == "mask" else None
    kw = dict(mask=mask, causal=mode == "causal", scale=0.7 if mode == "scale" else None)
    gradcheck(lambda q, k, v: sdpa(q, k, v, **kw), [q, k, v], atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("mode", ["plain", "mask", "causal", "broadcast_kv"])
def test_matches_composition(mode):
    rng = np.random.default_rng(1)
    q, k, v = _qkv(rng, (2,), lq=4, lk=4)
    if mode == "broadcast_kv":       # one set of keys/values shared by the batch
        k, v = k[:1], v[:1]
    mask = rng.random((2, 4, 4)) > 0.3 if mode == "mask" else None
    mask = None if mask is None else mask | np.eye(4, dtype=bool)
    causal = mode == "causal"
    tq, tk, tv = (lm.tensor(a, requires_grad=True) for a in (q, k, v))
    got = sdpa(tq, tk, tv, mask=mask, causal=causal)
    ref = _composed(tq, tk, tv, mask=mask, causal=causal)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)
    w = lm.tensor(rng.standard_normal(got.shape))
    g1 = lm.autograd.gradients((got * w).sum(), [tq, tk, tv])
    g2 = lm.autograd.gradients((ref * w).sum(), [tq, tk, tv])
    for a, r in zip(g1, g2):
        assert a.shape == r.shape
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-9, atol=1e-11)


def test_causal_hides_future_and_weights_sum_to_one():
    rng = np.random.default_rng(2)
    q, k, v = (a.astype(np.float32) for a in _qkv(rng, (1,), lq=4, lk=4))
    out, w = sdpa(q, k, v, causal=True, return_weights=True)
    w = w.numpy()
    assert out.dtype == np.float32
    assert np.all(np.triu(w[0], 1) < 1e-30)
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-6)
    # changing a future value does not change earlier outputs
    v2 = v.copy()
    v2[0, 3] += 10
    out2 = sdpa(q, k, v2, causal=True)
    np.testing.assert_allclose(out.numpy()[0, :3], out2.numpy()[0, :3], rtol=1e-6)


def test_dropout_training_and_inference():
    rng = np.random.default_rng(3)
    q, k, v = (a.astype(np.float32) for a in _qkv(rng, (8,), lq=6, lk=6, dv=6))
    lm.random.seed(0)
    a = sdpa(q, k, v, dropout=0.5).numpy()
    b = sdpa(q, k, v, dropout=0.5, training=False).numpy()
    c = sdpa(q, k, v).numpy()
    np.testing.assert_allclose(b, c)
    assert not np.allclose(a, c)
    # the gradient uses the same dropped weights as the forward (same seed each call)
    def f(q, k, v):
        lm.random.seed(5)
        return sdpa(q, k, v, dropout=0.3)
    gradcheck(f, [q[:2].astype(np.float64), k[:2].astype(np.float64), v[:2].astype(np.float64)],
              atol=1e-6, rtol=1e-4)


def test_errors_and_second_order():
    rng = np.random.default_rng(4)
    q, k, v = _qkv(rng)
    with pytest.raises(ValueError, match="same last dimension"):
        sdpa(q, k[..., :2], v)
    with pytest.raises(ValueError, match="same length"):
        sdpa(q, k, v[:, :2])
    with pytest.raises(ValueError, match="mask of shape"):
        sdpa(q, k, v, mask=np.ones((3, 3), bool))
    tq = lm.tensor(q, requires_grad=True)
    out = sdpa(tq, k, v)
    with pytest.raises(RuntimeError, match="second derivatives"):
        lm.autograd.gradients(out.sum(), [tq], create_graph=True)
    assert lm.OPS["scaled_dot_product_attention"] is sdpa


def test_matches_torch(torch):
    rng = np.random.default_rng(5)
    q, k, v = _qkv(rng, (2, 3), lq=5, lk=6, d=4, dv=3)
    mask = rng.random((2, 1, 5, 6)) > 0.3
    mask[..., 0] = True
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv,
                                                          attn_mask=torch.tensor(mask))
    w = rng.standard_normal(tuple(to.shape))
    (to * torch.tensor(w)).sum().backward()
    lq, lk_, lv = (lm.tensor(a, requires_grad=True) for a in (q, k, v))
    lo = sdpa(lq, lk_, lv, mask=mask)
    np.testing.assert_allclose(lo.numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    (lo * lm.tensor(w)).sum().backward()
    for a, b in ((lq, tq), (lk_, tk), (lv, tv)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-11)


# ------------------------------------------------- packed multi-head self-attention
from lamina.ops.attention import qkv_attention  # noqa: E402


def _split_heads_reference(qkv, nh, **kw):
    """qkv_attention written as split -> scaled_dot_product_attention -> merge."""
    B, T, D3 = qkv.shape
    hd = D3 // 3 // nh
    parts = qkv.reshape(B, T, 3, nh, hd).permute(2, 0, 3, 1, 4)
    out = sdpa(parts[0], parts[1], parts[2], **kw)
    return out.permute(0, 2, 1, 3).reshape(B, T, nh * hd)


@pytest.mark.parametrize("mode", ["plain", "mask", "causal", "scale"])
def test_qkv_attention_gradcheck(mode):
    rng = np.random.default_rng(6)
    qkv = rng.standard_normal((2, 3, 3 * 2 * 2))
    mask = rng.random((2, 1, 3, 3)) > 0.3 if mode == "mask" else None
    kw = dict(mask=mask, causal=mode == "causal", scale=0.6 if mode == "scale" else None)
    gradcheck(lambda a: qkv_attention(a, 2, **kw), [qkv], atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("mode", ["plain", "mask", "causal"])
def test_qkv_attention_matches_split_heads(mode):
    rng = np.random.default_rng(7)
    B, T, nh, hd = 3, 5, 2, 3
    qkv0 = rng.standard_normal((B, T, 3 * nh * hd))
    mask = None
    if mode == "mask":
        mask = rng.random((B, nh, T, T)) > 0.4
        mask[..., 0] = True
    kw = dict(mask=mask, causal=mode == "causal")
    a, r = lm.tensor(qkv0, requires_grad=True), lm.tensor(qkv0, requires_grad=True)
    got = qkv_attention(a, nh, **kw)
    ref = _split_heads_reference(r, nh, **kw)
    assert got.shape == (B, T, nh * hd)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)
    w = lm.tensor(rng.standard_normal(got.shape))
    (got * w).sum().backward()
    (ref * w).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), r.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_qkv_attention_matches_torch_float32(torch):
    rng = np.random.default_rng(8)
    B, T, nh, hd = 2, 6, 4, 8
    qkv = rng.standard_normal((B, T, 3 * nh * hd)).astype(np.float32)
    tq = torch.tensor(qkv, requires_grad=True)
    q, k, v = tq.reshape(B, T, 3, nh, hd).permute(2, 0, 3, 1, 4)
    to = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    to = to.permute(0, 2, 1, 3).reshape(B, T, nh * hd)
    w = rng.standard_normal(tuple(to.shape)).astype(np.float32)
    (to * torch.tensor(w)).sum().backward()
    lq = lm.tensor(qkv, requires_grad=True)
    lo = qkv_attention(lq, nh, causal=True)
    assert lo.dtype == np.float32 and lq.dtype == np.float32
    np.testing.assert_allclose(lo.numpy(), to.detach().numpy(), rtol=1e-4, atol=1e-5)
    (lo * lm.tensor(w)).sum().backward()
    assert lq.grad.dtype == np.float32
    np.testing.assert_allclose(lq.grad.numpy(), tq.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_qkv_attention_errors_and_second_order():
    rng = np.random.default_rng(9)
    qkv = rng.standard_normal((2, 3, 12))
    with pytest.raises(ValueError, match=r"qkv_attention: qkv must have shape .* \(2, 3, 12\)"):
        qkv_attention(qkv, 3)           # 12 is not 3 * 3 * head_dim
    with pytest.raises(ValueError, match="qkv_attention"):
        qkv_attention(qkv[0], 2)        # not (batch, length, features)
    with pytest.raises(TypeError, match="num_heads"):
        qkv_attention(qkv, 2.0)
    with pytest.raises(ValueError, match="mask of shape"):
        qkv_attention(qkv, 2, mask=np.ones((4, 4), bool))
    t = lm.tensor(qkv, requires_grad=True)
    out = qkv_attention(t, 2)
    with pytest.raises(RuntimeError, match="second derivatives"):
        lm.autograd.gradients(out.sum(), [t], create_graph=True)
    assert lm.OPS["qkv_attention"] is qkv_attention
    with lm.no_grad():
        assert qkv_attention(t, 2)._backward is None


@pytest.mark.parametrize("mode", ["plain", "batch_mask", "shared_mask", "causal"])
def test_qkv_attention_on_threads_matches_one_thread(mode, monkeypatch):
    """Large enough, the batch is cut into parts run by lamina's threads; every mask
    layout gives what one thread computes."""
    from lamina.ops import attention, threads
    rng = np.random.default_rng(9)
    B, T, nh, hd = 5, 96, 4, 4
    assert B * nh * T * T >= 1 << 17
    qkv0 = rng.standard_normal((B, T, 3 * nh * hd))
    mask = {"batch_mask": rng.random((B, 1, T, T)) > 0.3,
            "shared_mask": rng.random((T, T)) > 0.3}.get(mode)
    w = rng.standard_normal((B, T, nh * hd))
    used = []
    real = attention._batch_parts
    monkeypatch.setattr(attention, "_batch_parts", lambda *a: used.append(real(*a)) or used[-1])
    results = []
    for n in (2, 1):
        prev = threads.set_num_threads(n)
        try:
            a = lm.tensor(qkv0, requires_grad=True)
            y = qkv_attention(a, nh, mask=mask, causal=mode == "causal")
            (y * lm.tensor(w)).sum().backward()
        finally:
            threads.set_num_threads(prev)
        results.append((y.numpy(), a.grad.numpy()))
    assert used == [[(0, 2), (2, 5)], [(0, 5)]]
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
