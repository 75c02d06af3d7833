"""Fused recurrent ops: SimpleRNN, LSTM and GRU over a whole sequence in one node.

GRU and SimpleRNN do one GEMM for the input projection of every time step (x @ kernel
over (N*T, D)), then the time loop on raw arrays; their backward runs the loop in
reverse on raw arrays and finishes with one GEMM each for d kernel, d recurrent_kernel
and d x.  The LSTM folds the input projection and the bias into each step's product
([x_t, 1, h_{t-1}] @ [kernel; bias; recurrent_kernel]) and gets d kernel, d bias and
d recurrent_kernel from one GEMM (see :func:`lstm`).  Where numba is installed, the LSTM's
and the reset-after GRU's step arithmetic between the products and the tanh calls runs as
compiled loops (:mod:`lamina.ops.kernels`), otherwise as NumPy ufunc calls; with MKL as
well, the LSTM's whole time loops are compiled and split over lamina's threads by batch
rows (:mod:`lamina.ops.threads`).  Weights follow
Keras's layout: kernel (D, G*H), recurrent_kernel (H, G*H), gate order LSTM (i, f, c, o),
GRU (z, r, h).  The backward works on raw arrays, so second derivatives through these ops
raise an error instead of being wrong.  The large arrays kept for the backward come from
the scratch pool of :mod:`lamina.ops.workspace` (reused from step to step instead of
freshly mapped each time).

Masking follows Keras: at a masked step (mask False) the states keep their previous
values and the output repeats the previous output (zeros before the first unmasked
step).  ``go_backwards`` processes the sequence from the end; the output sequence is
then in processing order (reversed), as in Keras.

Each op returns ``(outputs (N, T, H), last_h (N, H)[, last_c (N, H)])``.  Internally
one node produces a packed (N, T + k, H) array, which is sliced into the results.
"""
from __future__ import annotations

import numpy as np

from .base import (GradMode, Tensor, as_tensor, as_tensor_on, check_device, needs_grad, record,
                   register, wrap, xp_of)
from . import blas as _blas
from . import cuda_kernels as _cuda_kernels
from . import kernels as _kernels
from . import threads as _threads
from .blas import matmul as gemm
from .workspace import aligned_empty, scratch

__all__ = ["lstm", "gru", "simple_rnn"]


# ------------------------------------------------------------------ helpers
def _sigmoid(xp, a):
    # 0.5 * (1 + tanh(a / 2)): no overflow warnings for large |a|
    y = xp.tanh(a * a.dtype.type(0.5))
    y += 1
    y *= a.dtype.type(0.5)
    return y


def _check_inputs(op, x, h0, c0, kernel, recurrent_kernel, bias, gates, bias_shape, mask):
    """Validate shapes; returns (x, h0, c0, kernel, recurrent_kernel, bias, mask_array) with
    float inputs as tensors of kernel's dtype (h0/c0/bias may be None)."""
    kernel = as_tensor_on(kernel, x) if isinstance(x, Tensor) else as_tensor(kernel)
    if not isinstance(recurrent_kernel, Tensor):
        recurrent_kernel = as_tensor(recurrent_kernel, like=kernel)
    dt = kernel.data.dtype
    if dt.kind != "f":
        raise TypeError(f"{op}: kernel must be a float tensor, got dtype {dt}")
    x = as_tensor(x, like=kernel) if not isinstance(x, Tensor) else x
    # raw data follows the kernel's device (as_tensor with like); tensors never move
    check_device(op, "input", x, "kernel", kernel)
    check_device(op, "recurrent_kernel", recurrent_kernel, "kernel", kernel)
    if x.data.dtype != dt:
        x = as_tensor(x, dtype=dt)
    if x.data.ndim != 3:
        raise ValueError(f"{op}: inputs must have shape (batch, timesteps, features), got {x.shape}")
    N, T, D = x.data.shape
    if kernel.data.ndim != 2 or kernel.data.shape[0] != D or kernel.data.shape[1] % gates:
        raise ValueError(f"{op}: kernel of shape {kernel.shape} does not match inputs of shape "
                         f"{x.shape}: expected ({D}, {gates} * units)")
    H = kernel.data.shape[1] // gates
    if recurrent_kernel.data.shape != (H, gates * H):
        raise ValueError(f"{op}: recurrent_kernel has shape {recurrent_kernel.shape}, expected "
                         f"({H}, {gates * H}) for {H} units")
    if bias is not None:
        bias = as_tensor(bias, like=kernel) if not isinstance(bias, Tensor) else bias
        check_device(op, "bias", bias, "kernel", kernel)
        want = bias_shape(H)
        if bias.data.shape != want:
            raise ValueError(f"{op}: bias has shape {bias.shape}, expected {want}")
    states = []
    for name, s in (("initial h", h0), ("initial c", c0)):
        if s is not None:
            s = as_tensor(s, like=kernel) if not isinstance(s, Tensor) else s
            check_device(op, f"{name} state", s, "kernel", kernel)
            if s.data.shape != (N, H):
                raise ValueError(f"{op}: {name} state has shape {s.shape}, expected ({N}, {H})")
        states.append(s)
    m = None
    if mask is not None:
        m = mask.data if isinstance(mask, Tensor) else mask
        xp = xp_of(x)
        m = xp.asarray(m)
        if m.shape != (N, T):
            raise ValueError(f"{op}: mask has shape {tuple(m.shape)}, expected ({N}, {T}) to "
                             f"match inputs of shape {x.shape}")
        m = m.astype(bool)
    return x, states[0], states[1], kernel, recurrent_kernel, bias, m, H


