"""Layer overhead and the fused normalization op, against PyTorch eager.

Workloads (forward + backward each, one process, cases alternating A B C A B C):
  dense_call      Dense(64) on (32, 64): the per-call cost of a Layer.__call__
  batchnorm       BatchNormalization training on (128, 256): lamina's fused
                  normalize_affine vs the same formula in core ops vs torch BatchNorm1d
  layernorm       LayerNormalization on (32, 50, 128): fused vs composed vs torch
  mlp_bn          Sequential 784-512-BN-512-10 on a batch of 128, softmax cross-entropy

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_layers.py \
        [--threads N] [--rounds R]

``--threads N`` sets BLAS threads for NumPy and PyTorch alike (default: NumPy's own
setting, PyTorch 1 thread, as in bench_core.py).
"""
from __future__ import annotations

import os
import sys

if "--threads" in sys.argv:
    # BLAS reads its thread count at import: set it before numpy (and torch) load
    _n = sys.argv[sys.argv.index("--threads") + 1]
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = _n
# lamina's own workers get PyTorch's thread count (1 unless --threads)
os.environ["LAMINA_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", "1") \
    if "--threads" in sys.argv else "1"

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(1, os.path.dirname(_HERE))
from common import compare, emit, ratio  # noqa: E402

import lamina as lm  # noqa: E402
from lamina.nn import layers, Sequential, Input  # noqa: E402
from lamina.nn import functional as F  # noqa: E402

try:
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1"))
                          if "--threads" in sys.argv else 1)
except ImportError:
    torch = None

rng = np.random.default_rng(0)


def _zero(params):
    for p in params:
        p.grad = None


def _composed_norm(x, gamma, beta, axes, eps):
    mu = lm.mean(x, axis=axes, keepdims=True)
    xc = x - mu
    var = lm.mean(xc * xc, axis=axes, keepdims=True)
    return xc * lm.rsqrt(var + eps) * gamma + beta


def dense_cases():
    xa = rng.standard_normal((32, 64)).astype("float32")
    d = layers.Dense(64)
    x = lm.tensor(xa)
    d(x)

    def lam():
        _zero(d.weights)
        lm.sum(d(x)).backward()
    cases = {"lamina": lam}
    if torch is not None:
        lin = torch.nn.Linear(64, 64)
        tx = torch.tensor(xa)

        def tor():
            lin.zero_grad(set_to_none=True)
            lin(tx).sum().backward()
        cases["torch"] = tor
    return cases


def norm_cases(kind):
    if kind == "batchnorm":
        shape, axes, pshape = (128, 256), (0,), (1, 256)
    else:
        shape, axes, pshape = (32, 50, 128), (2,), (1, 1, 128)
    xa = rng.standard_normal(shape).astype("float32")
    x = lm.tensor(xa, requires_grad=True)
    layer = layers.BatchNormalization() if kind == "batchnorm" else layers.LayerNormalization()
    layer(x, training=True)
    g = lm.tensor(np.ones(pshape, "float32"), requires_grad=True)
    b = lm.tensor(np.zeros(pshape, "float32"), requires_grad=True)

    def fused():
        x.grad = None
        _zero(layer.weights)
        lm.sum(layer(x, training=True)).backward()

    def composed():
        x.grad = g.grad = b.grad = None
        lm.sum(_composed_norm(x, g, b, axes, 1e-3)).backward()
    cases = {"fused": fused, "composed": composed}
    if torch is not None:
        tx = torch.tensor(xa, requires_grad=True)
        mod = torch.nn.BatchNorm1d(256, eps=1e-3) if kind == "batchnorm" else \
            torch.nn.LayerNorm(128, eps=1e-3)

        def tor():
            tx.grad = None
            mod.zero_grad(set_to_none=True)
            mod(tx).sum().backward()
        cases["torch"] = tor
    return cases


def mlp_cases():
    xa = rng.standard_normal((128, 784)).astype("float32")
    ya = rng.integers(0, 10, 128)
    m = Sequential([Input((784,)), layers.Dense(512, activation="relu"),
                    layers.BatchNormalization(), layers.Dense(512, activation="relu"),
                    layers.Dense(10)])
    x = lm.tensor(xa)

    def lam():
        _zero(m.weights)
        F.cross_entropy(m(x, training=True), ya).backward()
    cases = {"lamina": lam}
    if torch is not None:
        net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(),
                                  torch.nn.BatchNorm1d(512, eps=1e-3, momentum=0.01),
                                  torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                  torch.nn.Linear(512, 10))
        tx, ty = torch.tensor(xa), torch.tensor(ya)

        def tor():
            net.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(tx), ty).backward()
        cases["torch"] = tor
    return cases


def main():
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 15
    for name, cases in (("dense_call", dense_cases()), ("batchnorm", norm_cases("batchnorm")),
                        ("layernorm", norm_cases("layernorm")), ("mlp_bn", mlp_cases())):
        res = compare(cases, rounds=rounds)
        rec = {"bench": name, **{k: round(v * 1e6, 1) for k, v in res.items()}, "unit": "us",
               "threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")}
        if "torch" in res:
            first = "lamina" if "lamina" in res else "fused"
            rec["ratio_vs_torch"] = ratio(res[first], res["torch"])
        if "composed" in res:
            rec["fused_vs_composed"] = ratio(res["fused"], res["composed"])
        emit(rec)


if __name__ == "__main__":
    main()
