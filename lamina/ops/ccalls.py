"""C functions called through their addresses, from loops numba compiles and caches.

A compiled loop that calls MKL or the C library through a ctypes function object has the
function's address baked in, and that address changes from process to process, so numba
cannot keep the loop in its disk cache: the LSTM's and attention's loops and the workers'
hand-off were compiled anew in each process (0.7, 1.6 and 0.4 s).  Passing the ctypes
functions as arguments instead cost ~150 us a call of the loop (numba types and unboxes
each one).  Here each C function is called as ``c_xxx(address, args)``: the address an
int64 argument of the loop, the arguments a tuple.  Compiled (after
:func:`register_for_numba`), the call is one indirect call of that address; from Python,
the same functions call through ctypes, so the loops still run as plain Python (the
tests compare the two).

numba's disk cache notices a change to the file of a cached loop, not to this one: after
changing a signature here, delete the ``*.nbi``/``*.nbc`` files in lamina/ops/__pycache__.
"""
from __future__ import annotations

import ctypes

import numpy as np

__all__ = ["address", "c_sgemm", "c_dgemm", "c_vml", "c_yield", "c_usleep", "c_clock",
           "register_for_numba"]

_I, _P, _F, _D, _L = ctypes.c_int, ctypes.c_void_p, ctypes.c_float, ctypes.c_double, \
    ctypes.c_longlong

# The C signatures, as ctypes (for the Python versions): return type, argument types
_SIGNATURES = {
    "sgemm": (None, (_I,) * 6 + (_F, _P, _I, _P, _I, _F, _P, _I)),     # cblas_sgemm
    "dgemm": (None, (_I,) * 6 + (_D, _P, _I, _P, _I, _D, _P, _I)),     # cblas_dgemm
    "vml": (None, (_I, _P, _P, _L)),        # vmsTanh, vmsExp: (n, a, y, mode)
    "yield": (_I, ()),                      # sched_yield
    "usleep": (_I, (ctypes.c_uint,)),
    "clock": (_I, (_I, _P)),                # clock_gettime(clock id, timespec *)
}


def address(fn):
    """The address of a ctypes function (0 for None)."""
    return 0 if fn is None else ctypes.cast(fn, ctypes.c_void_p).value


def _call(kind, addr, args):
    restype, argtypes = _SIGNATURES[kind]
    fn = ctypes.CFUNCTYPE(restype, *argtypes)(int(addr))
    return fn(*[a if t in (_F, _D) else int(a) for a, t in zip(args, argtypes)])


def _by_address(kind, doc):
    """The Python function ``c_<kind>(address, args)``: a ctypes call of the C function of
    signature ``kind`` at ``address``."""
    def call(addr, args):
        return _call(kind, addr, args)
    call.__name__ = call.__qualname__ = f"c_{kind}"
    call.__doc__ = doc
    return call


c_sgemm = _by_address("sgemm", "cblas_sgemm at ``addr`` with its 14 arguments ``args`` "
                               "(pointers as integers).")
c_dgemm = _by_address("dgemm", "cblas_dgemm at ``addr`` with its 14 arguments ``args``.")
c_vml = _by_address("vml", "A VML function of one array (vmsTanh, vmsExp) at ``addr``: "
                           "args (n, a, y, mode).")
c_yield = _by_address("yield", "sched_yield at ``addr`` (``args``: an empty tuple).")
c_usleep = _by_address("usleep", "usleep at ``addr``: args (microseconds,).")
c_clock = _by_address("clock", "clock_gettime at ``addr``: args (clock id, address of a "
                               "timespec).")


_STATE = {"registered": False}


def register_for_numba():
    """Teach numba the functions above (once): each becomes a call of its address."""
    if _STATE["registered"]:
        return
    from llvmlite import ir
    from numba import types
    from numba.core.extending import intrinsic, overload

    to_numba = {None: types.void, _I: types.int32, _P: types.voidptr, _F: types.float32,
                _D: types.float64, _L: types.int64, ctypes.c_uint: types.uint32}

    def caller(kind):
        restype, argtypes = _SIGNATURES[kind]
        ret, params = to_numba[restype], [to_numba[t] for t in argtypes]

        @intrinsic
        def call(typingctx, addr, args):
            if not isinstance(args, types.BaseTuple) or len(args) != len(params):
                return None

            def codegen(context, builder, signature, llargs):
                fnty = ir.FunctionType(
                    ir.VoidType() if ret is types.void else context.get_value_type(ret),
                    [context.get_value_type(t) for t in params])
                fn = builder.inttoptr(llargs[0], fnty.as_pointer())
                vals = [context.cast(builder, builder.extract_value(llargs[1], i),
                                     args.types[i], t) for i, t in enumerate(params)]
                res = builder.call(fn, vals)
                return context.get_dummy_value() if ret is types.void else res
            return ret(addr, args), codegen
        return call

    def implementation(compiled):
        def typed(addr, args):
            return lambda addr, args: compiled(addr, args)
        return typed

    for kind, py in (("sgemm", c_sgemm), ("dgemm", c_dgemm), ("vml", c_vml),
                     ("yield", c_yield), ("usleep", c_usleep), ("clock", c_clock)):
        overload(py)(implementation(caller(kind)))
    _STATE["registered"] = True


def addresses(*fns):
    """An int64 array of the addresses of the ctypes functions ``fns`` (0 for None)."""
    return np.array([address(f) for f in fns], np.int64)
