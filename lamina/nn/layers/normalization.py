"""BatchNormalization and LayerNormalization, on one fused normalize-scale-shift op.

``normalize_affine(x, gamma, beta, axes, eps)`` computes
``(x - mean) / sqrt(var + eps) * gamma + beta`` with the statistics over ``axes`` in
one graph node; its backward is written on raw arrays (the classic formula
dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))).  When the backward
itself is recorded (create_graph=True), it is recomputed through core ops instead, so
second derivatives stay exact.
"""
from __future__ import annotations

import numpy as np

from ... import backend
from ...autograd import GradMode
from ...ops.base import check_device, needs_grad, record, wrap, xp_of
from ...ops import cuda_kernels as _cuda_kernels
from ...ops import kernels as _kernels
from ...ops import elementwise as _E
from .base import InputSpec, Layer
from .core import _add_weight_of, _ser, _weight_args, _weight_config


def _sum_to(xp, g, shape):
    """Sum ``g`` over the axes where ``shape`` (same rank) has size 1."""
    axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def normalize_affine(x, gamma, beta, axes, eps):
    """Normalize ``x`` over ``axes`` (tuple of ints), then scale by ``gamma`` and shift by
    ``beta`` (arrays broadcastable to x, same rank, or None).  Returns ``(y, mean, var)``;
    mean/var are raw arrays with kept dims (biased variance)."""
    xp = xp_of(x)
    d = x.data
    # the raw-array math below would fail inside CuPy with a less helpful message
    if gamma is not None:
        check_device("normalize_affine", "gamma", gamma, "input", x)
    if beta is not None:
        check_device("normalize_affine", "beta", beta, "input", x)
    if len(axes) == 1 and axes[0] == d.ndim - 1 and d.ndim >= 2 and \
            (gamma is None or gamma.data.size == d.shape[-1]) and \
            (beta is None or beta.data.size == d.shape[-1]):
        return _last_axis_norm(x, gamma, beta, eps, xp)
    # in-place steps where the temporaries are ours: fewer passes over memory
    mean = d.mean(axis=axes, keepdims=True)
    xhat = d - mean
    sq = xp.square(xhat)
    var = sq.mean(axis=axes, keepdims=True)
    inv = 1.0 / xp.sqrt(var + d.dtype.type(eps))
    xhat *= inv
    if gamma is not None:
        y = xp.multiply(xhat, gamma.data, out=sq)
        if beta is not None:
            y += beta.data
    elif beta is not None:
        y = xp.add(xhat, beta.data, out=sq)
    else:
        y = xhat.copy()
    parents = tuple(t for t in (x, gamma, beta) if t is not None)
    if not needs_grad(*parents):
        return wrap(y), mean, var
    has_g, has_b = gamma is not None, beta is not None
    n = int(np.prod([d.shape[a] for a in axes])) if axes else 1
    inv_n = d.dtype.type(1.0 / n)

    def back(g, out):
        if GradMode.enabled:
            return _composed_grads(g, out._parents, has_g, has_b, axes, eps)
        gd = g.data
        ps = out._parents
        res = []
        gx = None
        gxhat = gd * xhat if (has_g and ps[1].requires_grad) or ps[0].requires_grad else None
        if ps[0].requires_grad:
            dxhat = gd * ps[1].data if has_g else gd.copy()
            m1 = dxhat.sum(axis=axes, keepdims=True)
            m1 *= inv_n
            if has_g:
                # sum(dxhat * xhat) = sum(g * xhat * gamma); gamma is constant over axes
                # only for BatchNorm-like layouts, so compute it directly
                t = xp.multiply(dxhat, xhat)
                m2 = t.sum(axis=axes, keepdims=True)
            else:
                m2 = gxhat.sum(axis=axes, keepdims=True)
                t = None
            m2 *= inv_n
            dxhat -= m1
            t = xp.multiply(xhat, m2, out=t)
            dxhat -= t
            dxhat *= inv
            gx = wrap(dxhat)
        res.append(gx)
        i = 1
        if has_g:
            p = ps[i]
            res.append(wrap(_sum_to(xp, gxhat, p.data.shape).reshape(p.data.shape))
                       if p.requires_grad else None)
            i += 1
        if has_b:
            p = ps[i]
            res.append(wrap(_sum_to(xp, gd, p.data.shape).reshape(p.data.shape))
                       if p.requires_grad else None)
        return tuple(res)
    return record(y, parents, back, "normalize_affine"), mean, var


