"""Core overhead: a tiny op forward+backward and a 64-128-10 MLP training step.

The same workloads run in hand-written NumPy, lamina and PyTorch (when installed) in
one process, alternating A B C A B C, and one JSON line is printed per measurement
(median seconds per call, and ratios).  Targets: lamina's tiny-op cost <= PyTorch
eager's; the MLP step within 1.3x of hand-written NumPy.  The MLP headline line is the
unfused step, relu(linear(...)); a second line, from the same run, times the hidden layer
as one fused node, linear(..., activation="relu"), which is what Keras' Dense(activation=
"relu") runs.  A third line times the same step through a bare tape with none of lamina's
checks (``bare_tape_mlp``): the floor for a Python define-by-run tape on this step.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_core.py
"""
from __future__ import annotations

import argparse
import os
import sys

# One BLAS thread for NumPy (and lamina, which shares it) as for torch below: these
# matrices are too small to gain from threads, and on a shared machine threads only add
# noise.  Set before NumPy loads; an explicit setting in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("LAMINA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(1, os.path.dirname(_HERE))      # run from a checkout without installing
from common import compare, emit, ratio  # noqa: E402

import lamina as lm  # noqa: E402
from lamina.nn import functional as F  # noqa: E402

try:
    import torch
    torch.set_num_threads(1)
except ImportError:     # the benchmark still compares lamina with NumPy
    torch = None

LR = 0.05


# ------------------------------------------------------------- tiny op: (x * w).sum()
def tiny_cases(n=16):
    rng = np.random.default_rng(0)
    xa = rng.standard_normal(n).astype(np.float32)
    wa = rng.standard_normal(n).astype(np.float32)

    def numpy_step():
        y = (xa * wa).sum()
        gx = wa * np.float32(1.0)      # dy/dx, dy/dw for a seed gradient of 1
        gw = xa * np.float32(1.0)
        return y, gx, gw

    x = lm.tensor(xa, requires_grad=True)
    w = lm.tensor(wa, requires_grad=True)

    def lamina_step():
        x.grad = w.grad = None
        (x * w).sum().backward()

    cases = {"numpy": numpy_step, "lamina": lamina_step}
    if torch is not None:
        tx = torch.tensor(xa, requires_grad=True)
        tw = torch.tensor(wa, requires_grad=True)

        def torch_step():
            tx.grad = tw.grad = None
            (tx * tw).sum().backward()
        cases["torch"] = torch_step
    return cases


# ------------------------------------------------------------- MLP 64-128-10, batch 32
def mlp_data(batch=32, d_in=64, hidden=128, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, d_in)).astype(np.float32)
    y = rng.integers(0, classes, batch)
    W1 = (rng.standard_normal((d_in, hidden)) / np.sqrt(d_in)).astype(np.float32)
    W2 = (rng.standard_normal((hidden, classes)) / np.sqrt(hidden)).astype(np.float32)
    return X, y, [W1, np.zeros(hidden, np.float32), W2, np.zeros(classes, np.float32)]


def numpy_mlp(X, y, params):
    W1, b1, W2, b2 = [p.copy() for p in params]
    n = X.shape[0]
    rows = np.arange(n)
    lr = np.float32(LR)

    def step():
        h = X @ W1
        h += b1
        a = np.maximum(h, 0)
        z = a @ W2
        z += b2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = np.log(s[:, 0]).mean() - z[rows, y].mean()
        dz = e / s
        dz[rows, y] -= 1
        dz /= n
        gW2 = a.T @ dz
        gb2 = dz.sum(0)
        da = dz @ W2.T
        da *= h > 0
        gW1 = X.T @ da
        gb1 = da.sum(0)
        for p, g in ((W1, gW1), (b1, gb1), (W2, gW2), (b2, gb2)):
            g *= lr
            p -= g
        return loss
    return step


def lamina_mlp(X, y, params, fused=False):
    """The lamina step; ``fused``: the hidden layer as one node, linear(..., activation="relu")
    (what a Keras Dense(activation="relu") runs), instead of relu(linear(...))."""
    ps = [lm.tensor(p, requires_grad=True) for p in params]
    W1, b1, W2, b2 = ps
    x = lm.tensor(X)

    def step():
        h = F.linear(x, W1, b1, activation="relu") if fused else F.relu(F.linear(x, W1, b1))
        loss = F.cross_entropy(F.linear(h, W2, b2), y)
        loss.backward()
        with lm.no_grad():
            for p in ps:
                p -= LR * p.grad
                p.grad = None
        return loss
    return step


def torch_mlp(X, y, params):
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    W1, b1, W2, b2 = ps
    x = torch.from_numpy(X)
    t = torch.from_numpy(y)
    Fn = torch.nn.functional

    def step():
        loss = Fn.cross_entropy(Fn.linear(Fn.relu(Fn.linear(x, W1.T, b1)), W2.T, b2), t)
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p -= LR * p.grad
                p.grad = None
        return loss
    return step