def _time_major(xp, x, go_backwards, out=None):
    """(N, T, D) -> contiguous (T, N, D), reversed in time when ``go_backwards`` (written
    into ``out`` when given)."""
    a = x.transpose(1, 0, 2)
    if go_backwards:
        a = a[::-1]
    if out is None:
        return xp.ascontiguousarray(a)
    out[...] = a
    return out


def _mask_prep(xp, m, go_backwards, dtype):
    """Time-major float mask (T, N, 1) and 'seen' (an unmasked step happened at or before t)."""
    mt = m.T
    if go_backwards:
        mt = mt[::-1]
    seen = xp.cumsum(mt.astype(xp.int32), axis=0) > 0
    return (xp.ascontiguousarray(mt[..., None]).astype(dtype),
            xp.ascontiguousarray(seen[..., None]).astype(dtype))


def _no_second_order(op):
    if GradMode.enabled:
        raise RuntimeError(f"{op}: second derivatives through the fused {op} op are not "
                           "supported (its backward runs on raw arrays); compose the cell from "
                           "lamina ops if you need them")


def _unpack(y, T, k, sequences=True):
    """Slice the packed (N, T + k, H) output into the sequence (or, without ``sequences``,
    the last output (N, H): then T is 1) and the k final states."""
    seq = y[:, :T] if sequences else y[:, 0]
    return (seq,) + tuple(y[:, T + j] for j in range(k))


def _pack(xp, outs, finals, dtype):
    """(T, N, H) outputs and final (N, H) states -> (N, T + k, H)."""
    T, N, H = outs.shape
    y = xp.empty((N, T + len(finals), H), dtype=dtype)
    y[:, :T] = outs.transpose(1, 0, 2)
    for j, s in enumerate(finals):
        y[:, T + j] = s
    return y


def _split_packed_grad(xp, g, T, k):
    """Packed gradient (N, T + k, H) -> time-major (T, N, H) sequence grad and k state grads."""
    gd = g.data
    gseq = xp.ascontiguousarray(gd[:, :T].transpose(1, 0, 2))
    return gseq, [gd[:, T + j] for j in range(k)]


def _input_grads(xp, xt, dgates, kernel, go_backwards, need_x, need_w):
    """d x (N, T, D) and d kernel from the time-major gate gradients (T, N, G*H)."""
    T, N, D = xt.shape
    dg2 = dgates.reshape(T * N, -1)
    dx = dw = None
    if need_w:
        dw = xt.reshape(T * N, D).T @ dg2
    if need_x:
        dxt = (dg2 @ kernel.T).reshape(T, N, D)
        if go_backwards:
            dxt = dxt[::-1]
        dx = xp.ascontiguousarray(dxt.transpose(1, 0, 2))
    return dx, dw


def _w(arr):
    return None if arr is None else wrap(arr)


def _project_inputs(xp, x, kernel, go_backwards, dt):
    """Time-major inputs (T, N, D) and their projections x @ kernel for every step
    (T, N, G*H), both in pooled scratch arrays: one GEMM over all steps."""
    N, T, D = x.shape
    xt = _time_major(xp, x, go_backwards, scratch(xp, (T, N, D), dt))
    xw = scratch(xp, (T, N, kernel.shape[1]), dt)
    xp.matmul(xt.reshape(T * N, D), kernel, out=xw.reshape(T * N, kernel.shape[1]))
    return xt, xw


def _output(op, xp, hs, finals, seen, parents, back, dt, sequences=True):
    """The op's results from the states ``hs`` (T + 1, N, H) (outputs zeroed before the
    first unmasked step when ``seen`` is given): one node over the non-None ``parents``
    when a gradient is needed, sliced into (outputs, *finals); without ``sequences`` the
    outputs are only the last step's (N, H)."""
    T = hs.shape[0] - 1
    first = 1 if sequences else T
    outs = hs[first:] if seen is None else hs[first:] * seen[first - 1:]
    y = _pack(xp, outs, finals, dt)
    live = tuple(p for p in parents if p is not None)
    y = record(y, live, back, op) if needs_grad(*live) else wrap(y)
    return _unpack(y, outs.shape[0], len(finals), sequences)


def _live_grads(parents, grads):
    """The gradients (arrays or None) of the parents that are not None, as tensors."""
    return tuple(_w(g) for g, p in zip(grads, parents) if p is not None)


def _step_in(dh, gs, mt):
    """Start step t of a backward in place for one state's gradient ``dh``: add the step's
    output gradient ``gs`` (None: none); with the step's mask ``mt`` (1 kept, 0 masked),
    zero dh at masked rows and return what was taken out (the carried state's gradient,
    added back after the step), else None."""
    if gs is not None:
        dh += gs
    if mt is None:
        return None
    keep = dh * (1 - mt)
    dh *= mt
    return keep