def _last_axis_norm(x, gamma, beta, eps, xp):
    """normalize_affine over the last axis (LayerNormalization's usual case) on a 2-D
    view: one compiled pass per row where numba is installed (lamina.ops.kernels), one
    kernel on a GPU, else NumPy with the row reductions as matrix-vector products
    (several times faster in BLAS than NumPy's reductions along a short contiguous
    axis)."""
    d = x.data
    shape = d.shape
    D = shape[-1]
    x2 = d.reshape(-1, D)
    dt = d.dtype.type
    gd_ = gamma.data.reshape(D) if gamma is not None else None
    bd_ = beta.data.reshape(D) if beta is not None else None
    same_dtype = all(p is None or p.dtype == d.dtype for p in (gd_, bd_))
    # on a GPU: one kernel for the forward and one for the input gradient, where the
    # calls below would be ~10 and ~8 launches
    rk = None if xp is np else _cuda_kernels.row_kernels(xp, d.dtype)
    nk = _kernels.norm_kernels(d.dtype) if xp is np and D > 0 and same_dtype else None
    if rk is not None and same_dtype:
        y, xhat, mean, var, inv = rk.layer_norm(xp.ascontiguousarray(x2), gd_, bd_, eps)
    elif nk is not None:
        rk = None
        x2 = np.ascontiguousarray(x2)
        # without gamma or beta: ones and zeros (x * 1 + 0 is x exactly)
        gd_ = np.ones(D, d.dtype) if gd_ is None else np.ascontiguousarray(gd_)
        bd_ = np.zeros(D, d.dtype) if bd_ is None else np.ascontiguousarray(bd_)
        y, xhat = np.empty_like(x2), np.empty_like(x2)
        mean, var, inv = stats = np.empty((3, x2.shape[0]), d.dtype)
        nk.layer_norm_forward(x2, gd_, bd_, dt(eps), y, xhat, stats)
    else:
        rk = nk = None
        ones_d = xp.ones(D, dtype=d.dtype)
        mean = (x2 @ ones_d) * dt(1.0 / D)
        xhat = x2 - mean[:, None]
        var = xp.einsum("ij,ij->i", xhat, xhat) * dt(1.0 / D)
        inv = 1.0 / xp.sqrt(var + dt(eps))
        xhat *= inv[:, None]
        if gd_ is not None:
            y = xhat * gd_
            if bd_ is not None:
                y += bd_
        elif bd_ is not None:
            y = xhat + bd_
        else:
            y = xhat.copy()
    y = y.reshape(shape)
    kshape = shape[:-1] + (1,)
    parents = tuple(t for t in (x, gamma, beta) if t is not None)
    if not needs_grad(*parents):
        return wrap(y), mean.reshape(kshape), var.reshape(kshape)
    has_g, has_b = gamma is not None, beta is not None

    def back(g, out):
        if GradMode.enabled:
            return _composed_grads(g, out._parents, has_g, has_b, (len(shape) - 1,), eps)
        g2 = g.data.reshape(-1, D)
        ps = out._parents
        if nk is not None:
            # dx, d gamma and d beta in one pass (each computed whether needed or not)
            g2 = np.ascontiguousarray(g2, dtype=xhat.dtype)
            dx = np.empty_like(g2)
            dgamma, dbeta = np.zeros(D, g2.dtype), np.zeros(D, g2.dtype)
            nk.layer_norm_backward(g2, xhat, gd_, inv, dx, dgamma, dbeta)
            res = [wrap(dx.reshape(shape)) if ps[0].requires_grad else None]
            sums = [s for s, present in ((dgamma, has_g), (dbeta, has_b)) if present]
            for p, s in zip(ps[1:], sums):
                res.append(wrap(s.reshape(p.data.shape)) if p.requires_grad else None)
            return tuple(res)
        res = []
        if ps[0].requires_grad and rk is not None:
            res.append(wrap(rk.layer_norm_grad(xp.ascontiguousarray(g2), xhat, gd_, inv)
                            .reshape(shape)))
        elif ps[0].requires_grad:
            dxhat = g2 * gd_ if has_g else g2.copy()
            m1 = (dxhat @ ones_d) * dt(1.0 / D)
            m2 = xp.einsum("ij,ij->i", dxhat, xhat) * dt(1.0 / D)
            dxhat -= m1[:, None]
            dxhat -= xhat * m2[:, None]
            dxhat *= inv[:, None]
            res.append(wrap(dxhat.reshape(shape)))
        else:
            res.append(None)
        ones_n = None
        i = 1
        for present, is_gamma in ((has_g, True), (has_b, False)):
            if not present:
                continue
            p = ps[i]
            i += 1
            if not p.requires_grad:
                res.append(None)
                continue
            if ones_n is None:
                ones_n = xp.ones(g2.shape[0], dtype=g2.dtype)
            s = xp.einsum("ij,ij->j", g2, xhat) if is_gamma else ones_n @ g2
            res.append(wrap(s.reshape(p.data.shape)))
        return tuple(res)
    return record(y, parents, back, "normalize_affine"), mean.reshape(kshape), \
        var.reshape(kshape)


