"""The matrix products of the course's models in NumPy (OpenBLAS), lamina.ops.blas (MKL, when
installed) and PyTorch (MKL), one thread each, alternated A B C A B C, medians.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_blas.py [--clock cpu]

Prints one JSON line per shape (m x k x n, with which operands are transposed views) with the
times in microseconds and the ratios to PyTorch.  It shows (a) how much of lamina's distance to
PyTorch on GEMM-bound workloads is the BLAS library and (b) where the MKL path stops paying
for its ctypes call (lamina.ops.blas.MIN_MKL_WORK).  Without MKL installed the "blas" column
is NumPy again.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

# one thread each (torch and NumPy's BLAS are limited to 1 below): products unsplit
os.environ.setdefault("LAMINA_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lamina.ops import blas  # noqa: E402
from common import compare, emit  # noqa: E402

# (m, k, n, a transposed, b transposed, where it comes from)
SHAPES = [
    (32, 64, 128, 0, 0, "MLP 64-128-10 layer 1, batch 32"),
    (32, 128, 512, 0, 0, "LSTM step h @ U (batch 32, H 128)"),
    (32, 512, 128, 0, 1, "LSTM backward step dz @ U^T"),
    (128, 128, 128, 0, 0, "small square"),
    (256, 256, 256, 0, 0, "medium square"),
    (2560, 64, 512, 0, 0, "LSTM input projection, all steps"),
    (128, 2560, 512, 1, 0, "LSTM dU = H^T dz"),
    (2048, 128, 384, 0, 0, "Transformer QKV projection"),
    (2048, 128, 512, 0, 0, "Transformer FFN in"),
    (2048, 512, 128, 0, 0, "Transformer FFN out"),
    (512, 2048, 128, 1, 0, "Transformer FFN out, weight grad"),
    (7744, 288, 64, 0, 0, "MNIST CNN conv2 forward (im2col)"),
    (7744, 64, 288, 0, 1, "MNIST CNN conv2 data grad"),
    (43264, 9, 32, 0, 0, "MNIST CNN conv1 forward"),
    (128, 784, 512, 0, 0, "MLP 784-512 layer, batch 128"),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = ap.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        pass
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    print(f"# lamina.ops.blas backend: {blas.backend()}, MIN_MKL_WORK={blas.MIN_MKL_WORK}; "
          f"numpy {np.__version__}; torch {torch.__version__ if torch else 'absent'}; one thread")
    rng = np.random.default_rng(0)
    for m, k, n, ta, tb, what in SHAPES:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
        a2, b2 = (a.T if ta else a), (b.T if tb else b)
        out = np.empty((m, n), np.float32)
        out2 = np.empty((m, n), np.float32)
        # lamina's path regardless of the size threshold, to show where it pays
        mkl_forced = blas.mkl_available() and blas._mkl_gemm(a2, b2, out2, 0.0) is not False
        cases = {"numpy": lambda: np.matmul(a2, b2, out=out)}
        if mkl_forced:
            cases["mkl"] = lambda: blas._mkl_gemm(a2, b2, out2, 0.0)
        if torch is not None:
            ta_, tb_ = torch.from_numpy(a), torch.from_numpy(b)
            ta_, tb_ = (ta_.T if ta else ta_), (tb_.T if tb else tb_)
            tout = torch.empty(m, n)
            cases["torch"] = lambda: torch.mm(ta_, tb_, out=tout)
        med = compare(cases, rounds=args.rounds, clock=args.clock)
        rec = {"shape": f"{m}x{k}x{n}", "transposed": [bool(ta), bool(tb)], "what": what,
               "clock": args.clock}
        rec.update({f"{name}_us": round(t * 1e6, 1) for name, t in med.items()})
        if "torch" in med:
            rec.update({f"{name}_over_torch": round(t / med["torch"], 3)
                        for name, t in med.items() if name != "torch"})
        if "mkl" in med:
            rec["mkl_over_numpy"] = round(med["mkl"] / med["numpy"], 3)
            rec["lamina_uses_mkl"] = m * k * n >= blas.MIN_MKL_WORK
        emit(rec)


if __name__ == "__main__":
    main()
