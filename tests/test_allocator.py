"""lamina.allocator: freed memory is kept for the next step, unless the user says otherwise."""
import os
import subprocess
import sys

import pytest

from lamina import allocator

IS_GLIBC = allocator._is_glibc()

# A CNN step's pattern: several large arrays made, touched and freed together, over and
# over; prints the page faults of one cycle after a warm-up.
_CYCLES = """
import resource, numpy as np
import lamina
def cycle():
    arrs = [np.empty(2_000_000, np.float32) for _ in range(6)]     # 6 x 8 MB
    for a in arrs:
        a.fill(1.0)
for _ in range(3):
    cycle()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    cycle()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) // 5, lamina.allocator.tuned())
"""


def _faults_per_cycle(**env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("LAMINA_MALLOC", "GLIBC_TUNABLES") and not k.startswith("MALLOC_")}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", _CYCLES], env=full, capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0]), out[1] == "True"


@pytest.mark.skipif(not IS_GLIBC, reason="malloc tuning applies to glibc only")
def test_freed_arrays_are_reused_without_page_faults():
    faults, tuned = _faults_per_cycle()
    assert tuned
    system_faults, system_tuned = _faults_per_cycle(LAMINA_MALLOC="system")
    assert not system_tuned
    if system_faults < 1000:
        pytest.skip(f"this C library keeps the memory by itself ({system_faults} faults)")
    # 48 MB per cycle is ~12,000 pages: the system's thresholds fault most of them again
    assert faults < system_faults / 10, (faults, system_faults)


@pytest.mark.parametrize("env, expected", [
    ({}, False),
    ({"LAMINA_MALLOC": "system"}, True),
    ({"LAMINA_MALLOC": "SYSTEM"}, True),
    ({"LAMINA_MALLOC": "lamina"}, False),
    ({"MALLOC_TRIM_THRESHOLD_": "1000000"}, True),
    ({"MALLOC_MMAP_THRESHOLD_": "1000000"}, True),
    ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"}, True),
    ({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2"}, False),
])
def test_a_users_own_malloc_settings_are_left_alone(env, expected):
    assert allocator._user_configured(env) is expected


def test_tune_does_nothing_when_the_user_opts_out():
    assert allocator.tune({"LAMINA_MALLOC": "system"}) is False
