"""Single ops on a CUDA GPU, forward + backward, lamina (CuPy) against PyTorch: where a fused
CuPy kernel would pay.

    python benchmarks/bench_gpu_ops.py [--rounds N] [--out results.jsonl]

Each case is one op (or one optimizer update) on GPU-resident data, timed as wall time around
the call and a device synchronisation, the two libraries alternating (A B A B), medians.
Small cases show per-op overhead (Python plus kernel launches); large ones show how many
passes over memory an op makes.  One JSON line per case.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import lamina as lm  # noqa: E402
from lamina import keras  # noqa: E402
from lamina.nn import functional as F  # noqa: E402
from lamina.nn.layers.normalization import normalize_affine  # noqa: E402
from common import compare, emit, ratio, synced  # noqa: E402


DEV = "cuda"


def _pair(torch, rng, shape):
    a = rng.standard_normal(shape).astype(np.float32)
    return (lm.tensor(a, device=DEV, requires_grad=True),
            torch.tensor(a, device=DEV, requires_grad=True))


def _fwd_bwd(lam_fn, tor_fn, lx, tx):
    def la():
        lam_fn(lx).sum().backward()
        lx.grad = None

    def to():
        tor_fn(tx).sum().backward()
        tx.grad = None
    return la, to


def cases(torch):
    """name -> build() returning (lamina_fn, torch_fn)."""
    rng = np.random.default_rng(0)
    TF = torch.nn.functional
    out = {}
    for n in (16, 1 << 22):
        out[f"mul_sum_{n}"] = lambda n=n: _fwd_bwd(lambda x: x * x, lambda x: x * x,
                                                    *_pair(torch, rng, (n,)))
        out[f"relu_{n}"] = lambda n=n: _fwd_bwd(F.relu, TF.relu, *_pair(torch, rng, (n,)))
        out[f"gelu_{n}"] = lambda n=n: _fwd_bwd(F.gelu, TF.gelu, *_pair(torch, rng, (n,)))
        out[f"sigmoid_{n}"] = lambda n=n: _fwd_bwd(F.sigmoid, torch.sigmoid,
                                                   *_pair(torch, rng, (n,)))
    for b, c in ((32, 10), (4096, 1000)):
        def ce(b=b, c=c):
            lx, tx = _pair(torch, rng, (b, c))
            y = rng.integers(0, c, b)
            ly, ty = lm.tensor(y, device=DEV), torch.tensor(y, device=DEV)
            return _fwd_bwd(lambda x: F.cross_entropy(x, ly), lambda x: TF.cross_entropy(x, ty),
                            lx, tx)
        out[f"softmax_ce_{b}x{c}"] = ce
    for rows, d in ((2048, 128), (16384, 1024)):
        def ln(rows=rows, d=d):
            lx, tx = _pair(torch, rng, (rows, d))
            lg, tg = _pair(torch, rng, (d,))
            lb, tb = _pair(torch, rng, (d,))
            return _fwd_bwd(lambda x: normalize_affine(x, lg, lb, (1,), 1e-5)[0],
                            lambda x: TF.layer_norm(x, (d,), tg, tb, 1e-5), lx, tx)
        out[f"layer_norm_{rows}x{d}"] = ln
    for b, h in ((32, 128), (1024, 4096)):
        def linear(b=b, h=h):
            lx, tx = _pair(torch, rng, (b, h))
            lw, tw = _pair(torch, rng, (h, h))
            return _fwd_bwd(lambda x: F.linear(x, lw, None, activation="relu"),
                            lambda x: TF.relu(x @ tw), lx, tx)
        out[f"linear_relu_{b}x{h}"] = linear

    def adam():
        shapes = [(784, 512), (512,), (512, 512), (512,), (512, 10), (10,)]
        pairs = [_pair(torch, rng, s) for s in shapes]
        lps, tps = [p for p, _ in pairs], [q for _, q in pairs]
        for lp, tp in pairs:
            g = rng.standard_normal(lp.shape).astype(np.float32)
            lp.grad = lm.tensor(g, device=DEV)
            tp.grad = torch.tensor(g, device=DEV)
        lo = keras.optimizers.Adam(1e-3)
        to = torch.optim.Adam(tps, lr=1e-3)
        grads = [p.grad for p in lps]
        return (lambda: lo.apply(grads, lps)), to.step
    out["adam_update_mlp"] = adam
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import torch
    sync_lm, sync_torch = lm.cuda.synchronize, torch.cuda.synchronize
    for name, build in cases(torch).items():
        try:
            la, to = build()
            t = compare({"lamina": synced(la, sync_lm), "torch": synced(to, sync_torch)},
                        rounds=args.rounds, warmup=3)
            rec = {"op": name, "lamina_us": round(t["lamina"] * 1e6, 1),
                   "torch_us": round(t["torch"] * 1e6, 1), "ratio": ratio(t["lamina"], t["torch"])}
        except Exception as e:
            rec = {"op": name, "error": f"{type(e).__name__}: {e}"[:400]}
        emit(rec, args.out)


if __name__ == "__main__":
    main()
