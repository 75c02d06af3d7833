"""Reusable scratch arrays for fused ops (NumPy only).

Large fresh arrays are expensive on the CPU beyond their arithmetic: glibc returns big
blocks to the kernel when they are freed, so every new one is mapped again and each of
its pages faults and is zeroed on first touch.  A fused op that allocates several
megabytes per call (an LSTM over a sequence keeps its gates and states for the
backward) spends a large share of its time there.  ``scratch`` hands out an array of
the asked shape and dtype from a small pool, reusing one that nobody references any
more (its only references are the pool's own: no tensor, closure or view holds it),
so a training loop that frees each step's graph reuses the same memory every step.

Pooled arrays of a megabyte or more live on 2 MiB pages where Linux offers transparent huge
pages (``madvise``, the common default).  An LSTM's saved arrays span ~15 MB: thousands of
4 KiB pages, more than the TLB maps, and on a virtual machine each TLB miss is a two-level
page walk.  Once other work has run between two steps (here the other library in
``benchmarks/bench_sequence.py``), they cost the LSTM text classifier's step ~8%: 18.2-18.9 ms
on 4 KiB pages against 15.6-17.1 ms on huge pages, alternating with PyTorch in one process.
The price is address space (up to 2 MiB per array for the alignment, never touched) and
memory rounded up to whole huge pages.

Only arrays that stay internal to an op (saved for the backward or temporaries) may
come from here, never arrays handed to the user.  Contents are uninitialized, as
``numpy.empty``.  CuPy arrays are not pooled (CuPy has its own memory pool).
"""
from __future__ import annotations

import mmap
import sys
import threading

import numpy as np

__all__ = ["scratch", "aligned_empty", "clear", "pooled_bytes"]

_MIN_BYTES = 1 << 17        # smaller arrays come from malloc's own free lists cheaply
_MAX_BYTES = 256 << 20      # the pool never holds more than this in total
_PER_KEY = 4                # arrays kept per (shape, dtype)
_HUGE_BYTES = 1 << 20       # pooled arrays from this size go on huge pages
_HUGE_PAGE = 2 << 20        # x86-64's and arm64's (with 4 KiB base pages) huge page size
# Linux's advice for transparent huge pages (None elsewhere, or to switch them off)
_HUGE_ADVICE = getattr(mmap, "MADV_HUGEPAGE", None)

_pool: dict = {}            # (shape, dtype) -> list of arrays
_total = [0]
_lock = threading.Lock()    # threads may run ops concurrently


def _refs_when_free():
    """sys.getrefcount of a pooled array that nobody else holds, seen from the loop in
    scratch() (the pool's list, the loop variable, the call's argument: 3 on CPython 3.11,
    measured rather than assumed since interpreters differ)."""
    for a in [np.empty(1)]:
        return sys.getrefcount(a)


_FREE_REFS = _refs_when_free()


def scratch(xp, shape, dtype):
    """An uninitialized array of ``shape`` and ``dtype`` (like ``xp.empty``), reused from
    the pool when one is free."""
    if xp is not np:
        return xp.empty(shape, dtype=dtype)
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize
    for s in shape:
        nbytes *= s
    if nbytes < _MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    key = (shape, dtype)
    with _lock:
        # re-inserted at the end on every use: the least recently used shapes come first
        arrs = _pool.pop(key, None)
        if arrs is None:
            arrs = []
        else:
            _pool[key] = arrs
            for a in arrs:
                if sys.getrefcount(a) == _FREE_REFS:
                    return a
        a = _huge_page_empty(shape, dtype, nbytes) if nbytes >= _HUGE_BYTES else None
        if a is None:
            a = np.empty(shape, dtype=dtype)
        if len(arrs) < _PER_KEY and nbytes <= _MAX_BYTES:
            if _total[0] + nbytes > _MAX_BYTES:
                _make_room(nbytes, key)
            if _total[0] + nbytes <= _MAX_BYTES:
                arrs.append(a)
                _total[0] += nbytes
                _pool[key] = arrs
        return a


def _huge_page_empty(shape, dtype, nbytes):
    """An uninitialized array on memory aligned to a huge page and advised to the kernel
    for transparent huge pages, or None where the platform has no such advice.  The
    mapping is freed with the last view of the array."""
    if _HUGE_ADVICE is None:
        return None
    size = -(-nbytes // _HUGE_PAGE) * _HUGE_PAGE
    # an anonymous mapping is only page-aligned: one huge page more leaves room to align
    # private: a shared anonymous mapping is shmem, which has its own huge-page setting
    try:
        m = mmap.mmap(-1, size + _HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except OSError:         # no address space or memory for a mapping: NumPy's allocator
        return None
    buf = np.frombuffer(m, dtype=np.uint8)
    off = -buf.ctypes.data % _HUGE_PAGE
    try:
        m.madvise(_HUGE_ADVICE, off, size)
    except (OSError, ValueError):   # huge pages switched off: plain pages, still aligned
        pass
    # an ndarray over the mapping itself (not a view of ``buf``): views of it then have it
    # as their base, which the pool's reference count must see
    return np.ndarray(shape, dtype, buffer=m, offset=off)


def aligned_empty(xp, shape, dtype, align=64):
    """An uninitialized array of ``shape`` and ``dtype`` whose data starts on an
    ``align``-byte boundary (NumPy only guarantees 16).  OpenBLAS's GEMM runs up to 1.4x
    slower on a B operand that is not 64-byte aligned (measured for the LSTM's
    (32, 128) @ (128, 128) products).  CuPy's allocations are aligned already."""
    if xp is not np:
        return xp.empty(shape, dtype=dtype)
    dtype = np.dtype(dtype)
    n = dtype.itemsize
    for s in shape:
        n *= int(s)
    buf = np.empty(n + align, dtype=np.uint8)
    off = -buf.ctypes.data % align
    return buf[off:off + n].view(dtype).reshape(shape)


def _make_room(nbytes, keep):
    """Forget the least recently used shapes until ``nbytes`` more fit under the cap (say,
    after the sequence length changed).  Arrays still in use stay valid for their holders;
    the pool only stops handing them out."""
    for key in list(_pool):
        if _total[0] + nbytes <= _MAX_BYTES:
            return
        if key != keep:
            for a in _pool.pop(key):
                _total[0] -= a.nbytes


def clear():
    """Drop every pooled array (memory in use elsewhere stays valid)."""
    with _lock:
        _pool.clear()
        _total[0] = 0


def pooled_bytes():
    """Bytes currently held by the pool."""
    return _total[0]
