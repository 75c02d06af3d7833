"""``EinsumDense``: a dense layer whose contraction is an einsum equation (Keras 3).

``y = activation(einsum(equation, x, kernel) + bias)``.  The kernel's shape follows from
the equation as in Keras: each kernel letter takes its size from the output (when the
letter is in the output spec) or else from the input.  ``output_shape`` gives the output's
sizes without the batch axis (None where they come from the input).  ``...`` may lead
the input and output specs ("...b,bc->...c") or trail them ("ab...,bc->ac...").
"""
from __future__ import annotations

import re

from ...ops.linalg import einsum as _einsum
from .base import InputSpec, Layer
from .core import _act_get, _act_ser, _add_weight_of, _weight_args, _weight_config

__all__ = ["EinsumDense"]

_FORMS = (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", False),
          ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$", True),
          ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$", False))


def analyze_einsum(equation, bias_axes, input_shape, output_shape, who="EinsumDense"):
    """Weight shapes for ``equation`` on inputs of ``input_shape`` (batch first).

    Returns ``(kernel_shape, bias_shape or None, full output shape, kernel input axes,
    kernel output axes)``; the axes are those the initializer counts as fan-in / fan-out.
    """
    eq = equation.replace("...", "0")
    for pattern, left in _FORMS:
        m = re.match(pattern, eq)
        if m:
            break
    else:
        raise ValueError(f"{who}: invalid equation {equation!r}; expected 'ab,bc->ac', "
                         f"'...b,bc->...c' or 'ab...,bc->ac...'")
    in_spec, w_spec, out_spec = m.groups()
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(in_spec)
    out = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    out.insert(0, input_shape[0])
    if elided > 0 and left:
        # the elided leading axes in their order (Keras 3.15 inserts them reversed, so
        # its symbolic shape is wrong when two or more are elided; the kernel is the same)
        out[1:1] = input_shape[1:elided]
    elif elided > 0:
        out.extend(input_shape[len(input_shape) - elided:])
    if left:
        in_map = {d: i + elided - len(input_shape) for i, d in enumerate(in_spec)}
        out_map = {d: i + elided for i, d in enumerate(out_spec)}
    else:
        in_map = {d: i for i, d in enumerate(in_spec)}
        out_map = {d: i for i, d in enumerate(out_spec)}
    if len(out) <= max(out_map.values(), default=-1):
        raise ValueError(f"{who}: output_shape {output_shape!r} has too few entries for the "
                         f"output spec {out_spec!r} of {equation!r} (input shape "
                         f"{input_shape})")
    for d in in_spec:
        if d in out_map:
            o, i = out[out_map[d]], input_shape[in_map[d]]
            if o is not None and o != i:
                raise ValueError(f"{who}: input and output sizes differ on the shared axis "
                                 f"{d!r} of {equation!r}: input {i}, output {o}")
    for d in out_spec:
        if d not in in_spec and d not in w_spec:
            raise ValueError(f"{who}: output axis {d!r} of {equation!r} is in neither the "
                             f"input nor the kernel spec")
    kernel, in_axes, out_axes = [], [], []
    for i, d in enumerate(w_spec):
        if d in out_map:
            kernel.append(out[out_map[d]])
            out_axes.append(i)
        elif d in in_map:
            kernel.append(input_shape[in_map[d]])
            in_axes.append(i)
        else:
            raise ValueError(f"{who}: kernel axis {d!r} of {equation!r} is in neither the "
                             f"input nor the output spec")
    if any(k is None for k in kernel):
        raise ValueError(f"{who}: the kernel shape {kernel} of {equation!r} has unknown "
                         f"sizes for input shape {input_shape} and output_shape "
                         f"{output_shape!r}")
    bias = None
    if bias_axes is not None:
        lead = elided if left else 0
        sizes = {d: out[i + lead] for i, d in enumerate(out_spec)}
        for d in bias_axes:
            if d not in out_spec:
                raise ValueError(f"{who}: bias axis {d!r} is not in the output spec "
                                 f"{out_spec!r}")
        first = min(out_spec.find(d) for d in bias_axes)
        bias = [sizes[d] if d in bias_axes else 1 for d in out_spec[first:]]
        if not left:
            bias += [1] * max(elided, 0)
    return kernel, bias, out, in_axes, out_axes


class EinsumDense(Layer):
    """``activation(einsum(equation, inputs, kernel) + bias)``; ``output_shape`` is the
    output's shape without the batch axis (int for rank 2), ``bias_axes`` the output
    letters the bias varies along (None: no bias).  E.g. "abc,cd->abd" with
    output_shape=(None, 64) is a Dense(64) over (N, T, C)."""

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None,
                 gptq_unpacked_column_size=None, quantization_config=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        who = f"EinsumDense '{self.name}'"
        if lora_rank:
            raise ValueError(f"{who}: lora_rank is not supported")
        if quantization_config is not None:
            raise ValueError(f"{who}: quantization is not supported")
        if not isinstance(equation, str):
            raise TypeError(f"{who}: equation must be a string, got {type(equation).__name__}")
        self.equation = equation
        if isinstance(output_shape, int):
            self.partial_output_shape = (output_shape,)
        else:
            self.partial_output_shape = tuple(output_shape)
        self.bias_axes = bias_axes
        self.activation = _act_get(activation, self)
        _weight_args(self, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        _weight_args(self, "bias", bias_initializer, bias_regularizer, bias_constraint)
        self.full_output_shape = None

    def build(self, input_shape):
        who = f"EinsumDense '{self.name}'"
        kshape, bshape, out, in_axes, out_axes = analyze_einsum(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape, who)
        if bshape is not None and any(b is None for b in bshape):
            raise ValueError(f"{who}: the bias over {self.bias_axes!r} would have unknown "
                             f"sizes {bshape}; give them in output_shape")
        self.full_output_shape = tuple(out)
        self.input_spec = InputSpec(ndim=len(input_shape))
        init = self.kernel_initializer
        from ..initializers import VarianceScaling
        if isinstance(init, VarianceScaling) and (init.input_axes is None or
                                                  init.output_axes is None):
            # fans over the contracted / produced kernel axes, as Keras's EinsumDense
            cfg = dict(init.get_config(), input_axes=in_axes, output_axes=out_axes)
            init = type(init).from_config(cfg)
        self.kernel = _add_weight_of(self, "kernel", tuple(kshape), initializer=init)
        self.bias = _add_weight_of(self, "bias", tuple(bshape)) if bshape is not None else None
        self.built = True

    def call(self, inputs):
        y = _einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            y = y + self.bias
        return y if self.activation is None else self.activation(y)

    def compute_output_shape(self, input_shape):
        # as Keras: sizes left None in output_shape stay None (even where the input knows
        # them)
        input_shape = tuple(input_shape)
        _, _, out, _, _ = analyze_einsum(self.equation, self.bias_axes, input_shape,
                                         self.partial_output_shape,
                                         f"EinsumDense '{self.name}'")
        out[0] = input_shape[0]
        return tuple(out)

    def get_config(self):
        cfg = super().get_config()
        act_reg = cfg.pop("activity_regularizer", None)
        cfg.update({"output_shape": self.partial_output_shape, "equation": self.equation,
                    "activation": _act_ser(self.activation), "bias_axes": self.bias_axes})
        w = _weight_config(self, ("kernel", "bias"))
        for k in ("kernel_initializer", "bias_initializer", "kernel_regularizer",
                  "bias_regularizer"):
            cfg[k] = w[k]
        cfg["activity_regularizer"] = act_reg
        cfg["kernel_constraint"] = w["kernel_constraint"]
        cfg["bias_constraint"] = w["bias_constraint"]
        cfg["quantization_config"] = None
        return cfg
