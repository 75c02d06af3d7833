"""The course's workloads on a CUDA GPU, lamina (CuPy) against PyTorch eager, in one run.

    python benchmarks/bench_gpu.py [--rounds N] [--only NAME ...] [--out results.jsonl]

Workloads, each one training step or epoch = forward, backward, SGD update:
  digits MLP fit       64-100-10 tanh, batch 32, one epoch of 1,527 samples (model.fit)
  MNIST MLP fit        784-512-512-10 relu, batch 128, one epoch of 4,096 samples (model.fit)
  MNIST CNN step       conv32-pool-conv64-pool-dense128-dense10, batch 64
  LSTM classifier      vocab 10,000, emb 64, LSTM 128 over 80 steps, batch 32
  recommender          10,000 x 5,000 embeddings of 32, dot product, batch 1,024
  Transformer encoder  seq 64, d_model 128, 4 heads, 2 layers, FFN 512, batch 32

The workloads are the CPU benchmarks' own (bench_fit, bench_cnn, bench_sequence), built with
both libraries' default device set to CUDA: ``lamina.set_default_device("cuda")`` and
``torch.set_default_device("cuda")``, so every parameter and input starts on the GPU, except
that lamina's ``fit`` is given host arrays and copies each batch over, as Keras does.
Timing is wall time around each call followed by a device synchronisation; the cases
alternate (A B A B) and medians are reported with samples/s and lamina / torch (< 1: lamina
faster).  One JSON line per workload; ``--out`` appends them to a file too.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import lamina as lm  # noqa: E402
from common import compare, emit, ratio, synced  # noqa: E402


def workloads(torch):
    """(name, samples per call, build) triples; build() returns (lamina_fn, torch_fn)."""
    import bench_cnn
    import bench_fit
    import bench_sequence as seq

    def fit_digits():
        X, Y, ytr = bench_fit.digits_data()
        return bench_fit.lamina_digits(X, Y), bench_fit.torch_digits(torch, X, ytr)

    def fit_mlp():
        X, y = bench_fit.mnist_like()
        return bench_fit.lamina_mlp(X, y), bench_fit.torch_mlp(torch, X, y)

    def cnn():
        rng = np.random.default_rng(0)
        x = rng.random((bench_cnn.BATCH, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, bench_cnn.BATCH)
        params = bench_cnn.make_params()
        return (bench_cnn.lamina_step_fn(params, x, y),
                bench_cnn.torch_step_fn(torch, params, x, y))

    def sequence(make):
        return lambda: make(torch, np.random.default_rng(0))

    return [("fit_digits_mlp", 1527, fit_digits),
            ("fit_mnist_mlp", 4096, fit_mlp),
            ("mnist_cnn_step", 64, cnn),
            ("lstm_text_classifier_step", 32, sequence(seq.lstm_case)),
            ("lstm_keras_api_step", 32, sequence(seq.lstm_keras_case)),
            ("embedding_recommender_step", 1024, sequence(seq.recsys_case)),
            ("transformer_encoder_step", 32, sequence(seq.transformer_case))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--only", nargs="+", default=None, help="workload names to run")
    ap.add_argument("--out", default=None, help="also append the JSON lines to this file")
    args = ap.parse_args(argv)
    import torch
    if not (lm.cuda.is_available() and torch.cuda.is_available()):
        sys.exit("bench_gpu: needs CUDA in both CuPy and PyTorch")
    lm.set_default_device("cuda")
    torch.set_default_device("cuda")
    cp = lm.backend.cupy_module()
    sync_lm, sync_torch = lm.cuda.synchronize, torch.cuda.synchronize
    print(f"# {torch.cuda.get_device_name()}; cupy {cp.__version__}, torch {torch.__version__}, "
          f"numpy {np.__version__}; rounds={args.rounds}", flush=True)
    for name, n, build in workloads(torch):
        if args.only and name not in args.only:
            continue
        try:
            la, to = build()
            t = compare({"lamina": synced(la, sync_lm), "torch": synced(to, sync_torch)},
                        rounds=args.rounds, warmup=3)
        except Exception as e:  # one broken workload must not hide the others' figures
            rec = {"workload": name, "error": f"{type(e).__name__}: {e}"[:400]}
        else:
            rec = {"workload": name, "lamina_ms": round(t["lamina"] * 1e3, 3),
                   "torch_ms": round(t["torch"] * 1e3, 3),
                   "lamina_samples_per_s": round(n / t["lamina"]),
                   "torch_samples_per_s": round(n / t["torch"]),
                   "ratio": ratio(t["lamina"], t["torch"])}
        emit(rec, args.out)
    from lamina.ops import cuda_kernels
    print(f"# fused CUDA kernels turned off by a failure: {cuda_kernels.failures or 'none'}")


if __name__ == "__main__":
    main()
