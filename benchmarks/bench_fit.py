"""``model.fit`` in lamina against the same training loop in PyTorch eager.

Workloads (one epoch per timed call):
  * digits MLP: 1,527 x 64 standardized digits, Dense(100, tanh) -> Dense(10, softmax),
    SGD(0.1), categorical cross-entropy, batch 32 (48 steps).
  * MNIST-size MLP: 4,096 random 784-feature samples, 784-512-512-10 (relu), SGD(0.01),
    sparse categorical cross-entropy, batch 128 (32 steps).

PyTorch does the same work: the same model, optimizer and loss (cross-entropy on logits,
which is what lamina's fit computes for a softmax output), shuffling once per epoch and
slicing batches in a Python loop (no DataLoader), accumulating the loss as fit's loss
tracker does.  Cases alternate A B A B; medians are reported with samples/s and the ratio
lamina time / PyTorch time (< 1 means lamina is faster).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_fit.py \
        [--threads N] [--rounds R] [--clock cpu] [--only digits|mlp] [--profile]
"""
from __future__ import annotations

import argparse
import os
import sys

if "--threads" in sys.argv:
    # BLAS reads its thread count at import: set it before numpy (and torch) load
    _n = sys.argv[sys.argv.index("--threads") + 1]
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = _n
    os.environ["LAMINA_NUM_THREADS"] = _n

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import compare, emit, ratio  # noqa: E402

import lamina as lm  # noqa: E402
from lamina import keras  # noqa: E402
from lamina.data import load_digits, train_test_split, standardize  # noqa: E402


def digits_data():
    X, y = load_digits()
    Xtr, _, ytr, _ = train_test_split(X, y, test_size=270, seed=0)
    Xtr = standardize(Xtr)
    return Xtr.astype(np.float32), np.eye(10, dtype=np.float32)[ytr], ytr


def mnist_like(n=4096):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 784)).astype(np.float32), rng.integers(0, 10, n)


def lamina_digits(X, Y):
    lm.random.seed(0)
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(100, activation="tanh"),
                          keras.layers.Dense(10, activation="softmax")])
    m.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy")
    return lambda: m.fit(X, Y, batch_size=32, epochs=1, verbose=0)


def lamina_mlp(X, y):
    lm.random.seed(0)
    m = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                          keras.layers.Dense(512, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
    m.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    return lambda: m.fit(X, y, batch_size=128, epochs=1, verbose=0)


def torch_loop(torch, model, X, t, batch, lr):
    """One epoch of the classic PyTorch loop over pre-loaded tensors."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    F = torch.nn.functional
    # the data lives where the model does (on the GPU under torch.set_default_device)
    dev = torch.get_default_device()
    Xt = torch.from_numpy(X).to(dev)
    tt = torch.from_numpy(t).to(dev)
    n = len(Xt)

    def epoch():
        perm = torch.randperm(n)
        xs, ts = Xt[perm], tt[perm]
        total = 0.0
        for i in range(0, n, batch):
            xb, tb = xs[i:i + batch], ts[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), tb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        return total / n
    return epoch


def torch_digits(torch, X, Y):
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(64, 100), nn.Tanh(), nn.Linear(100, 10))
    return torch_loop(torch, model, X, Y, 32, 0.1)


def torch_mlp(torch, X, y):
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    return torch_loop(torch, model, X, y, 128, 0.01)


def profile(fn, n=20, top=25):
    import cProfile
    import pstats
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        fn()
    pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(top)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", action="store_true", help="cProfile lamina's digits fit")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS/PyTorch threads for both libraries (default: their own)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall time, or this process's CPU time (steadier on a busy machine, "
                         "with --threads 1)")
    ap.add_argument("--only", choices=["digits", "mlp"], default=None,
                    help="run one workload only")
    args = ap.parse_args()
    X, Y, ytr = digits_data()
    Xm, ym = mnist_like()
    if args.profile:
        profile(lamina_digits(X, Y))
        return
    try:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    workloads = [("fit_digits_mlp", len(X), lamina_digits(X, Y),
                  torch and torch_digits(torch, X, ytr)),
                 ("fit_mlp_784_512_512_10", len(Xm), lamina_mlp(Xm, ym),
                  torch and torch_mlp(torch, Xm, ym))]
    for name, n, lam, tor in workloads:
        if args.only and args.only not in name:
            continue
        cases = {"lamina": lam}
        if tor is not None:
            cases["torch"] = tor
        res = compare(cases, rounds=args.rounds, number=1, warmup=2, clock=args.clock)
        rec = {"bench": name, "samples": n, "clock": args.clock,
               "lamina_s": round(res["lamina"], 5),
               "lamina_samples_per_s": round(n / res["lamina"])}
        if tor is not None:
            rec.update({"torch_s": round(res["torch"], 5),
                        "torch_samples_per_s": round(n / res["torch"]),
                        "ratio_lamina_over_torch": ratio(res["lamina"], res["torch"]),
                        "torch_threads": torch.get_num_threads()})
        emit(rec)


if __name__ == "__main__":
    main()