def bare_tape_mlp(X, y, params):
    """The same step through the barest define-by-run tape: raw-array gradients, closures as
    backward functions, a stack walk, and none of lamina's checks (versions, shapes, dtypes,
    devices, hooks, grad modes).  Not a usable framework: a floor for what any Python-level
    tape pays over hand-written NumPy on this step."""
    class Node:
        __slots__ = ("data", "grad", "parents", "back")

        def __init__(self, data, parents=(), back=None):
            self.data, self.grad, self.parents, self.back = data, None, parents, back

    def linear(x, w, b, relu=False):
        h = x.data @ w.data
        h += b.data

        def back(g):
            return (g @ w.data.T if x.back else None), x.data.T @ g, g.sum(0)
        return Node(h, (x, w, b), back)

    def relu(x):
        def back(g):
            m = (x.data > 0).astype(g.dtype)
            np.multiply(g, m, out=m)
            return (m,)
        return Node(np.maximum(x.data, 0), (x,), back)

    def cross_entropy(z, t):
        s = z.data - z.data.max(1, keepdims=True)
        e = np.exp(s)
        se = e.sum(1, keepdims=True)
        rows = np.arange(len(t))

        def back(g):
            p = e / se
            p[rows, t] -= 1
            p *= 1.0 / len(t)
            return (p,)
        return Node(np.log(se).mean() - s[rows, t].mean(), (z,), back)

    ps = [Node(p.copy()) for p in params]
    W1, b1, W2, b2 = ps
    x = Node(X)

    def step():
        loss = cross_entropy(linear(relu(linear(x, W1, b1)), W2, b2), y)
        stack = [(loss, None)]
        while stack:                # this graph is a tree: no gradient meets another
            t, g = stack.pop()
            if t.back is None:
                t.grad = g
                continue
            for p, pg in zip(t.parents, t.back(g)):
                if pg is not None and p is not x:
                    stack.append((p, pg))
        for p in ps:
            p.data -= LR * p.grad
            p.grad = None
        return loss.data
    return step


def mlp_cases(data):
    """The MLP step of every implementation on ``data`` (mlp_data's X, y, params), by name."""
    cases = {"numpy": numpy_mlp(*data), "lamina": lamina_mlp(*data),
             "lamina_fused": lamina_mlp(*data, fused=True), "bare_tape": bare_tape_mlp(*data)}
    if torch is not None:
        cases["torch"] = torch_mlp(*data)
    return cases


def check_same_losses(steps=20):
    """The three MLP implementations follow the same trajectory (a sanity check that the
    timed code does the same work)."""
    last = {}
    for k, f in mlp_cases(mlp_data()).items():
        for _ in range(steps):
            loss = f()
        # torch warns when a tensor that requires grad becomes a float
        last[k] = float(loss.detach() if hasattr(loss, "detach") else loss)
    ref = last["numpy"]
    for k, v in last.items():
        if abs(v - ref) > 1e-4 * max(1.0, abs(ref)):
            raise SystemExit(f"bench_core: {k} MLP loss {v} differs from numpy's {ref}")
    return last


def mlp_bench(batch, args):
    """Time one MLP training step at ``batch`` in every implementation; emit one line for
    the headline (unfused) lamina step and one for the fused-activation variant, both from
    the same alternating run."""
    med = compare(mlp_cases(mlp_data(batch=batch)), rounds=args.rounds, clock=args.clock)
    extra = {"lamina": "", "lamina_fused": ", hidden layer linear(activation='relu')",
             "bare_tape": ", through a bare tape with no checks (a floor, not lamina)"}
    for bench, key in (("mlp_train_step", "lamina"), ("mlp_train_step_fused_relu", "lamina_fused"),
                       ("mlp_train_step_bare_tape", "bare_tape")):
        rec = {"bench": bench, "workload": f"64-128-10 MLP, batch {batch}, SGD, float32"
               + extra[key],
               "clock": args.clock,
               "median_s": {k: med[k] for k in ("numpy", key, "torch") if k in med}}
        who = "bare_tape" if key == "bare_tape" else "lamina"
        rec[f"{who}_over_numpy"] = ratio(med[key], med["numpy"])
        if "torch" in med:
            rec[f"{who}_over_torch"] = ratio(med[key], med["torch"])
            rec["torch_over_numpy"] = ratio(med["torch"], med["numpy"])
        emit(rec)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall time, or this process's CPU time (steadier on a busy machine)")
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 512],
                    help="MLP batch sizes (32 is the target workload; a larger one shows the "
                         "fixed per-op cost fading as the arrays grow)")
    args = ap.parse_args(argv)
    check_same_losses()

    med = compare(tiny_cases(), rounds=args.rounds, clock=args.clock)
    rec = {"bench": "tiny_op_fwd_bwd", "workload": "(x*w).sum().backward(), x,w: (16,) float32",
           "clock": args.clock,
           "median_s": {k: v for k, v in med.items()},
           "lamina_over_numpy": ratio(med["lamina"], med["numpy"])}
    if "torch" in med:
        rec["lamina_over_torch"] = ratio(med["lamina"], med["torch"])
    emit(rec)
    for batch in args.batch:
        mlp_bench(batch, args)


if __name__ == "__main__":
    main()