def _seq_and_h_grads(op, xp, g, T, seen):
    """Backward prologue of the one-state ops: the time-major sequence gradient (masked
    by ``seen``) and a writable copy of the final h's gradient."""
    _no_second_order(op)
    gseq, (dh,) = _split_packed_grad(xp, g, T, 1)
    if seen is not None:
        gseq = gseq * seen
    return gseq, dh.copy()


# --------------------------------------------------------------------- LSTM
# Internal gate order (o, i, f, g) instead of Keras's (i, f, c, o): the three sigmoid gates
# are one block (gates 0-2) in the forward, and the three gates that dc_t multiplies
# (i, f, g) one block (gates 1-3) in the backward, so each is one ufunc call per step.
# Everything per step is gate-major, (4, N, H): the elementwise work then runs on
# contiguous (N, H) blocks (NumPy is several times slower on the strided column blocks of
# an (N, 4H) array), and each step's products are batched matmuls over the 4 gate blocks
# (N, K) @ (4, K, H) -> (4, N, H), which OpenBLAS runs ~1.4x faster than the single
# (N, K) @ (K, 4H) GEMM (measured at N=32, H=128, with the B operand 64-byte aligned).
# The compiled loops' batch parts have at least this many rows: smaller parts cost more
# in per-call overhead than the thread saves.
_MIN_PART_ROWS = 16
_LSTM_ORDER = [3, 0, 1, 2]      # internal block j holds Keras gate _LSTM_ORDER[j]
_LSTM_BACK = [1, 2, 3, 0]       # Keras gate k is internal block _LSTM_BACK[k]


