"""Training throughput of the MNIST CNN in lamina and in PyTorch eager, in one process.

Model: Conv32 3x3 relu -> MaxPool2 -> Conv64 3x3 relu -> MaxPool2 -> Flatten -> Dense128
relu -> Dense10, softmax cross-entropy, plain SGD, batch 64, random 28x28x1 data.  Each
framework does the same work per step (forward, backward, update); lamina runs its fused
functional ops channels-last (case "lamina": conv + bias + relu as one ``conv2d_relu``
node, as Keras's ``Conv2D(activation="relu")`` also does) and the same model through its
Keras API (Sequential + train_on_batch, case "lamina_keras"), PyTorch its usual NCHW
modules (separate Conv2d and ReLU).
Steps alternate A B A B and the medians are reported, with a cProfile of lamina's step.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_cnn.py [--profile]
        [--threads N] [--rounds R] [--clock wall|cpu]
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys

# --threads N must act before NumPy (OpenBLAS) starts its thread pool
if "--threads" in sys.argv:
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "LAMINA_NUM_THREADS"):
        os.environ[_v] = _n

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import compare, emit, ratio  # noqa: E402

import lamina as lm  # noqa: E402
from lamina.nn import functional as F  # noqa: E402
from lamina.ops.conv import conv2d_relu  # noqa: E402
from lamina.ops.pooling import max_pool2d  # noqa: E402

BATCH, LR = 64, 0.01


def _glorot(rng, shape, fan_in, fan_out):
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-lim, lim, shape).astype(np.float32)


def make_params(seed=0):
    """The CNN's weights as NumPy arrays, Keras layouts (HWIO kernels, (in, out) dense)."""
    rng = np.random.default_rng(seed)
    return [_glorot(rng, (3, 3, 1, 32), 9, 288), np.zeros(32, np.float32),
            _glorot(rng, (3, 3, 32, 64), 288, 576), np.zeros(64, np.float32),
            _glorot(rng, (1600, 128), 1600, 128), np.zeros(128, np.float32),
            _glorot(rng, (128, 10), 128, 10), np.zeros(10, np.float32)]


def lamina_step_fn(params, x, y):
    """One SGD step of the CNN in lamina: returns a zero-argument callable."""
    ps = [lm.tensor(p, requires_grad=True) for p in params]
    xt, yt = lm.tensor(x), lm.tensor(y)

    def step():
        k1, b1, k2, b2, w3, b3, w4, b4 = ps
        h = conv2d_relu(xt, k1, b1)
        h = max_pool2d(h, 2)
        h = conv2d_relu(h, k2, b2)
        h = max_pool2d(h, 2)
        h = lm.reshape(h, (h.shape[0], -1))
        h = F.relu(F.linear(h, w3, b3))
        loss = F.cross_entropy(F.linear(h, w4, b4), yt)
        loss.backward()
        with lm.no_grad():
            for p in ps:
                p.data -= LR * p.grad.data
                p.grad = None
        return loss
    return step


def keras_step_fn(params, x, y):
    """The same step through lamina's Keras API (Sequential + train_on_batch), or None
    when the layer/training system is not importable."""
    try:
        from lamina import keras
        L = keras.layers
        model = keras.Sequential([
            keras.Input(shape=(28, 28, 1)), L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(), L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(),
            L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10)])
        model.set_weights(params)
        model.compile(optimizer=keras.optimizers.SGD(LR),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    except (ImportError, AttributeError):
        return None
    return lambda: model.train_on_batch(x, y)


def torch_step_fn(torch, params, x, y):
    """The same step in PyTorch eager (NCHW, OIHW kernels, the same initial weights)."""
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(params[0]).permute(3, 2, 0, 1))
        model[0].bias.copy_(torch.tensor(params[1]))
        model[3].weight.copy_(torch.tensor(params[2]).permute(3, 2, 0, 1))
        model[3].bias.copy_(torch.tensor(params[3]))
        # Flatten order differs (NCHW vs NHWC); permute the dense rows to match
        w3 = torch.tensor(params[4]).reshape(5, 5, 64, 128).permute(2, 0, 1, 3).reshape(1600, 128)
        model[7].weight.copy_(w3.T)
        model[7].bias.copy_(torch.tensor(params[5]))
        model[9].weight.copy_(torch.tensor(params[6]).T)
        model[9].bias.copy_(torch.tensor(params[7]))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous()
    yt = torch.tensor(y)
    lossf = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(xt), yt)
        loss.backward()
        opt.step()
        return loss
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of lamina's step")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS and PyTorch threads (default: each library's own default)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time, or process CPU time (steadier on a shared machine)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    params = make_params()
    cases = {"lamina": lamina_step_fn(params, x, y)}
    ks = keras_step_fn(params, x, y)
    if ks is not None:
        cases["lamina_keras"] = ks
    # the first losses agree: both frameworks compute the same function
    first = float(lamina_step_fn(params, x, y)().item())
    try:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
        cases["torch"] = torch_step_fn(torch, params, x, y)
        tfirst = float(torch_step_fn(torch, params, x, y)().item())
        threads = torch.get_num_threads()
    except ImportError:
        torch, tfirst, threads = None, None, None
    res = compare(cases, rounds=args.rounds, number=5, clock=args.clock)
    rec = {"bench": "mnist_cnn_train_step", "batch": BATCH, "clock": args.clock,
           "lamina_ms": round(res["lamina"] * 1e3, 3),
           "lamina_samples_per_s": round(BATCH / res["lamina"], 1),
           "first_loss_lamina": round(first, 5)}
    if "lamina_keras" in res:
        rec["lamina_keras_ms"] = round(res["lamina_keras"] * 1e3, 3)
    if torch is not None:
        rec.update({"torch_ms": round(res["torch"] * 1e3, 3),
                    "torch_samples_per_s": round(BATCH / res["torch"], 1),
                    "lamina_over_torch_time": ratio(res["lamina"], res["torch"]),
                    "lamina_keras_over_torch_time": ratio(res.get("lamina_keras", 0),
                                                          res["torch"]),
                    "first_loss_torch": round(tfirst, 5), "torch_threads": threads})
    emit(rec)
    if args.profile:
        step = cases["lamina"]
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(30):
            step()
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
