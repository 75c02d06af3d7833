"""Elementwise ops: arithmetic, activations, comparisons, casts.

Each op computes on raw arrays with its input's array module and, when a graph
is being recorded, attaches a backward function ``back(g, out)`` written with
lamina ops, so the gradient can itself be differentiated.  Backward functions
live at module level (no closures) where they need nothing but ``out`` and the
parents: this keeps nodes small and avoids reference cycles.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import backend
from . import cuda_kernels as _cuda_kernels
from . import threads as _threads
from .base import (OPS, GradMode, Tensor, as_tensor, as_tensor_on, binary_operands, check_device,
                   float_dtype, needs_grad, record, register, unbroadcast,
                   unbroadcast_array, wrap, xp_of)


def _float_in(x):
    """``x`` as a tensor with a float dtype (ints become the default float)."""
    x = as_tensor(x)
    if x.data.dtype.kind not in "fc":
        x = cast(x, backend.default_dtype())
    return x


def _const(arr):
    return wrap(arr)


def _shape_error(op, a, b):
    raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast together") from None


def _binary(name, fwd, back, doc, aliases=(), public=True):
    """Define a broadcasting two-operand op from its forward on arrays, ``fwd(a, b)`` (an
    operator, or a ufunc looked up on the operands' array module when given by name), and
    its backward (None: not differentiable); ``public`` ops go in the op table.
    (multiply and divide spell this body out: they are the hottest ops and take no extra
    call layer for their scalar and integer special cases.)"""
    if isinstance(fwd, str):
        ufunc, np_ufunc = fwd, getattr(np, fwd)

        def fwd(da, db):
            if type(da) is np.ndarray:
                return np_ufunc(da, db)
            return getattr(backend.get_xp(da), ufunc)(da, db)

    def op(a, b):
        a, b = binary_operands(a, b, name)
        try:
            y = fwd(a.data, b.data)
        except ValueError:
            _shape_error(name, a, b)
        if GradMode.enabled and (a.requires_grad or b.requires_grad) and back is not None:
            return record(y, (a, b), back, name)
        return wrap(y)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    for n in ((name,) + aliases if public else ()):
        OPS[n] = op
    return op


# ------------------------------------------------------------------ casts
@register("cast", "astype")
def cast(x, dtype):
    """``x`` converted to ``dtype``; the gradient is converted back."""
    x = as_tensor(x)
    dt = backend.as_dtype(dtype)
    if x.data.dtype == dt:
        return x
    y = x.data.astype(dt)
    # bfloat16 (from ml_dtypes) has NumPy kind "V"; it is a float type all the same
    if (dt.kind in "fc" or dt.name == "bfloat16") and needs_grad(x):
        src = x.data.dtype
        return record(y, (x,), lambda g, out: (cast(g, src),), "cast")
    return wrap(y)


def to_device(x, dev):
    """``x`` copied to device ``dev``; the gradient is copied back."""
    dev = backend.Device(dev)
    if x.device == dev:
        return x
    y = backend.to_device(x.data, dev)
    if GradMode.enabled and x.requires_grad:
        src = x.device
        return record(y, (x,), lambda g, out: (to_device(g, src),), "to_device")
    return wrap(y)


# ------------------------------------------------------------- arithmetic
def _add_back(g, out):
    a, b = out._parents
    if not GradMode.enabled:         # first order only: stay on raw arrays (hot path)
        gd = g.data
        return (wrap(unbroadcast_array(gd, a.data.shape)) if a.requires_grad else None,
                wrap(unbroadcast_array(gd, b.data.shape)) if b.requires_grad else None)
    return (unbroadcast(g, a.data.shape) if a.requires_grad else None,
            unbroadcast(g, b.data.shape) if b.requires_grad else None)


add = _binary("add", operator.add, _add_back, "a + b with broadcasting.")


def _sub_back(g, out):
    a, b = out._parents
    if not GradMode.enabled:
        gd = g.data
        return (wrap(unbroadcast_array(gd, a.data.shape)) if a.requires_grad else None,
                wrap(unbroadcast_array(-gd, b.data.shape)) if b.requires_grad else None)
    return (unbroadcast(g, a.data.shape) if a.requires_grad else None,
            unbroadcast(negative(g), b.data.shape) if b.requires_grad else None)


subtract = _binary("subtract", operator.sub, _sub_back, "a - b with broadcasting.")


def _mul_back(g, out):
    a, b = out._parents
    if not GradMode.enabled:
        gd = g.data
        return (wrap(unbroadcast_array(gd * b.data, a.data.shape)) if a.requires_grad else None,
                wrap(unbroadcast_array(gd * a.data, b.data.shape)) if b.requires_grad else None)
    return (unbroadcast(g * b, a.data.shape) if a.requires_grad else None,
            unbroadcast(g * a, b.data.shape) if b.requires_grad else None)


def _times_number(t, c):
    """``t * c`` for a tensor ``t`` and a Python number ``c`` (scaling, learning rates) with
    no tensor made for the number, or None when ``t`` is not a float tensor."""
    d = t.data
    if d.dtype.kind != "f":
        return None
    if GradMode.enabled and t.requires_grad:
        return _scale(t, c)
    # a Python float is a weak scalar to NumPy: float32 stays float32 without making a
    # NumPy scalar first
    return wrap(d * c if type(d) is np.ndarray and type(c) is float else d * d.dtype.type(c))


@register()
def multiply(a, b):
    """a * b with broadcasting."""
    if type(b) is float or type(b) is int:
        if isinstance(a, Tensor):
            y = _times_number(a, b)
            if y is not None:
                return y
    elif (type(a) is float or type(a) is int) and isinstance(b, Tensor):
        y = _times_number(b, a)
        if y is not None:
            return y
    a, b = binary_operands(a, b, "multiply")
    try:
        y = a.data * b.data
    except ValueError:
        _shape_error("multiply", a, b)
    if GradMode.enabled and (a.requires_grad or b.requires_grad):
        return record(y, (a, b), _mul_back, "multiply")
    return wrap(y)


def _rmultiply(self, other):
    """``other * self``, Python's reflected ``*`` on a tensor: a Python float times a float
    tensor outside a recorded graph (``lr * p.grad`` in an update) is one NumPy multiply."""
    if type(other) is float:
        d = self.data
        if type(d) is np.ndarray and d.dtype.kind == "f" and \
                not (GradMode.enabled and self.requires_grad):
            return wrap(d * other)      # a weak Python scalar: the dtype stays
    return multiply(other, self)


def _scale(x, c):
    d = x.data
    c = d.dtype.type(c)         # a NumPy scalar of x's dtype: float32 stays float32
    y = d * c
    if GradMode.enabled and x.requires_grad:
        return record(y, (x,), lambda g, out: (wrap(g.data * c) if not GradMode.enabled
                                               else g * float(c),), "multiply")
    return wrap(y)


def _div_back(g, out):
    a, b = out._parents
    if not GradMode.enabled:
        gad = g.data / b.data
        return (wrap(unbroadcast_array(gad, a.data.shape)) if a.requires_grad else None,
                wrap(unbroadcast_array(-gad * out.data, b.data.shape)) if b.requires_grad
                else None)
    ga = g / b
    return (unbroadcast(ga, a.data.shape) if a.requires_grad else None,
            unbroadcast(negative(ga * out), b.data.shape) if b.requires_grad else None)


@register("divide", "true_divide")
def divide(a, b):
    """a / b with broadcasting (true division; integer inputs give floats)."""
    a, b = binary_operands(a, b, "divide")
    if a.data.dtype.kind not in "fc":
        a, b = _float_in(a), _float_in(b)
    try:
        y = a.data / b.data
    except ValueError:
        _shape_error("divide", a, b)
    if GradMode.enabled and (a.requires_grad or b.requires_grad):
        return record(y, (a, b), _div_back, "divide")
    return wrap(y)


floor_divide = _binary("floor_divide", operator.floordiv, None,
                       "floor(a / b); not differentiable (its gradient is zero almost "
                       "everywhere).")


def _mod_back(g, out):
    a, b = out._parents
    return (unbroadcast(g, a.data.shape) if a.requires_grad else None,
            unbroadcast(negative(g * floor_divide(a, b)), b.data.shape) if b.requires_grad else None)


# ``%`` on arrays is the mod (remainder) ufunc of their module
mod = _binary("mod", operator.mod, _mod_back,
              "a mod b with the sign of b (Python's and NumPy's convention).", ("remainder",))


def _pow_back(g, out):
    a, b = out._parents
    ga = gb = None
    if a.requires_grad:
        ga = unbroadcast(g * b * power(a, b - 1), a.data.shape)
    if b.requires_grad:
        xp = xp_of(a)
        safe = where(_const(a.data > 0), a, _const(xp.ones_like(a.data)))
        gb = unbroadcast(g * out * log(safe), b.data.shape)
    return ga, gb


@register("power", "pow")
def power(a, b):
    """a ** b.  With a Python-number exponent only ``a`` is differentiated."""
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        if b == 2:
            return square(a)
        if a.data.dtype.kind not in "fc" and (isinstance(b, float) or b < 0):
            a = _float_in(a)
        y = a.data ** (b if a.data.dtype.kind not in "fc" else a.data.dtype.type(b))
        if needs_grad(a):
            return record(y, (a,), lambda g, out, p=b: (g * (p * power(a, p - 1)),), "power")
        return wrap(y)
    return _power_operands(a, b)


_power_operands = _binary("power", operator.pow, _pow_back, "a ** b, both differentiated.",
                          public=False)


def _neg_back(g, out):
    if not GradMode.enabled:
        return (wrap(-g.data),)
    return (negative(g),)


@register("negative", "neg")
def negative(x):
    """-x."""
    x = as_tensor(x)
    y = -x.data
    if GradMode.enabled and x.requires_grad:
        return record(y, (x,), _neg_back, "negative")
    return wrap(y)


def _reciprocal_back(g, out):
    return (negative(g * out * out),)


@register()
def reciprocal(x):
    """1 / x."""
    x = _float_in(x)
    y = 1 / x.data
    if GradMode.enabled and x.requires_grad:
        return record(y, (x,), _reciprocal_back, "reciprocal")
    return wrap(y)


# -------------------------------------------------------------- unary math
def _unary(name, fwd, back, raw=None):
    """Define a float unary op from its forward on arrays and its backward (lamina ops).
    ``raw(g, x, y)``, on arrays, is the same VJP used when no graph of the backward is
    being recorded (the first-order hot path)."""
    if raw is not None:
        recorded = back

        def back(g, out):
            if not GradMode.enabled:
                return (wrap(raw(g.data, out._parents[0].data, out.data)),)
            return recorded(g, out)

    def op(x):
        x = _float_in(x)
        y = fwd(xp_of(x), x.data)
        if GradMode.enabled and x.requires_grad:
            return record(y, (x,), back, name)
        return wrap(y)
    op.__name__ = op.__qualname__ = name
    OPS[name] = op
    return op


exp = _unary("exp", lambda xp, a: xp.exp(a), lambda g, out: (g * out,),
            lambda g, x, y: g * y)
exp.__doc__ = "e ** x."
log = _unary("log", lambda xp, a: xp.log(a), lambda g, out: (g / out._parents[0],),
            lambda g, x, y: g / x)
log.__doc__ = "Natural logarithm."
log1p = _unary("log1p", lambda xp, a: xp.log1p(a), lambda g, out: (g / (out._parents[0] + 1),))
log1p.__doc__ = "log(1 + x), accurate for small x."
expm1 = _unary("expm1", lambda xp, a: xp.expm1(a), lambda g, out: (g * (out + 1),))
expm1.__doc__ = "exp(x) - 1, accurate for small x."
sqrt = _unary("sqrt", lambda xp, a: xp.sqrt(a), lambda g, out: (g / (out * 2),),
             lambda g, x, y: g / (y * 2))
sqrt.__doc__ = "Square root."
rsqrt = _unary("rsqrt", lambda xp, a: 1 / xp.sqrt(a),
               lambda g, out: (g * out * out * out * -0.5,))
rsqrt.__doc__ = "1 / sqrt(x)."
sin = _unary("sin", lambda xp, a: xp.sin(a), lambda g, out: (g * cos(out._parents[0]),))
sin.__doc__ = "Sine."
cos = _unary("cos", lambda xp, a: xp.cos(a), lambda g, out: (negative(g * sin(out._parents[0])),))
cos.__doc__ = "Cosine."
tanh = _unary("tanh", lambda xp, a: xp.tanh(a), lambda g, out: (g * (1 - out * out),),
             lambda g, x, y: g * (1 - y * y))
tanh.__doc__ = "Hyperbolic tangent."


def _square_back(g, out):
    x = out._parents[0]
    return (g * x * 2,)


@register()
def square(x):
    """x ** 2."""
    x = as_tensor(x)
    y = x.data * x.data
    if GradMode.enabled and x.requires_grad:
        return record(y, (x,), _square_back, "square")
    return wrap(y)


def _abs_back(g, out):
    return (g * sign(out._parents[0]),)


@register("abs", "absolute")
def abs(x):  # noqa: A001 - the public name is abs, as in NumPy
    """|x|; the gradient at 0 is 0 (as in PyTorch)."""
    x = as_tensor(x)
    y = xp_of(x).abs(x.data)
    if GradMode.enabled and x.requires_grad:
        return record(y, (x,), _abs_back, "abs")
    return wrap(y)


def _zero_grad_op(name, fn, doc):
    def op(x):
        x = as_tensor(x)
        return wrap(fn(xp_of(x), x.data))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc + " Not differentiable: no gradient flows through it."
    OPS[name] = op
    return op


sign = _zero_grad_op("sign", lambda xp, a: xp.sign(a), "Sign of x (-1, 0 or 1).")
floor = _zero_grad_op("floor", lambda xp, a: xp.floor(a), "Round down.")
ceil = _zero_grad_op("ceil", lambda xp, a: xp.ceil(a), "Round up.")
round = _zero_grad_op("round", lambda xp, a: xp.round(a), "Round half to even.")  # noqa: A001
isnan = _zero_grad_op("isnan", lambda xp, a: xp.isnan(a), "Elementwise NaN test.")
isinf = _zero_grad_op("isinf", lambda xp, a: xp.isinf(a), "Elementwise infinity test.")
isfinite = _zero_grad_op("isfinite", lambda xp, a: xp.isfinite(a), "Elementwise finiteness test.")
logical_not = _zero_grad_op("logical_not", lambda xp, a: xp.logical_not(a), "Elementwise not.")


def _special(name, scalar_fn):
    """The array function of SciPy's (CuPy's on a GPU) special function ``name``, falling
    back to the standard library's ``scalar_fn`` per element where SciPy is absent."""
    def f(xp, a):
        if xp is not np:
            import cupyx.scipy.special as sp
            return getattr(sp, name)(a)
        try:
            import scipy.special as sp
        except ImportError:
            # frompyfunc gives a bare Python float for 0-d input: make it an array again
            return np.asarray(np.frompyfunc(scalar_fn, 1, 1)(a), dtype=a.dtype)
        return getattr(sp, name)(a).astype(a.dtype, copy=False)
    return f


