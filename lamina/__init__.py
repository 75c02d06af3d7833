"""lamina: a small deep-learning framework on NumPy (CPU) and CuPy (GPU).

Tensors record the ops applied to them; ``loss.backward()`` and ``lamina.grad(f)``
compute gradients.  ``from lamina import keras`` gives a Keras-compatible API.
"""
from __future__ import annotations

__version__ = "0.1.0"

import numpy as _np

from . import allocator
allocator.tune()        # reuse freed memory across training steps (see lamina.allocator)
from . import backend
from .backend import Device, device, default_dtype, set_default_dtype, default_device, set_default_device
from .tensor import Tensor
from .autograd import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled, grad,
                       value_and_grad, vjp, jacobian, hessian, gradients, Function,
                       custom_gradient, GradientTape)
from . import ops
from .ops import OPS
from .ops.elementwise import (add, subtract, multiply, divide, true_divide, floor_divide, mod,
                              power, negative, reciprocal, exp, log, log1p, expm1, sqrt, rsqrt,
                              square, abs, sign, sin, cos, tanh, sigmoid, relu, relu6,
                              leaky_relu, elu, selu, gelu, softplus, softsign, silu, swish,
                              hard_sigmoid, hard_silu, maximum, minimum, clip, where, erf, floor,
                              ceil, round, isnan, isinf, isfinite, equal, not_equal, less,
                              less_equal, greater, greater_equal, logical_and, logical_or,
                              logical_not, logical_xor, cast, arcsin, arccos, arctan, arcsinh,
                              arccosh, arctanh, arctan2, cbrt, exp2, erfc, erfinv, hypot, fmod)
from .ops.reduction import (sum, mean, prod, max, min, var, std, norm, logsumexp, argmax,
                            argmin, all, any, cumsum, cumprod)
from .ops.shape import (reshape, flatten, transpose, permute, swapaxes, moveaxis, squeeze,
                        expand_dims, unsqueeze, broadcast_to, concatenate, concat, stack, split,
                        tile, repeat, pad, flip, roll)
from .ops.linalg import matmul, dot, outer, einsum, inv, det, solve, cholesky
from .ops.indexing import take, gather, take_along_axis, one_hot, embedding, masked_fill
from .ops.nn import softmax, log_softmax
from .creation import (tensor, asarray, from_numpy, zeros, ones, full, empty, zeros_like,
                       ones_like, full_like, arange, linspace, eye, rand, randn, randint)
from . import random, testing, cuda, autograd

float16 = _np.dtype("float16")
float32 = _np.dtype("float32")
float64 = _np.dtype("float64")
int32 = _np.dtype("int32")
int64 = _np.dtype("int64")
bool_ = _np.dtype("bool")
pi = _np.pi
e = _np.e
inf = _np.inf
nan = _np.nan


def __getattr__(name):
    # heavy subpackages load on first use so that `import lamina` stays fast
    import importlib
    if name in ("nn", "keras", "io", "data", "datasets", "distributed"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")