def _composed_grads(g, parents, has_g, has_b, axes, eps):
    """The same VJP through recorded core ops, for create_graph=True (second order)."""
    from ...autograd import gradients
    from ...ops.reduction import mean as _mean
    x = parents[0]
    xc = x - _mean(x, axis=axes, keepdims=True)
    y = xc * _E.rsqrt(_mean(xc * xc, axis=axes, keepdims=True) + eps)
    i = 1
    if has_g:
        y = y * parents[i]
        i += 1
    if has_b:
        y = y + parents[i]
    want = [p for p in parents if p.requires_grad]
    got = iter(gradients(y, want, grad_outputs=g, create_graph=True))
    return tuple(next(got) if p.requires_grad else None for p in parents)


def _param_view(v, shape):
    """A weight reshaped (on the graph) to broadcast against the input."""
    if v is None:
        return None
    if v.shape == shape:
        return v
    from ...ops.shape import reshape
    return reshape(v, shape)


class _Normalization(Layer):
    """Shared parts of BatchNormalization and LayerNormalization: the normalized axes,
    the (per-feature) ``gamma``/``beta`` weights, the rank check and their config."""

    def _feature_axes(self, input_shape):
        """The sorted non-negative ``axis`` entries (each must have a known size), the
        parameter shape and the shape that broadcasts it against the input."""
        nd = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = sorted(a % nd for a in axes)
        for a in axes:
            if input_shape[a] is None:
                raise ValueError(f"{type(self).__name__} '{self.name}': axis {a} of the input "
                                 f"shape {tuple(input_shape)} must be known")
        pshape = tuple(input_shape[a] for a in axes)
        self._bshape = tuple(input_shape[i] if i in axes else 1 for i in range(nd))
        return axes, pshape

    def _affine_weights(self, pshape, center):
        self.gamma = _add_weight_of(self, "gamma", pshape) if self.scale else None
        self.beta = _add_weight_of(self, "beta", pshape) if center else None

    def _check_rank(self, inputs):
        if len(self._bshape) != inputs.ndim:
            raise ValueError(f"{type(self).__name__} '{self.name}': built for inputs of rank "
                             f"{len(self._bshape)}, got shape {inputs.shape}")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                    "scale": self.scale})
        cfg.update(_weight_config(self, ("beta", "gamma")))
        return cfg


