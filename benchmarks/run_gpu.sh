#!/usr/bin/env bash
# Everything lamina checks on a CUDA machine, in one go: the environment, the cuda-device
# tests, the whole suite with new tensors on the GPU (LAMINA_DEVICE=cuda), then the GPU
# benchmarks.  Each step has its own time limit and log, and a failing step does not stop
# the next.
#   bash benchmarks/run_gpu.sh OUTDIR [PYTHON]
# STEPS="env gpu suite bench" (the default) picks and orders the steps; *_S variables set
# each step's time limit in seconds.
set -u
out=${1:-gpu_results}
py=${2:-python3}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-$PWD/.cupy_cache}
# the device machines run commands as root, which Open MPI refuses without these
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
stamp() { echo "== $(date +%T) $*"; }

step_env() {
stamp env
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $py - <<'PY'
import numpy, cupy, torch
print("numpy", numpy.__version__, "cupy", cupy.__version__, "torch", torch.__version__)
print("cuda runtime", cupy.cuda.runtime.runtimeGetVersion())
try:
    from cupy.cuda import cudnn
    print("cudnn", cudnn.getVersion())
except Exception as e:
    print("cudnn: none:", type(e).__name__, e)
try:
    import cupyx.cudnn  # noqa: F401
    print("cupyx.cudnn importable")
except Exception as e:
    print("cupyx.cudnn: none:", type(e).__name__, e)
PY
} > "$out/env.txt" 2>&1
cat "$out/env.txt"
}

step_gpu() {
stamp "cuda-device tests (pytest -m gpu)"
timeout -s INT -k 15 ${GPU_TESTS_S:-120} $py -m pytest -q -m gpu -n 8 -p no:cacheprovider \
    --tb=short -rfE --junitxml="$out/gpu_tests.xml" tests > "$out/gpu_tests.log" 2>&1
tail -n 3 "$out/gpu_tests.log"
}

step_suite() {
stamp "whole suite with LAMINA_DEVICE=cuda"
LAMINA_DEVICE=cuda timeout -s INT -k 15 ${SUITE_S:-180} $py -m pytest -q -n ${WORKERS:-12} \
    -m "not slow and not gpu" -p no:cacheprovider --timeout 90 --tb=short -rfE \
    --durations=15 --junitxml="$out/suite_cuda.xml" tests > "$out/suite_cuda.log" 2>&1
tail -n 3 "$out/suite_cuda.log"
}

step_bench() {
stamp "benchmarks"
timeout -k 10 ${BENCH_S:-100} $py benchmarks/bench_gpu.py --rounds ${ROUNDS:-5} \
    2>&1 | tee "$out/bench_gpu.log"
timeout -k 10 ${OPS_S:-40} $py benchmarks/bench_gpu_ops.py --rounds ${ROUNDS:-5} \
    2>&1 | tee "$out/bench_gpu_ops.log"
}

for s in ${STEPS:-env gpu suite bench}; do "step_$s"; done
stamp "kernel cache"
tar czf "$out/cupy_cache.tgz" -C "$CUPY_CACHE_DIR" . 2>/dev/null
ls -la "$out"
stamp done