_erf_array = _special("erf", math.erf)


erf = _unary("erf", _erf_array,
             lambda g, out: (g * exp(negative(square(out._parents[0]))) * (2 / math.sqrt(math.pi)),))
erf.__doc__ = ("The error function (SciPy's when installed, else Python's math.erf per element; "
               "CuPy's on the GPU).")


# ------------------------------------------------------------ activations
def _sigmoid_array(xp, a):
    if xp is not np:        # on a GPU the six calls below as one kernel launch
        k = _cuda_kernels.elementwise("sigmoid", xp, a.dtype)
        if k is not None:
            return k(a)
    # exp(-|x|) never overflows; both branches are then exact
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def _sigmoid_grad_array(g, x, y):
    if type(y) is not np.ndarray and g.dtype == y.dtype:
        k = _cuda_kernels.elementwise("sigmoid_grad", backend.get_xp(y), y.dtype)
        if k is not None:
            return k(g, y)
    return g * y * (1 - y)


sigmoid = _unary("sigmoid", _sigmoid_array, lambda g, out: (g * out * (1 - out),),
                 _sigmoid_grad_array)
sigmoid.__doc__ = "1 / (1 + exp(-x)), without overflow for large |x|."


def relu_grad_array(g, y):
    """``g * (y > 0)`` as a fresh array: the gradient through a relu whose input (or output)
    is ``y``.  For small NumPy arrays the mask is made float first and multiplied in place:
    NumPy's float-times-bool loop casts through a buffer and costs twice as much (measured
    2.5 vs 1.2 us at 32x128); on large arrays the single mixed pass is cheaper."""
    if type(g) is np.ndarray and 0 < g.ndim and g.size <= 65536 and g.dtype == y.dtype:
        m = (y > 0).astype(g.dtype)
        np.multiply(g, m, out=m)
        return m
    if type(g) is np.ndarray and type(y) is np.ndarray and g.shape == y.shape and \
            g.size >= 2 * _threads.MIN_PART_ELEMENTS and g.flags.c_contiguous and \
            y.flags.c_contiguous:
        # large: parts on lamina's threads (a Transformer FFN's (2048, 512) takes 0.85 ms)
        out = np.empty(g.shape, np.result_type(g.dtype, y.dtype))
        gf, yf, of = g.reshape(-1), y.reshape(-1), out.reshape(-1)
        _threads.for_rows(lambda i, j: np.multiply(gf[i:j], yf[i:j] > 0, out=of[i:j]),
                          g.size, 1)
        return out
    return g * (y > 0)