def _regate(a, order):
    """Reorder the 4 gate blocks of the last axis of ``a`` (..., 4H) (a copy)."""
    s = a.shape
    return a.reshape(s[:-1] + (4, s[-1] // 4))[..., order, :].reshape(s)


def _aligned_copy(xp, a):
    """A C-contiguous, 64-byte aligned copy of ``a``."""
    out = aligned_empty(xp, a.shape, a.dtype)
    out[...] = a
    return out


def _gate_major(xp, a, H, transpose=False, halve=False):
    """(R, 4H) Keras-order weight -> 64-byte aligned (4, R, H) in the internal order, or
    (4, H, R) with ``transpose`` (the blocks' transposes, for the backward); ``halve``
    halves the sigmoid gates' blocks (see :func:`_lstm_forward_weights`)."""
    blocks = a.reshape(a.shape[0], 4, H)[:, _LSTM_ORDER]
    out = _aligned_copy(xp, blocks.transpose(1, 2, 0) if transpose else
                        blocks.transpose(1, 0, 2))
    if halve:
        out[:3] *= a.dtype.type(0.5)
    return out


def _lstm_forward_weights(xp, W, U, b, H, flat=False):
    """Kernel, bias and recurrent kernel stacked, [W; b; U] (D + 1 + H, 4H), as one
    gate-major (4, D + 1 + H, H) array in the internal order, with the sigmoid gates'
    blocks halved: one tanh over all four blocks then gives tanh(z / 2) for them
    (sigmoid(z) = (1 + tanh(z / 2)) / 2) and tanh(z) for the candidate.  Halving is exact
    in floating point (barring underflow), so the results are those of the Keras layout.
    With ``flat``: the same blocks side by side, (D + 1 + H, 4H), for the compiled loops'
    single GEMM per step."""
    b = xp.zeros((1, W.shape[1]), dtype=W.dtype) if b is None else b[None]
    stacked = xp.concatenate([W, b, U])
    if not flat:
        return _gate_major(xp, stacked, H, halve=True)
    out = _aligned_copy(xp, _regate(stacked, _LSTM_ORDER))
    out[:, :3 * H] *= W.dtype.type(0.5)
    return out


@register()
def lstm(x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, go_backwards=False,
         return_sequences=True):
    """LSTM over a sequence, Keras gate order (i, f, c, o), sigmoid gates and tanh.

    x (N, T, D), h0/c0 (N, H) or None (zeros), kernel (D, 4H), recurrent_kernel (H, 4H),
    bias (4H,) or None, mask (N, T) bool or None.  Returns (outputs (N, T, H), h (N, H),
    c (N, H)); with ``return_sequences=False`` the outputs are only the last step's
    (N, H) (``outputs[:, -1]``), which spares copying the whole sequence out and back.
    """
    x, h0, c0, W, U, b, m, H = _check_inputs("lstm", x, h0, c0, kernel, recurrent_kernel, bias,
                                             4, lambda h: (4 * h,), mask)
    xp = xp_of(x)
    dt = W.data.dtype
    N, T, D = x.data.shape
    # with numba and MKL (float32, no mask): the whole time loop compiled, without the GIL,
    # run by lamina's threads on parts of the batch at once (lamina.ops.kernels)
    loops = _kernels.lstm_loop_kernels(dt) if m is None and type(x.data) is np.ndarray \
        else None
    WU4 = _lstm_forward_weights(xp, W.data, U.data, None if b is None else b.data, H,
                                flat=loops is not None)
    # Time-major, so that each step's slices are contiguous (the per-step GEMM is markedly
    # slower on strided rows).  xh[t] = [x_t, 1, h_{t-1}]: each step is then one GEMM
    # xh[t] @ [W; b; U] (the input projection folded in: cheaper than a separate GEMM
    # over all steps plus one more pass over its multi-MB result per step), and the
    # backward gets d kernel, d bias and d recurrent kernel from one GEMM.  Saved arrays
    # come from the scratch pool: fresh multi-MB arrays every step cost page faults that
    # rival the arithmetic.
    K = D + 1 + H
    xh = scratch(xp, (T + 1, N, K), dt)
    _time_major(xp, x.data, go_backwards, xh[:T, :, :D])
    xh[:, :, D] = 1
    hs = xh[:, :, D + 1:]                    # h_{t-1} for each step, then the last h
    # acts[t] = o, i, f (sigmoids), g (tanh) of step t, then c_{t-1}: g and c_{t-1} side by
    # side pair with (i, f), so i * g and f * c_{t-1} are one ufunc call (and one in the
    # backward)
    acts = scratch(xp, (T + 1, 5, N, H), dt)
    cs = acts[:, 4]                          # c_{t-1} for each step, then the last c
    hs[0] = 0 if h0 is None else h0.data
    cs[0] = 0 if c0 is None else c0.data
    mf = seen = None
    if m is not None:
        mf, seen = _mask_prep(xp, m, go_backwards, dt)
        masked = mf == 0
    half = dt.type(0.5)
    ig = xp.empty((2, N, H), dtype=dt)
    ig0, ig1 = ig
    # tanh(c_new) is not kept: the backward recomputes it from c_new, which it has just
    # read (in cache), cheaper than writing and reading back another (T, N, H) array
    tc = xp.empty((N, H), dtype=dt)
    mul, add, tanh, matmul = xp.multiply, xp.add, xp.tanh, xp.matmul
    # the product goes to a small buffer that stays in cache and the tanh writes the
    # saved gates: BLAS storing straight into the (not yet cached) rows of ``acts`` was
    # ~1.5% slower over the whole LSTM (measured, OpenBLAS and MKL)
    Z = aligned_empty(xp, (4, N, H), dt)
    # every step's views, made in C by iterating over arrays (cheaper than indexing in
    # the loop: the loop's own work is ~60 us a step, a dozen views ~2 us)
    # with numba, the step's arithmetic between the two tanh calls is one compiled loop
    kern = _kernels.lstm_kernels(dt) if type(x.data) is np.ndarray else None
    # on a GPU: the step's gate arithmetic, both tanh calls included, in one kernel launch
    fused = None if kern is not None else _cuda_kernels.lstm_step(xp, dt)
    if loops is not None:
        parts = _threads.row_parts(N, 1, _MIN_PART_ROWS)
        scratches = [(aligned_empty(xp, (j - i, 4 * H), dt), xp.empty((j - i, H), dtype=dt))
                     for i, j in parts]
        _threads.run_parallel([lambda i=i, j=j, s=s: loops.forward(xh, WU4, acts, i, j, *s)
                               for (i, j), s in zip(parts, scratches)])
    elif fused is not None:
        for t in range(T):
            matmul(xh[t], WU4, out=Z)
            fused.forward(Z, acts, xh, t)
            if m is not None:
                skip = masked[t]
                xp.copyto(cs[t + 1], cs[t], where=skip)
                xp.copyto(hs[t + 1], hs[t], where=skip)
    else:
        steps = zip(xh[:T], acts[:T], acts[:T, :4], acts[:T, :3], acts[:T, 0], acts[:T, 1:3],
                    acts[:T, 3:], cs[1:], hs[1:])
        for t, (xt, a, G, sg, o, i_f, g_c, cn, hn) in enumerate(steps):
            matmul(xt, WU4, out=Z)
            tanh(Z, out=G)
            if kern is not None:
                kern.forward(a, cn)                 # sigmoids in place, c_t = i*g + f*c_{t-1}
            else:
                sg *= half
                sg += half
                mul(i_f, g_c, out=ig)               # i * g, f * c_{t-1}
                add(ig0, ig1, out=cn)
            tanh(cn, out=tc)
            mul(o, tc, out=hn)
            if m is not None:
                skip = masked[t]
                xp.copyto(cn, cs[t], where=skip)
                xp.copyto(hn, hs[t], where=skip)
    parents = (x, h0, c0, W, U, b)

    def back(g, out):
        _no_second_order("lstm")
        gd = g.data
        S = T if return_sequences else 1
        gseq = gd[:, :S]                       # batch-major views: no transposed copy
        dh = gd[:, S].copy()
        dc = gd[:, S + 1].copy()
        if not return_sequences:
            # the last output's gradient joins dh's at the last step, where the loop
            # would add it first
            dh += gseq[:, 0] if m is None else gseq[:, 0] * seen[T - 1]
            gseq = None
        elif not gseq.any():
            gseq = None     # only the final states are used (a classifier): skip T adds
        elif m is not None:
            gseq = gseq * seen.transpose(1, 0, 2)
        # The local derivatives are computed step by step on (N, H) blocks that stay in
        # cache (precomputing the factors that do not depend on dh and dc for all steps,
        # or for chunks of 2-16 steps, measured slower: more passes over arrays no longer
        # in cache), gate-major like the saved gates, then copied into the step's row of
        # dz for the final GEMMs (one GEMM each over (T * N, 4H) beats four batched ones
        # over gate-major blocks, and beats chunks of 8-40 steps).
        dz = scratch(xp, (T, N, 4 * H), dt)   # d pre-activations (internal gate order)
        UTi = _aligned_copy(xp, _regate(U.data, _LSTM_ORDER).T)      # (4H, H)
        if loops is not None:
            gs = xp.zeros((N, 0, H), dt) if gseq is None else xp.ascontiguousarray(gseq)
            parts = _threads.row_parts(N, 1, _MIN_PART_ROWS)
            tcs = [xp.empty((j - i, H), dtype=dt) for i, j in parts]
            _threads.run_parallel([lambda i=i, j=j, s=s: loops.backward(acts, dh, dc, gs, dz,
                                                                        UTi, i, j, s)
                                   for (i, j), s in zip(parts, tcs)])
        elif fused is not None:
            # on a GPU: per step one kernel for the gates and one GEMM over the step's row
            # of dz for dh = dz[t] @ U^T, no per-step views
            for t in range(T - 1, -1, -1):
                mt = None if m is None else mf[t]
                keep_h = _step_in(dh, None if gseq is None else gseq[:, t], mt)
                keep_c = _step_in(dc, None, mt)
                fused.backward(acts, dh, dc, dz, t)
                matmul(dz[t], UTi, out=dh)
                if keep_h is not None:
                    dh += keep_h
                    dc += keep_c
        else:
            E = xp.empty((4, N, H), dtype=dt)
            Et = E.transpose(1, 0, 2)
            d0, d3 = E[0], E[3]
            E012, E12, E123 = E[:3], E[1:3], E[1:]
            # dh_prev = sum over gates of d_gate @ U_gate^T.  With MKL: one GEMM per step over
            # the step's row of dz (N, 4H) and U^T (4H, H) in the internal gate order (measured
            # ~20% faster than NumPy's batched product plus three adds); otherwise a batched
            # product over gate-major blocks, which OpenBLAS runs faster than the single GEMM.
            dh_of = _blas.prepared_matmul(dz, UTi, dh)
            UT4 = None if dh_of is not None else _gate_major(xp, U.data, H, transpose=True)
            dct = xp.empty((N, H), dtype=dt)
            tmp = xp.empty((N, H), dtype=dt)
            tc = xp.empty((N, H), dtype=dt)
            P = xp.empty((4, N, H), dtype=dt)
            P0, P1, P2, P3 = P
            sub, add = xp.subtract, xp.add
            # every step's views made at once, in C (see the forward), in reverse order
            r = slice(T - 1, None, -1)
            steps = zip(acts[r], acts[r, 0], acts[r, 1], acts[r, 2], acts[r, 3], acts[r, :3],
                        acts[r, 3:], cs[T:0:-1], dz[r], dz.reshape(T, N, 4, H)[r])
            for t, (a, o, i, f, gg, sig, g_c, cn, dzr, dzt) in zip(range(T - 1, -1, -1), steps):
                mt = None if m is None else mf[t]
                keep_h = _step_in(dh, None if gseq is None else gseq[:, t], mt)
                keep_c = _step_in(dc, None, mt)
                # tanh(c_t) from c_t (this step's new c, the next step's c_prev: just read);
                # h is not read either (o and tanh(c) give it), which spares two (N, H)
                # blocks per step that are no longer in cache.  (At masked steps c_t is the
                # carried state, not the cell's output, but those rows' dh and dc are 0 here.)
                tanh(cn, out=tc)
                if kern is not None:
                    kern.backward(a, tc, dh, dc, dzr)   # the formulas below, in one loop
                else:
                    # dc_t = dc + dh * o * (1 - tanh(c)^2)
                    mul(tc, tc, out=tmp)
                    sub(1, tmp, out=tmp)
                    tmp *= o
                    mul(dh, tmp, out=dct)
                    dct += dc
                    # the sigmoids' derivatives o (1 - o), i (1 - i), f (1 - f) in one block;
                    # then d o = dh * tanh(c) * o (1 - o), d i = dc_t * g * i (1 - i),
                    # d f = dc_t * c_prev * f (1 - f), d g = dc_t * i * (1 - g^2)
                    sub(1, sig, out=E012)
                    E012 *= sig
                    d0 *= tc
                    d0 *= dh
                    E12 *= g_c                      # by g and c_{t-1}
                    mul(gg, gg, out=d3)
                    sub(1, d3, out=d3)
                    d3 *= i
                    E123 *= dct
                    mul(dct, f, out=dc)
                    xp.copyto(dzt, Et)
                if dh_of is not None:
                    dh_of(t)                        # dh = dz[t] @ U^T
                else:
                    # gate-major blocks of the step's row of dz (E holds the same values when
                    # the NumPy formulas ran)
                    matmul(E if kern is None else dzt.transpose(1, 0, 2), UT4, out=P)
                    add(P0, P1, out=dh)
                    dh += P2
                    dh += P3
                if keep_h is not None:
                    dh += keep_h
                    dc += keep_c
        px, _, _, pW, pU, pb = parents
        dz2 = dz.reshape(T * N, 4 * H)
        dx = dw = du = db = None
        if px.requires_grad:
            dxt = scratch(xp, (T, N, D), dt)
            gemm(dz2, _regate(W.data, _LSTM_ORDER).T, out=dxt.reshape(T * N, D))
            if go_backwards:
                dxt = dxt[::-1]
            dx = xp.ascontiguousarray(dxt.transpose(1, 0, 2))
        # [x, 1, h_prev]^T @ dz: rows [0, D) d kernel, D d bias, [D + 1, K) d recurrent
        # kernel; only the rows from the first to the last weight that needs one
        need_b = pb is not None and pb.requires_grad
        lo = 0 if pW.requires_grad else D if need_b else D + 1
        hi = K if pU.requires_grad else D + 1
        if lo < hi:
            dwbu = _regate(gemm(xh[:T, :, lo:hi].reshape(T * N, hi - lo).T, dz2), _LSTM_BACK)
            if pW.requires_grad:
                dw = dwbu[:D]
            if need_b:
                db = dwbu[D - lo]
            if pU.requires_grad:
                du = dwbu[D + 1 - lo:]
        return _live_grads(parents, (dx, dh, dc, dw, du, db))

    return _output("lstm", xp, hs, (hs[T], cs[T]), seen, parents, back, dt, return_sequences)


# ---------------------------------------------------------------------- GRU
@register()
def gru(x, h0, kernel, recurrent_kernel, bias=None, mask=None, go_backwards=False,
        reset_after=True):
    """GRU over a sequence, Keras gate order (z, r, h), h = z * h_prev + (1 - z) * hh.

    x (N, T, D), h0 (N, H) or None, kernel (D, 3H), recurrent_kernel (H, 3H); bias (2, 3H)
    (input and recurrent biases) when ``reset_after`` (the reset gate multiplies
    h_prev @ U_h + b_rh, as in PyTorch and cuDNN), else (3H,) (reset applied to h_prev
    before the product).  Returns (outputs (N, T, H), h (N, H)).
    """
    bshape = (lambda h: (2, 3 * h)) if reset_after else (lambda h: (3 * h,))
    x, h0, _, W, U, b, m, H = _check_inputs("gru", x, h0, None, kernel, recurrent_kernel, bias,
                                            3, bshape, mask)
    xp = xp_of(x)
    dt = W.data.dtype
    N, T, D = x.data.shape
    xt, xw = _project_inputs(xp, x.data, W.data, go_backwards, dt)
    brec = None
    if b is not None:
        xw += b.data[0] if reset_after else b.data
        brec = b.data[1] if reset_after else None
    Ud = U.data
    Uzr, Uh = Ud[:, :2 * H], Ud[:, 2 * H:]
    hs = scratch(xp, (T + 1, N, H), dt)
    hs[0] = 0 if h0 is None else h0.data
    zr = scratch(xp, (T, N, 2 * H), dt)        # z, r after the sigmoid
    hhs = scratch(xp, (T, N, H), dt)           # candidate after tanh
    recs = scratch(xp, (T, N, H), dt)          # h_prev @ U_h + b_rh (reset_after) or r * h_prev
    mf = seen = None
    if m is not None:
        mf, seen = _mask_prep(xp, m, go_backwards, dt)
    half = dt.type(0.5)
    hu = xp.empty((N, 3 * H), dtype=dt) if reset_after else None
    mul, add, tanh = xp.multiply, xp.add, xp.tanh
    # with numba, the arithmetic around the step's product and two tanh calls runs as three
    # compiled loops (lamina.ops.kernels) instead of a dozen ufunc calls
    kern = _kernels.gru_kernels(dt) if reset_after and type(x.data) is np.ndarray else None
    bvec = None if kern is None else brec if brec is not None else xp.zeros(3 * H, dtype=dt)
    for t in range(T):
        hp = hs[t]
        xz = xw[t]
        if reset_after:
            # every step's arithmetic lands in the saved arrays or one reused buffer: no
            # fresh (N, H) arrays per step
            gemm(hp, Ud, out=hu)
            zrt, rec, hh, hn = zr[t], recs[t], hhs[t], hs[t + 1]
            if kern is not None:
                kern.gates_in(xz, hu, bvec, zrt, rec)      # (pre_z, pre_r) / 2 and rec
                tanh(zrt, out=zrt)
                kern.candidate_in(zrt, rec, xz, hh)        # z, r; r * rec + x_h
                tanh(hh, out=hh)
                kern.state_out(hp, hh, zrt, hn)            # hh + z * (h_prev - hh)
            else:
                if brec is not None:
                    hu += brec
                add(xz[:, :2 * H], hu[:, :2 * H], out=zrt)
                zrt *= half                         # sigmoid = (1 + tanh(s / 2)) / 2
                tanh(zrt, out=zrt)
                zrt += 1
                zrt *= half
                xp.copyto(rec, hu[:, 2 * H:])
                mul(zrt[:, H:], rec, out=hh)
                hh += xz[:, 2 * H:]
                tanh(hh, out=hh)
                xp.subtract(hp, hh, out=hn)         # h = hh + z * (h_prev - hh)
                hn *= zrt[:, :H]
                hn += hh
            if m is not None:
                xp.copyto(hn, hp, where=mf[t] == 0)     # masked: keep the state
            continue
        else:
            s = xz[:, :2 * H] + hp @ Uzr
            zr[t] = _sigmoid(xp, s)
            r = zr[t, :, H:]
            recs[t] = r * hp
            hh = xp.tanh(xz[:, 2 * H:] + recs[t] @ Uh)
        hhs[t] = hh
        z = zr[t, :, :H]
        hn = hh + z * (hp - hh)
        hs[t + 1] = hn
        if m is not None:
            xp.copyto(hs[t + 1], hp, where=mf[t] == 0)     # masked: keep the state
    parents = (x, h0, W, U, b)

    def back(g, out):
        gseq, dh = _seq_and_h_grads("gru", xp, g, T, seen)
        dxg = scratch(xp, (T, N, 3 * H), dt)       # grads of the input projections
        dhg = scratch(xp, (T, N, 3 * H), dt) if reset_after else None
        UT, UzrT, UhT = Ud.T, Uzr.T, Uh.T
        if kern is not None:
            # per step the kernel writes both rows of pre-activation gradients and dh * z;
            # then dh = e @ U^T + dh * z (MKL with the pointers worked out once, or NumPy)
            dhz = xp.empty((N, H), dtype=dt)
            dh_of = _blas.prepared_matmul(dhg, _aligned_copy(xp, UT), dh)
        else:
            # local derivatives of all steps at once, so the loop is a few ufuncs per step
            z_all, r_all = zr[..., :H], zr[..., H:]
            A = (1 - z_all) * (1 - hhs * hhs)              # d pre_h / d h_new
            Bz = (hs[:T] - hhs) * z_all * (1 - z_all)      # d pre_z / d h_new
            Cr = (recs if reset_after else hs[:T]) * r_all * (1 - r_all)
            tmp = xp.empty((N, H), dtype=dt)
        for t in range(T - 1, -1, -1):
            keep = _step_in(dh, gseq[t], None if m is None else mf[t])
            if kern is not None:
                kern.backward(dh, zr[t], hhs[t], hs[t], recs[t], dxg[t], dhg[t], dhz)
                if dh_of is not None:
                    dh_of(t)
                else:
                    xp.matmul(dhg[t], UT, out=dh)
                dh += dhz
            else:
                z, r = z_all[t], r_all[t]
                d = dxg[t]
                dpre_h = d[:, 2 * H:]
                xp.multiply(dh, A[t], out=dpre_h)
                xp.multiply(dh, Bz[t], out=d[:, :H])
                if reset_after:
                    xp.multiply(dpre_h, Cr[t], out=d[:, H:2 * H])
                    e = dhg[t]
                    e[:, :2 * H] = d[:, :2 * H]
                    xp.multiply(dpre_h, r, out=e[:, 2 * H:])
                    dh_new = e @ UT
                else:
                    drh = dpre_h @ UhT
                    xp.multiply(drh, Cr[t], out=d[:, H:2 * H])
                    dh_new = d[:, :2 * H] @ UzrT
                    xp.multiply(drh, r, out=tmp)
                    dh_new += tmp
                xp.multiply(dh, z, out=tmp)
                dh_new += tmp
                dh = dh_new
            if keep is not None:
                dh += keep
        px, _, pW, pU, pb = parents
        dx, dw = _input_grads(xp, xt, dxg, W.data, go_backwards, px.requires_grad,
                              pW.requires_grad)
        du = db = None
        if pU.requires_grad:
            hprev = hs[:T].reshape(T * N, H)
            if reset_after:
                du = hprev.T @ dhg.reshape(T * N, 3 * H)
            else:
                du = xp.empty((H, 3 * H), dtype=dt)
                du[:, :2 * H] = hprev.T @ dxg[:, :, :2 * H].reshape(T * N, 2 * H)
                du[:, 2 * H:] = recs.reshape(T * N, H).T @ dxg[:, :, 2 * H:].reshape(T * N, H)
        if pb is not None and pb.requires_grad:
            if reset_after:
                db = xp.stack([dxg.reshape(T * N, 3 * H).sum(axis=0),
                               dhg.reshape(T * N, 3 * H).sum(axis=0)])
            else:
                db = dxg.reshape(T * N, 3 * H).sum(axis=0)
        return _live_grads(parents, (dx, dh, dw, du, db))

    return _output("gru", xp, hs, (hs[T],), seen, parents, back, dt)


# ---------------------------------------------------------------- SimpleRNN
@register()
def simple_rnn(x, h0, kernel, recurrent_kernel, bias=None, mask=None, go_backwards=False,
               activation="tanh"):
    """Fully-connected RNN: h = activation(x @ kernel + h_prev @ recurrent_kernel + bias),
    activation 'tanh' or 'relu'.  x (N, T, D), h0 (N, H) or None, kernel (D, H),
    recurrent_kernel (H, H), bias (H,).  Returns (outputs (N, T, H), h (N, H))."""
    if activation not in ("tanh", "relu"):
        raise ValueError(f"simple_rnn: activation must be 'tanh' or 'relu' for the fused op, "
                         f"got {activation!r}")
    x, h0, _, W, U, b, m, H = _check_inputs("simple_rnn", x, h0, None, kernel, recurrent_kernel,
                                            bias, 1, lambda h: (h,), mask)
    xp = xp_of(x)
    dt = W.data.dtype
    N, T, D = x.data.shape
    xt, xw = _project_inputs(xp, x.data, W.data, go_backwards, dt)
    if b is not None:
        xw += b.data
    Ud = U.data
    hs = scratch(xp, (T + 1, N, H), dt)
    hs[0] = 0 if h0 is None else h0.data
    hns = scratch(xp, (T, N, H), dt)           # the cell's new h before masking
    mf = seen = None
    if m is not None:
        mf, seen = _mask_prep(xp, m, go_backwards, dt)
    tanh = activation == "tanh"
    for t in range(T):
        a = xw[t]
        a += hs[t] @ Ud
        hn = xp.tanh(a, out=hns[t]) if tanh else xp.maximum(a, 0, out=hns[t])
        hs[t + 1] = hn
        if m is not None:
            xp.copyto(hs[t + 1], hs[t], where=mf[t] == 0)  # masked: keep the state
    parents = (x, h0, W, U, b)

    def back(g, out):
        gseq, dh = _seq_and_h_grads("simple_rnn", xp, g, T, seen)
        da = scratch(xp, (T, N, H), dt)
        UT = Ud.T
        for t in range(T - 1, -1, -1):
            keep = _step_in(dh, gseq[t], None if m is None else mf[t])
            hn = hns[t]
            if tanh:
                da[t] = dh * (1 - hn * hn)
            else:
                da[t] = dh * (hn > 0)
            dh = da[t] @ UT
            if keep is not None:
                dh += keep
        px, _, pW, pU, pb = parents
        dx, dw = _input_grads(xp, xt, da, W.data, go_backwards, px.requires_grad,
                              pW.requires_grad)
        du = hs[:T].reshape(T * N, H).T @ da.reshape(T * N, H) if pU.requires_grad else None
        db = da.reshape(T * N, H).sum(axis=0) if pb is not None and pb.requires_grad else None
        return _live_grads(parents, (dx, dh, dw, du, db))

    return _output("simple_rnn", xp, hs, (hs[T],), seen, parents, back, dt)


# ------------------------------------------- single steps, composed of lamina ops
# These are the same cells written with ordinary ops (so they differentiate twice).
# The cell layers (LSTMCell, ...) use them, and the tests use them as the reference
# for the fused ops' backward-through-time.
def lstm_cell(x, h, c, kernel, recurrent_kernel, bias=None):
    """One LSTM step: x (N, D), h/c (N, H) -> (h_new, c_new), Keras gate order (i, f, c, o)."""
    from .elementwise import sigmoid, tanh
    from .linalg import matmul
    z = matmul(x, kernel) + matmul(h, recurrent_kernel)
    if bias is not None:
        z = z + bias
    H = recurrent_kernel.shape[0]
    i = sigmoid(z[:, :H])
    f = sigmoid(z[:, H:2 * H])
    g = tanh(z[:, 2 * H:3 * H])
    o = sigmoid(z[:, 3 * H:])
    c_new = f * c + i * g
    return o * tanh(c_new), c_new


def gru_cell(x, h, kernel, recurrent_kernel, bias=None, reset_after=True):
    """One GRU step: x (N, D), h (N, H) -> h_new, Keras gate order (z, r, h)."""
    from .elementwise import sigmoid, tanh
    from .linalg import matmul
    H = recurrent_kernel.shape[0]
    xw = matmul(x, kernel)
    if reset_after:
        hu = matmul(h, recurrent_kernel)
        if bias is not None:
            xw = xw + bias[0]
            hu = hu + bias[1]
        z = sigmoid(xw[:, :H] + hu[:, :H])
        r = sigmoid(xw[:, H:2 * H] + hu[:, H:2 * H])
        hh = tanh(xw[:, 2 * H:] + r * hu[:, 2 * H:])
    else:
        if bias is not None:
            xw = xw + bias
        hzr = matmul(h, recurrent_kernel[:, :2 * H])
        z = sigmoid(xw[:, :H] + hzr[:, :H])
        r = sigmoid(xw[:, H:2 * H] + hzr[:, H:])
        hh = tanh(xw[:, 2 * H:] + matmul(r * h, recurrent_kernel[:, 2 * H:]))
    return z * h + (1 - z) * hh


def simple_rnn_cell(x, h, kernel, recurrent_kernel, bias=None, activation="tanh"):
    """One SimpleRNN step: activation(x @ kernel + h @ recurrent_kernel + bias), (N, H)."""
    from .elementwise import relu, tanh
    from .linalg import matmul
    a = matmul(x, kernel) + matmul(h, recurrent_kernel)
    if bias is not None:
        a = a + bias
    if callable(activation):
        return activation(a)
    return tanh(a) if activation == "tanh" else relu(a)


__all__ += ["lstm_cell", "gru_cell", "simple_rnn_cell"]
