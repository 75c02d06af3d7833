"""The CNN, LSTM and Transformer training steps with each library in a process of its own.

The other benchmarks run both libraries in one process, alternating them.  That process has
one allocator: how glibc's malloc keeps or returns freed memory depends on what both
libraries have freed so far, and lamina sets malloc's thresholds on import (see
``lamina/allocator.py``), which PyTorch then shares.  Users run one library at a time, so
this script starts a fresh process per sample instead, alternating lamina and PyTorch
(A B A B), and reports the medians and their ratio.  PyTorch's processes run with
``LAMINA_MALLOC=system``: its malloc then behaves as in a process without lamina (the
workloads' modules import both libraries).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_processes.py \
        [--rounds R] [--steps S] [--only cnn lstm transformer] [--threads N]

Workloads: ``cnn`` is bench_cnn.py's MNIST CNN step (lamina's functional case), ``lstm``
bench_sequence.py's LSTM text classifier step (a), ``transformer`` its Transformer encoder
step (c).  ``--threads 1`` (the default): one thread each, process CPU time per step after
a warm-up, one sample per process.  ``--threads N``: N threads each (PyTorch's intra-op
pool, NumPy's BLAS, lamina's workers), wall time.  ``--threads 0``: each library's own
default thread counts, as a user gets them, wall time.  A run in processes of their own
also keeps one library's idle thread pool (PyTorch's OpenMP threads spin for a while after
each parallel region) from taking the cores while the other runs, as it does when both
alternate in one process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _child(workload, side, steps, threads):
    """Build ``workload``'s step for ``side`` in this process, time ``steps`` steps after a
    warm-up and print the milliseconds per step (process CPU time with one thread, else
    wall time)."""
    import time

    import numpy as np
    import torch
    if threads:
        torch.set_num_threads(threads)
    sys.path.insert(0, _HERE)
    if workload == "cnn":
        import bench_cnn
        rng = np.random.default_rng(0)
        x = rng.random((bench_cnn.BATCH, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, bench_cnn.BATCH)
        params = bench_cnn.make_params()
        step = bench_cnn.lamina_step_fn(params, x, y) if side == "lamina" else \
            bench_cnn.torch_step_fn(torch, params, x, y)
    else:
        import bench_sequence
        case = bench_sequence.lstm_case if workload == "lstm" else \
            bench_sequence.transformer_case
        lamina_step, torch_step = case(torch, np.random.default_rng(0))
        step = lamina_step if side == "lamina" else torch_step
    for _ in range(5):
        step()
    clock = time.process_time if threads == 1 else time.perf_counter
    t0 = clock()
    for _ in range(steps):
        step()
    print(json.dumps({"ms": (clock() - t0) / steps * 1e3}))


def _sample(workload, side, steps, threads):
    env = dict(os.environ)
    if threads:
        n = str(threads)
        env.update(OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n,
                   LAMINA_NUM_THREADS=n)
    if side == "torch":
        env["LAMINA_MALLOC"] = "system"
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", workload,
                          side, str(steps), str(threads)], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["ms"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="processes per library")
    ap.add_argument("--steps", type=int, default=60, help="timed steps per process")
    ap.add_argument("--only", choices=("cnn", "lstm", "transformer"), nargs="+",
                    default=["cnn", "lstm"])
    ap.add_argument("--threads", type=int, default=1,
                    help="threads per library (0: each library's default)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        workload, side, steps, threads = args.child
        _child(workload, side, int(steps), int(threads))
        return
    for workload in args.only:
        times = {"lamina": [], "torch": []}
        for _ in range(args.rounds):
            for side in times:
                times[side].append(_sample(workload, side, args.steps, args.threads))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(json.dumps({
            "bench": f"{workload}_train_step_own_process",
            "clock": "cpu" if args.threads == 1 else "wall",
            "threads": args.threads or "default",
            "lamina_ms": round(med["lamina"], 3), "torch_ms": round(med["torch"], 3),
            "ratio": round(med["lamina"] / med["torch"], 3),
            "lamina_range_ms": [round(min(times["lamina"]), 2), round(max(times["lamina"]), 2)],
            "torch_range_ms": [round(min(times["torch"]), 2), round(max(times["torch"]), 2)]}),
            flush=True)


if __name__ == "__main__":
    main()