def _relu_back(g, out):
    x = out._parents[0]
    if not GradMode.enabled:
        return (wrap(relu_grad_array(g.data, x.data)),)
    return (g * _const((x.data > 0).astype(x.data.dtype)),)


@register()
def relu(x):
    """max(x, 0); gradient 0 at 0."""
    if not (isinstance(x, Tensor) and x.data.dtype.kind == "f"):
        x = _float_in(x)
    d = x.data
    y = np.maximum(d, 0) if type(d) is np.ndarray else xp_of(x).maximum(d, 0)
    if GradMode.enabled and x.requires_grad:
        return record(y, (x,), _relu_back, "relu")
    return wrap(y)


@register()
def relu6(x):
    """min(max(x, 0), 6)."""
    return clip(x, 0, 6)


@register()
def leaky_relu(x, negative_slope=0.2):
    """x where x > 0, else negative_slope * x (Keras's default slope 0.2)."""
    x = _float_in(x)
    xp = xp_of(x)
    slope = x.data.dtype.type(negative_slope)     # a NumPy scalar: CuPy accepts it too
    y = xp.where(x.data > 0, x.data, x.data * slope)
    if GradMode.enabled and x.requires_grad:
        def back(g, out):
            d = out._parents[0].data
            return (g * _const(xp.where(d > 0, 1, slope).astype(d.dtype)),)
        return record(y, (x,), back, "leaky_relu")
    return wrap(y)