class BatchNormalization(_Normalization):
    """Normalizes each feature (along ``axis``) with batch statistics while training and
    with moving statistics at inference:
    ``moving = moving * momentum + batch * (1 - momentum)``; then scales by ``gamma`` and
    shifts by ``beta``.  A frozen layer (``trainable=False``) always runs in inference
    mode, as in Keras."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        from .. import initializers
        if renorm:
            raise ValueError(f"BatchNormalization '{self.name}': renorm=True is not supported")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.synchronized = synchronized
        _weight_args(self, "beta", beta_initializer, beta_regularizer, beta_constraint)
        _weight_args(self, "gamma", gamma_initializer, gamma_regularizer, gamma_constraint)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        nd = len(input_shape)
        axes, pshape = self._feature_axes(input_shape)
        self._axes = axes
        self._reduce = tuple(i for i in range(nd) if i not in axes)
        self._affine_weights(pshape, self.center)
        self.moving_mean = self.add_weight(name="moving_mean", shape=pshape,
                                           initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=pshape,
                                               initializer=self.moving_variance_initializer,
                                               trainable=False)
        self.input_spec = InputSpec(ndim=nd, axes={a: input_shape[a] for a in axes})
        self.built = True

    def call(self, inputs, training=None, mask=None):
        self._check_rank(inputs)
        bshape = self._bshape
        gamma = _param_view(self.gamma, bshape)
        beta = _param_view(self.beta, bshape)
        if training and self._trainable:
            y, mean, var = normalize_affine(inputs, gamma, beta, self._reduce, self.epsilon)
            m = self.momentum
            mm, mv = self.moving_mean, self.moving_variance
            mdt = mm.data.dtype
            if type(mean) is not type(mm.data):
                # inputs on another device than the statistics (a host gradcheck of a GPU
                # layer): the per-feature batch statistics go to the statistics
                dev = backend.device_of(mm.data)
                mean, var = backend.to_device(mean, dev), backend.to_device(var, dev)
            mm.data *= mdt.type(m)
            mm.data += mean.reshape(mm.shape).astype(mdt) * mdt.type(1.0 - m)
            mv.data *= mdt.type(m)
            mv.data += var.reshape(mv.shape).astype(mdt) * mdt.type(1.0 - m)
            return y
        # inference: one scale and one shift from the moving statistics, computed where
        # they live, then taken to the inputs' device if that differs
        mvd = self.moving_variance.data
        inv = 1.0 / backend.get_xp(mvd).sqrt(mvd.reshape(bshape) + mvd.dtype.type(self.epsilon))
        mm = self.moving_mean.data.reshape(bshape)
        if type(mm) is not type(inputs.data):
            mm, inv = backend.to_device(mm, inputs.device), backend.to_device(inv, inputs.device)
        y = (inputs - wrap(mm)) * wrap(inv.astype(inputs.dtype, copy=False))
        if gamma is not None:
            y = y * gamma
        if beta is not None:
            y = y + beta
        return y

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"momentum": self.momentum,
                    "moving_mean_initializer": _ser("initializers", self.moving_mean_initializer),
                    "moving_variance_initializer": _ser("initializers",
                                                        self.moving_variance_initializer),
                    "synchronized": bool(self.synchronized)})
        return cfg


class LayerNormalization(_Normalization):
    """Normalizes each sample over ``axis`` (default the last), then scales by ``gamma``
    and shifts by ``beta`` (per feature).  ``rms_scaling=True`` divides by the root mean
    square without centering."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = bool(rms_scaling)
        _weight_args(self, "beta", beta_initializer, beta_regularizer, beta_constraint)
        _weight_args(self, "gamma", gamma_initializer, gamma_regularizer, gamma_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        axes, pshape = self._feature_axes(input_shape)
        self._axes = tuple(axes)
        self._affine_weights(pshape, self.center and not self.rms_scaling)
        self.built = True

    def call(self, inputs):
        self._check_rank(inputs)
        bshape = self._bshape
        gamma = _param_view(self.gamma, bshape)
        if self.rms_scaling:
            from ...ops.reduction import mean
            ms = mean(inputs * inputs, axis=self._axes, keepdims=True)
            y = inputs * _E.rsqrt(ms + self.epsilon)
            return y * gamma if gamma is not None else y
        beta = _param_view(self.beta, bshape)
        y, _, _ = normalize_affine(inputs, gamma, beta, self._axes, self.epsilon)
        return y

    def get_config(self):
        cfg = super().get_config()
        cfg["rms_scaling"] = self.rms_scaling
        return cfg


__all__ = ["BatchNormalization", "LayerNormalization", "normalize_affine"]


# ---------------------------------------------------------------------------------------
# GroupNormalization, UnitNormalization, RMSNormalization: composed of core ops (their
# backward comes from autograd, so second derivatives work too).
def _norm_axes(axis, nd, who, shape):
    """``axis`` (int or list) as sorted non-negative axes of a rank-``nd`` input."""
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    for a in axes:
        if not -nd <= a < nd:
            raise ValueError(f"{who}: axis {a} is out of range for input shape {shape}")
    return sorted(a % nd for a in axes)


class GroupNormalization(Layer):
    """Splits the channels (``axis``) into ``groups`` groups and normalizes each sample
    over each group (its channels and all other non-batch axes):
    ``(x - mean) / sqrt(var + epsilon) * gamma + beta``, gamma/beta of shape (channels,).
    ``groups=-1`` gives one group per channel (instance normalization)."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)
        self.axis = int(axis)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        _weight_args(self, "beta", beta_initializer, beta_regularizer, beta_constraint)
        _weight_args(self, "gamma", gamma_initializer, gamma_regularizer, gamma_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        who = f"GroupNormalization '{self.name}'"
        nd = len(input_shape)
        ax = _norm_axes(self.axis, nd, who, tuple(input_shape))[0]
        if ax == 0:
            raise ValueError(f"{who}: axis must not be the batch axis, got {self.axis}")
        dim = input_shape[ax]
        if dim is None:
            raise ValueError(f"{who}: axis {self.axis} of input shape {tuple(input_shape)} "
                             f"must be known")
        if self.groups == -1:
            self.groups = dim
        if self.groups < 1 or dim < self.groups or dim % self.groups:
            raise ValueError(f"{who}: the {dim} channels of axis {self.axis} cannot be split "
                             f"into {self.groups} equal groups")
        self._ax = ax
        self.gamma = _add_weight_of(self, "gamma", (dim,)) if self.scale else None
        self.beta = _add_weight_of(self, "beta", (dim,)) if self.center else None
        self.input_spec = InputSpec(ndim=nd, axes={self.axis: dim})
        self.built = True

    def call(self, inputs):
        from ...ops.reduction import mean
        from ...ops.shape import reshape
        shape = tuple(inputs.shape)
        ax, g = self._ax, self.groups
        gshape = shape[:ax] + (g, shape[ax] // g) + shape[ax + 1:]
        xg = reshape(inputs, gshape)
        red = tuple(i for i in range(1, len(gshape)) if i != ax)
        xc = xg - mean(xg, axis=red, keepdims=True)
        var = mean(xc * xc, axis=red, keepdims=True)
        y = reshape(xc * _E.rsqrt(var + self.epsilon), shape)
        bshape = tuple(shape[ax] if i == ax else 1 for i in range(len(shape)))
        if self.gamma is not None:
            y = y * _param_view(self.gamma, bshape)
        if self.beta is not None:
            y = y + _param_view(self.beta, bshape)
        return y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                    "center": self.center, "scale": self.scale})
        cfg.update(_weight_config(self, ("beta", "gamma")))
        return cfg


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over ``axis`` (int or list):
    ``x * min(1 / sqrt(sum(x^2)), 1e12)``.  Shape-preserving, no weights."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = list(axis)
        elif isinstance(axis, (int, np.integer)):
            self.axis = int(axis)
        else:
            raise TypeError(f"UnitNormalization '{self.name}': axis must be an int or a list "
                            f"of ints, got {axis!r}")
        self.supports_masking = True

    def call(self, inputs):
        from ...ops.reduction import sum as _sum
        axes = tuple(_norm_axes(self.axis, inputs.ndim, f"UnitNormalization '{self.name}'",
                                tuple(inputs.shape)))
        sq = _sum(inputs * inputs, axis=axes, keepdims=True)
        # min(rsqrt(s), 1e12) written as rsqrt(max(s, 1e-24)): no inf for all-zero rows
        return inputs * _E.rsqrt(_E.maximum(sq, 1e-24))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg


class RMSNormalization(Layer):
    """``x / sqrt(mean(x^2 over axis) + epsilon) * scale``; ``scale`` (the sizes of
    ``axis``) starts at ones.  Shape-preserving."""

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        who = f"RMSNormalization '{self.name}'"
        nd = len(input_shape)
        axes = _norm_axes(self.axis, nd, who, tuple(input_shape))
        for a in axes:
            if input_shape[a] is None:
                raise ValueError(f"{who}: axis {a} of input shape {tuple(input_shape)} must "
                                 f"be known")
        self._axes = tuple(axes)
        self._bshape = tuple(input_shape[i] if i in axes else 1 for i in range(nd))
        self.scale = self.add_weight(name="scale", shape=tuple(input_shape[a] for a in axes),
                                     initializer="ones")
        self.built = True

    def call(self, inputs):
        from ...ops.reduction import mean
        if inputs.ndim != len(self._bshape):
            raise ValueError(f"RMSNormalization '{self.name}': built for inputs of rank "
                             f"{len(self._bshape)}, got shape {tuple(inputs.shape)}")
        ms = mean(inputs * inputs, axis=self._axes, keepdims=True)
        return inputs * _E.rsqrt(ms + self.epsilon) * _param_view(self.scale, self._bshape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"axis": self.axis, "epsilon": self.epsilon})
        return cfg


__all__ += ["GroupNormalization", "UnitNormalization", "RMSNormalization"]
