"""Connectionist temporal classification (Graves et al. 2006): the loss of a label sequence
under per-step class scores that may emit a blank or repeat a class, summed over every
alignment by the forward-backward recursion in log space, and greedy decoding.

``ctc_loss`` is one fused node: the forward keeps the forward (alpha) variables, the
backward runs the backward (beta) recursion on raw arrays and returns
softmax - occupancy for each time step (first derivatives only).  Batched over samples;
the loop runs over time.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_xp
from .base import Tensor, as_tensor, first_order_only, needs_grad, record, register, wrap, xp_of
from .indexing import scatter_add_array

__all__ = ["ctc_loss", "ctc_greedy_decode"]


def _lse(xp, *terms):
    """Elementwise log(sum(exp(t))) of same-shaped arrays, -inf where all are -inf."""
    m = terms[0]
    for t in terms[1:]:
        m = xp.maximum(m, t)
    safe = xp.where(xp.isfinite(m), m, 0)
    acc = xp.zeros_like(m)
    for t in terms:
        acc += xp.exp(t - safe)
    with np.errstate(divide="ignore"):
        return xp.where(xp.isfinite(m), safe + xp.log(acc), -xp.inf)


def _shift(xp, a, k, fill):
    """``a`` (N, S) moved k places along S (right for k > 0, left for k < 0), ``fill``
    entering on the vacated side."""
    out = xp.full_like(a, fill)
    if k > 0:
        out[:, k:] = a[:, :-k]
    else:
        out[:, :k] = a[:, -k:]
    return out


def _check(target, logits, target_length, logit_length):
    if logits.ndim != 3:
        raise ValueError(f"ctc_loss: logits must have shape (batch, time, classes), got "
                         f"{tuple(logits.shape)}")
    if target.ndim != 2 or target.shape[0] != logits.shape[0]:
        raise ValueError(f"ctc_loss: target must have shape (batch, max_label_length) with the "
                         f"logits' batch {logits.shape[0]}, got {tuple(target.shape)}")
    N, T = logits.shape[:2]
    if target_length.shape != (N,) or logit_length.shape != (N,):
        raise ValueError(f"ctc_loss: target_length and logit_length must have shape ({N},), "
                         f"got {tuple(target_length.shape)} and {tuple(logit_length.shape)}")
    if (logit_length > T).any() or (logit_length < 0).any():
        raise ValueError(f"ctc_loss: logit_length must be in [0, {T}], got {logit_length}")
    if (target_length > target.shape[1]).any() or (target_length < 0).any():
        raise ValueError(f"ctc_loss: target_length must be in [0, {target.shape[1]}], got "
                         f"{target_length}")


@register()
def ctc_loss(target, logits, target_length, logit_length, blank=0):
    """Per-sample CTC loss -log p(target | logits), shape (N,).

    target (N, L) integer labels (entries past ``target_length`` are ignored; labels never
    equal ``blank``), logits (N, T, C) unnormalized scores (log-softmax is taken here),
    target_length (N,), logit_length (N,) the valid steps of each sample.  An impossible
    alignment (target too long for its steps) gives +inf, as in PyTorch and Keras.
    """
    logits = logits if isinstance(logits, Tensor) else as_tensor(logits)
    xp = xp_of(logits)
    tgt = xp.asarray(target.data if isinstance(target, Tensor) else target).astype(np.int64)
    tl = xp.asarray(target_length.data if isinstance(target_length, Tensor)
                    else target_length).astype(np.int64).reshape(-1)
    ll = xp.asarray(logit_length.data if isinstance(logit_length, Tensor)
                    else logit_length).astype(np.int64).reshape(-1)
    _check(tgt, logits.data, tl, ll)
    z = logits.data
    N, T, C = z.shape
    L = tgt.shape[1]
    S = 2 * L + 1
    zmax = z.max(axis=-1, keepdims=True)
    lse = zmax + xp.log(xp.exp(z - zmax).sum(axis=-1, keepdims=True))
    lp = z - lse                                                # log-softmax (N, T, C)
    ext = xp.full((N, S), blank, dtype=np.int64)                # blank, l1, blank, l2, ...
    ext[:, 1::2] = tgt
    rows = xp.arange(S)[None, :]
    valid = rows < (2 * tl + 1)[:, None]                        # (N, S)
    # the skip s-2 -> s is allowed onto a label that differs from the label two back
    skip = xp.zeros((N, S), dtype=bool)
    if S > 2:
        skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    ninf = -xp.inf
    emit = xp.take_along_axis(lp, xp.broadcast_to(ext[:, None, :], (N, T, S)), axis=2)
    alphas = xp.full((T, N, S), ninf, dtype=z.dtype)
    a = xp.full((N, S), ninf, dtype=z.dtype)
    a[:, 0] = emit[:, 0, 0]
    if S > 1:
        a[:, 1] = xp.where(tl > 0, emit[:, 0, 1], ninf)
    a = xp.where(valid, a, ninf)
    live0 = ll > 0
    alphas[0] = xp.where(live0[:, None], a, ninf)
    for t in range(1, T):
        prev = a
        a = _lse(xp, prev, _shift(xp, prev, 1, ninf),
                 xp.where(skip, _shift(xp, prev, 2, ninf), ninf)) + emit[:, t]
        a = xp.where(valid, a, ninf)
        live = (t < ll)[:, None]
        a = xp.where(live, a, prev)              # finished samples keep their last alphas
        alphas[t] = a
    last = xp.clip(2 * tl, 0, S - 1)
    idx = xp.arange(N)
    end1 = a[idx, last]
    end2 = xp.where(tl > 0, a[idx, xp.clip(last - 1, 0, S - 1)], ninf)
    logp = _lse(xp, end1, end2)
    logp = xp.where(ll > 0, logp, xp.where(tl == 0, 0.0, ninf)).astype(z.dtype)
    loss = -logp
    if not needs_grad(logits):
        return wrap(loss)

    def back(g, out):
        first_order_only("ctc_loss")
        # beta_t(s): log-probability of emitting the rest from (t, s), emission at t included
        occs = xp.zeros((T, N, S), dtype=z.dtype)
        b = xp.full((N, S), ninf, dtype=z.dtype)
        skip_next = xp.zeros((N, S), dtype=bool)         # s + 2 -> allowed from s
        if S > 2:
            skip_next[:, :-2] = skip[:, 2:]
        endmask = (rows == last[:, None]) | ((rows == last[:, None] - 1) & (tl > 0)[:, None])
        finite = xp.isfinite(logp)
        for t in range(T - 1, -1, -1):
            at_end = (t == ll - 1)[:, None]
            nxt = _lse(xp, b, _shift(xp, b, -1, ninf),
                       xp.where(skip_next, _shift(xp, b, -2, ninf), ninf))
            b = xp.where(at_end, xp.where(endmask, 0.0, ninf), nxt) + emit[:, t]
            b = xp.where(valid & (t < ll)[:, None], b, ninf)
            with np.errstate(invalid="ignore"):          # -inf - -inf where unreachable
                occ = alphas[t] + b - emit[:, t] - logp[:, None]   # log occupancy of (t, s)
            occs[t] = xp.where(finite[:, None] & xp.isfinite(occ), xp.exp(occ), 0.0)
        # occupancy per class: positions s holding the same class add up
        flat = ((xp.arange(T)[:, None, None] * N + xp.arange(N)[None, :, None]) * C
                + ext[None]).reshape(-1)
        gamma = xp.zeros(T * N * C, dtype=z.dtype)
        scatter_add_array(xp, gamma, flat, occs.reshape(-1))
        gamma = gamma.reshape(T, N, C)
        sm = xp.exp(lp).transpose(1, 0, 2)               # (T, N, C)
        live = (xp.arange(T)[:, None] < ll[None, :])[..., None]
        grad = xp.where(live & finite[None, :, None], sm - gamma, 0.0)
        gd = g.data.reshape(1, N, 1).astype(z.dtype)
        return (wrap((grad * gd).transpose(1, 0, 2).astype(z.dtype)),)

    return record(loss, (logits,), back, "ctc_loss")


def ctc_greedy_decode(logits, sequence_lengths, merge_repeated=True, blank=0):
    """Best-path decoding: the argmax class of each valid step, repeats merged, blanks dropped.

    logits (N, T, C) -> (decoded (N, T) int array padded with -1, scores (N,) = minus the sum
    of the chosen steps' max logits, as Keras's greedy ``ctc_decode`` returns).
    """
    z = logits.data if isinstance(logits, Tensor) else logits
    xp = np if isinstance(z, np.ndarray) else get_xp(z)
    z = xp.asarray(z)
    if isinstance(sequence_lengths, Tensor):
        sequence_lengths = sequence_lengths.data
    lengths = xp.asarray(sequence_lengths).reshape(-1)     # host lengths follow the logits
    N, T, _ = z.shape
    best = z.argmax(axis=-1)
    scores = z.max(axis=-1)
    valid = xp.arange(T)[None, :] < lengths[:, None]
    best = xp.where(valid, best, blank)
    scores = xp.where(valid, scores, 0)
    if merge_repeated:
        rep = xp.zeros_like(valid)
        rep[:, 1:] = best[:, 1:] == best[:, :-1]
        best = xp.where(rep, blank, best)
    out = xp.full((N, T), -1, dtype=np.int64)
    for n in range(N):
        keep = best[n][best[n] != blank]
        out[n, :keep.shape[0]] = keep
    return out, -scores.sum(axis=1)