@register()
def elu(x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    x = _float_in(x)
    xp = xp_of(x)
    d = x.data
    y = xp.where(d > 0, d, alpha * xp.expm1(xp.minimum(d, 0))).astype(d.dtype, copy=False)
    if GradMode.enabled and x.requires_grad:
        def back(g, out):
            xx = out._parents[0]
            pos = _const(xx.data > 0)
            return (where(pos, g, g * (out + alpha)),)
        return record(y, (x,), back, "elu")
    return wrap(y)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@register()
def selu(x):
    """scale * elu(x, alpha) with the self-normalizing constants of Klambauer et al."""
    return elu(x, _SELU_ALPHA) * _SELU_SCALE


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


@register()
def gelu(x, approximate=False):
    """x * Phi(x) (exact, via erf) or its tanh approximation when ``approximate``."""
    x = _float_in(x)
    xp = xp_of(x)
    d = x.data
    if approximate:
        inner = _SQRT_2_OVER_PI * (d + 0.044715 * d ** 3)
        y = (0.5 * d * (1 + xp.tanh(inner))).astype(d.dtype, copy=False)

        def back(g, out):
            xx = out._parents[0]
            t = tanh((xx + xx * xx * xx * 0.044715) * _SQRT_2_OVER_PI)
            dt = (1 - t * t) * ((xx * xx * (3 * 0.044715) + 1) * _SQRT_2_OVER_PI)
            return (g * ((t + 1) * 0.5 + xx * dt * 0.5),)
    else:
        fused = None if xp is np else _cuda_kernels.elementwise("gelu", xp, d.dtype)
        if fused is not None:       # on a GPU: one kernel launch instead of six
            y = fused(d)
        else:
            y = (0.5 * d * (1 + _erf_array(xp, d / math.sqrt(2)))).astype(d.dtype, copy=False)

        def back(g, out):
            xx = out._parents[0]
            if fused is not None and not GradMode.enabled and g.data.dtype == d.dtype:
                grad = _cuda_kernels.elementwise("gelu_grad", xp, d.dtype)
                if grad is not None:
                    return (wrap(grad(g.data, xx.data)),)
            cdf = (erf(xx * (1 / math.sqrt(2))) + 1) * 0.5
            pdf = exp(square(xx) * -0.5) * _INV_SQRT_2PI
            return (g * (cdf + xx * pdf),)
    if GradMode.enabled and x.requires_grad:
        return record(y, (x,), back, "gelu")
    return wrap(y)


def _softplus_array(xp, a):
    return (xp.log1p(xp.exp(-xp.abs(a))) + xp.maximum(a, 0)).astype(a.dtype, copy=False)


softplus = _unary("softplus", _softplus_array, lambda g, out: (g * sigmoid(out._parents[0]),))
softplus.__doc__ = "log(1 + exp(x)), without overflow for large |x|."


@register()
def softsign(x):
    """x / (1 + |x|)."""
    x = _float_in(x)
    return x / (abs(x) + 1)


@register("silu", "swish")
def silu(x):
    """x * sigmoid(x) (also called swish)."""
    x = _float_in(x)
    xp = xp_of(x)
    s = _sigmoid_array(xp, x.data)
    y = x.data * s
    if GradMode.enabled and x.requires_grad:
        def back(g, out):
            xx = out._parents[0]
            sg = sigmoid(xx)
            return (g * (sg * (xx * (1 - sg) + 1)),)
        return record(y, (x,), back, "silu")
    return wrap(y)


swish = silu


@register()
def hard_sigmoid(x):
    """relu6(x + 3) / 6, Keras 3's piecewise-linear sigmoid."""
    return clip(_float_in(x) / 6 + 0.5, 0.0, 1.0)


@register()
def hard_silu(x):
    """x * hard_sigmoid(x)."""
    return x * hard_sigmoid(x)


# --------------------------------------------------------- two-argument
def _minmax_back(g, out):
    a, b = out._parents
    win = a.data > b.data if out._op == "maximum" else a.data < b.data
    tie = a.data == b.data
    dt = g.data.dtype
    wa = _const((win + 0.5 * tie).astype(dt))
    wb = _const(((~win & ~tie) + 0.5 * tie).astype(dt))
    return (unbroadcast(g * wa, a.data.shape) if a.requires_grad else None,
            unbroadcast(g * wb, b.data.shape) if b.requires_grad else None)


maximum = _binary("maximum", "maximum", _minmax_back,
                  "Elementwise max; at ties the gradient is split equally (as PyTorch does).")
minimum = _binary("minimum", "minimum", _minmax_back,
                  "Elementwise min; at ties the gradient is split equally (as PyTorch does).")


def _clip_bound(v, x, xp, name):
    """A bound of :func:`clip` as a number or an array on ``x``'s device (raw arrays follow
    it, as constants; a tensor elsewhere is an error)."""
    if v is None or isinstance(v, (int, float, np.generic)):
        return v
    if isinstance(v, Tensor):
        check_device("clip", name, v, "x", x)
        return v.data
    return xp.asarray(v)


@register("clip", "clamp")
def clip(x, min=None, max=None):  # noqa: A002 - NumPy/PyTorch argument names
    """x limited to [min, max]; the gradient flows where min <= x <= max."""
    x = as_tensor(x)
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    xp = xp_of(x)
    # numbers as they are; arrays on x's device
    lo = min if min is None or type(min) is float or type(min) is int else \
        _clip_bound(min, x, xp, "min")
    hi = max if max is None or type(max) is float or type(max) is int else \
        _clip_bound(max, x, xp, "max")
    d = x.data
    y = d
    if lo is not None:
        y = xp.maximum(y, xp.asarray(lo, dtype=d.dtype))
    if hi is not None:
        y = xp.minimum(y, xp.asarray(hi, dtype=d.dtype))
    if GradMode.enabled and x.requires_grad:
        def back(g, out):
            dd = out._parents[0].data
            keep = xp.ones(dd.shape, dtype=bool)
            if lo is not None:
                keep &= dd >= lo
            if hi is not None:
                keep &= dd <= hi
            return (g * _const(keep.astype(dd.dtype)),)
        return record(y, (x,), back, "clip")
    return wrap(y)


def _where_back(g, out):
    c, a, b = out._parents
    zero = zeros_like_tensor(g)
    return (None,
            unbroadcast(where(c, g, zero), a.data.shape) if a.requires_grad else None,
            unbroadcast(where(c, zero, g), b.data.shape) if b.requires_grad else None)


def zeros_like_tensor(t):
    return wrap(xp_of(t).zeros_like(t.data))


@register()
def where(condition, a, b):
    """Elementwise choice: a where ``condition`` is true, else b (all broadcast)."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor) and \
            isinstance(condition, Tensor):
        a = as_tensor_on(a, condition)      # constants on both sides: the condition's device
    a, b = binary_operands(a, b, "where")
    # a raw condition is a constant: it follows the values' device; a tensor never moves
    cond = condition if isinstance(condition, Tensor) else as_tensor_on(condition, a)
    if cond.data.dtype != np.bool_:
        cond = wrap(cond.data.astype(bool))
    check_device("where", "condition", cond, "values", a)
    try:
        y = xp_of(a).where(cond.data, a.data, b.data)
    except ValueError:
        raise ValueError(f"where: shapes {cond.shape}, {a.shape} and {b.shape} do not "
                         "broadcast together") from None
    if GradMode.enabled and (a.requires_grad or b.requires_grad):
        return record(y, (cond, a, b), _where_back, "where")
    return wrap(y)


# ------------------------------------------------------------ comparisons
def _compare(name, ufunc):
    return _binary(name, ufunc, None, f"Elementwise {ufunc} as a boolean tensor (no gradient).")


equal = _compare("equal", "equal")
not_equal = _compare("not_equal", "not_equal")
less = _compare("less", "less")
less_equal = _compare("less_equal", "less_equal")
greater = _compare("greater", "greater")
greater_equal = _compare("greater_equal", "greater_equal")
logical_and = _compare("logical_and", "logical_and")
logical_or = _compare("logical_or", "logical_or")
logical_xor = _compare("logical_xor", "logical_xor")

true_divide = divide
absolute = abs


# ------------------------------------------------- inverse trig, roots, special functions
arcsin = _unary("arcsin", lambda xp, a: xp.arcsin(a),
                lambda g, out: (g * rsqrt(1 - square(out._parents[0])),))
arcsin.__doc__ = "Inverse sine (x in [-1, 1]); same shape as x."
arccos = _unary("arccos", lambda xp, a: xp.arccos(a),
                lambda g, out: (negative(g * rsqrt(1 - square(out._parents[0]))),))
arccos.__doc__ = "Inverse cosine (x in [-1, 1]); same shape as x."
arctan = _unary("arctan", lambda xp, a: xp.arctan(a),
                lambda g, out: (g / (square(out._parents[0]) + 1),))
arctan.__doc__ = "Inverse tangent; same shape as x."
arcsinh = _unary("arcsinh", lambda xp, a: xp.arcsinh(a),
                 lambda g, out: (g * rsqrt(square(out._parents[0]) + 1),))
arcsinh.__doc__ = "Inverse hyperbolic sine; same shape as x."
arccosh = _unary("arccosh", lambda xp, a: xp.arccosh(a),
                 lambda g, out: (g * rsqrt(square(out._parents[0]) - 1),))
arccosh.__doc__ = "Inverse hyperbolic cosine (x >= 1); same shape as x."
arctanh = _unary("arctanh", lambda xp, a: xp.arctanh(a),
                 lambda g, out: (g / (1 - square(out._parents[0])),))
arctanh.__doc__ = "Inverse hyperbolic tangent (|x| < 1); same shape as x."
cbrt = _unary("cbrt", lambda xp, a: xp.cbrt(a), lambda g, out: (g / (square(out) * 3),))
cbrt.__doc__ = "Real cube root (negative for negative x); same shape as x."
exp2 = _unary("exp2", lambda xp, a: xp.exp2(a), lambda g, out: (g * out * math.log(2.0),))
exp2.__doc__ = "2 ** x; same shape as x."


_erfc_array = _special("erfc", math.erfc)


erfc = _unary("erfc", _erfc_array,
              lambda g, out: (g * exp(negative(square(out._parents[0]))) * (-2 / math.sqrt(math.pi)),))
erfc.__doc__ = "Complementary error function 1 - erf(x), accurate for large x; same shape."


def _erfinv_array(xp, a):
    if xp is np:
        try:
            from scipy.special import erfinv as _erfinv
            return _erfinv(a).astype(a.dtype, copy=False)
        except ImportError:
            pass
    else:
        from cupyx.scipy.special import erfinv as _erfinv
        return _erfinv(a)
    # no SciPy: a rational first guess refined by Newton steps on erf
    # Winitzki's approximation, with L = ln(1 - a^2) <= 0:
    # erfinv(a) ~ sign(a) sqrt(sqrt(c^2 - L / k) - c), c = 2 / (pi k) + L / 2, k = 0.147
    L = np.log((1.0 - a.astype(np.float64)) * (1.0 + a))
    c = 2 / (math.pi * 0.147) + L / 2
    # rounding can leave the radicand a hair below 0 near a = 0, where the guess is 0
    y = np.sign(a) * np.sqrt(np.maximum(np.sqrt(c * c - L / 0.147) - c, 0.0))
    for _ in range(3):
        y = y - (_erf_array(np, y) - a) / (2 / math.sqrt(math.pi) * np.exp(-y * y))
    return y.astype(a.dtype)


erfinv = _unary("erfinv", _erfinv_array,
                lambda g, out: (g * exp(square(out)) * (math.sqrt(math.pi) / 2),))
erfinv.__doc__ = "Inverse error function (x in (-1, 1)); same shape as x."


def _arctan2_back(g, out):
    a, b = out._parents
    r2 = square(a) + square(b)
    return (unbroadcast(g * b / r2, a.data.shape) if a.requires_grad else None,
            unbroadcast(negative(g * a / r2), b.data.shape) if b.requires_grad else None)


def _float_binary(name, ufunc, back, doc):
    """A broadcasting float op (int operands become the default float)."""
    inner = _binary(name, ufunc, back, doc, public=False)

    def op(a, b):
        a, b = binary_operands(a, b, name)
        if a.data.dtype.kind not in "fc":
            a = cast(a, float_dtype(b.data.dtype))
        if b.data.dtype.kind not in "fc":
            b = cast(b, a.data.dtype)
        return inner(a, b)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    OPS[name] = op
    return op


arctan2 = _float_binary("arctan2", "arctan2", _arctan2_back,
                        "Angle of the point (x2, x1) in radians, in [-pi, pi]; broadcast shape.")


def _hypot_back(g, out):
    a, b = out._parents
    return (unbroadcast(g * a / out, a.data.shape) if a.requires_grad else None,
            unbroadcast(g * b / out, b.data.shape) if b.requires_grad else None)


hypot = _float_binary("hypot", "hypot", _hypot_back,
                      "sqrt(x1**2 + x2**2) without overflow; broadcast shape.")


def _fmod_back(g, out):
    a, b = out._parents
    q = wrap(xp_of(a).trunc(a.data / b.data))
    return (unbroadcast(g, a.data.shape) if a.requires_grad else None,
            unbroadcast(negative(g * q), b.data.shape) if b.requires_grad else None)


fmod = _binary("fmod", "fmod", _fmod_back,
               "C's remainder: a - trunc(a / b) * b, with the sign of a; broadcast shape.")
