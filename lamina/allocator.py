"""Keeping freed CPU memory for the next training step (glibc's malloc).

A training step frees every large array it made (activations, gradients, im2col matrices)
and makes arrays of the same sizes again in the next step.  glibc hands blocks above its
mmap threshold to the kernel, and trims the top of its heap once more than its trim
threshold lies free there; both thresholds start low (128 KiB) and rise with the largest
block freed, to at most 32 MiB and 64 MiB.  On MNIST's CNN (a 9 MB im2col matrix, ~25 MB
freed per step) the trim threshold settles at ~18 MB: every step gives its memory back and
the next one faults it in again page by page, zeroed.  That was ~4,800 page faults and a
third of the step (23.7-24.0 ms against 15.7-16.4 ms with memory kept).

On import lamina sets both thresholds where glibc's own rule would end up, 32 MiB and
64 MiB, so that memory is reused from the first step.  Nothing changes where the C library
is not glibc, where the environment already sets malloc's thresholds
(``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``, ``GLIBC_TUNABLES`` with
``glibc.malloc.*``), or with ``LAMINA_MALLOC=system``.  The cost: up to 64 MiB of freed
memory stays with the process instead of going back to the system.
"""
from __future__ import annotations

import ctypes
import os

__all__ = ["tune", "tuned"]

MMAP_THRESHOLD = 32 << 20       # glibc's ceiling for its dynamic mmap threshold (64-bit)
TRIM_THRESHOLD = 64 << 20       # and twice that for the trim threshold, as its rule sets
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3      # mallopt's parameter numbers (malloc.h)

_ENV_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_",
                 "MALLOC_MMAP_MAX_")
_state = {"tuned": False}


def _is_glibc():
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (AttributeError, ValueError, OSError):     # not a GNU system
        return False


def _user_configured(environ):
    """True when the environment says how malloc should behave (then lamina keeps out)."""
    if environ.get("LAMINA_MALLOC", "").lower() == "system":
        return True
    if any(k in environ for k in _ENV_SETTINGS):
        return True
    return "glibc.malloc." in environ.get("GLIBC_TUNABLES", "")


def tune(environ=None):
    """Set glibc's mmap and trim thresholds (see the module's text); returns whether they
    were set.  Called once on ``import lamina``."""
    environ = os.environ if environ is None else environ
    if _user_configured(environ) or not _is_glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting either turns glibc's dynamic rule off, so both
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and \
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    _state["tuned"] = ok
    return ok


def tuned():
    """Whether lamina set malloc's thresholds in this process."""
    return _state["tuned"]
