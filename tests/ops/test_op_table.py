"""The op table: one line per op drives every gradient and oracle test.

Each line names the op (a key of ``lamina.OPS``), how to call it in lamina and in
PyTorch, the input shapes to try (scalars, broadcasting, empty where it applies)
and the inputs' domain.  For every line and shape set:

* ``gradcheck`` in float64 (finite differences),
* ``gradgradcheck`` where second derivatives are supported,
* values and gradients against PyTorch in float32 and float64 (when torch imports).

``NOT_DIFFERENTIABLE`` lists the ops that have no gradient; they are checked
against NumPy instead.  ``test_table_covers_every_op`` fails when an op is added to
``lamina.OPS`` without a line here.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

import numpy as np
import pytest

import lamina as lm
from lamina import OPS
from lamina.nn import functional as F
from lamina.ops import conv as _C
from lamina.testing import gradcheck, gradgradcheck


@dataclass
class Op:
    name: str                      # key in lamina.OPS
    fn: object                     # lamina: f(*tensors) -> Tensor or list of Tensors
    torch: object = None           # torch: f(torch_module, *tensors), or None
    shapes: list = field(default_factory=list)   # list of tuples of input shapes
    domain: object = "real"        # one domain, or one per input
    gradgrad: bool = True
    variant: str = ""
    tol: float = 1.0               # scales the tolerances against torch
    tol64: float = 1.0             # further scales them in float64

    @property
    def label(self):
        return self.name + (f"[{self.variant}]" if self.variant else "")


UNARY = [(), (3,), (2, 3), (0, 3)]
BINARY = [((), ()), ((3,), ()), ((2, 3), (3,)), ((2, 1), (1, 3)), ((0, 3), (3,))]
U = [(s,) for s in UNARY]


def _t(torch, name):
    return getattr(torch.nn.functional, name)


def _cond(shape):
    rng = np.random.default_rng(5)
    return np.asarray(rng.random(shape) > 0.5)


# index arrays baked into lines (fixed, with repeats so that scatter-add accumulates)
IDX = np.array([2, 0, 2, 1])
IDX2 = np.array([[0, 2, 1], [1, 1, 0]])
EMB_IDX = np.array([[1, 3, 1], [0, 3, 3]])
MASK = np.array([[True, False, True], [False, False, True]])
SPARSE_T = np.array([2, 0, 1, 2])
SPARSE_T3 = np.array([[0, 3], [2, 2], [1, 0]])


def _dense_target(shape):
    p = np.random.default_rng(7).random(shape) + 0.1
    return p / p.sum(-1, keepdims=True)


TABLE = [
    # ------------------------------------------------------------ elementwise
    Op("add", lambda a, b: lm.add(a, b), lambda T, a, b: T.add(a, b), BINARY),
    Op("add", lambda a: a + 2.5, lambda T, a: a + 2.5, U, variant="python-scalar"),
    Op("subtract", lambda a, b: lm.subtract(a, b), lambda T, a, b: T.sub(a, b), BINARY),
    Op("subtract", lambda a: 1.5 - a, lambda T, a: 1.5 - a, U, variant="rsub"),
    Op("multiply", lambda a, b: lm.multiply(a, b), lambda T, a, b: T.mul(a, b), BINARY),
    Op("divide", lambda a, b: lm.divide(a, b), lambda T, a, b: T.div(a, b), BINARY,
       domain=("real", "nonzero")),
    Op("divide", lambda a: 2.0 / a, lambda T, a: 2.0 / a, U, domain="nonzero", variant="rdiv"),
    Op("mod", lambda a, b: lm.mod(a, b), lambda T, a, b: T.remainder(a, b), BINARY,
       domain=("real", "pos")),
    Op("power", lambda a, b: lm.power(a, b), lambda T, a, b: T.pow(a, b), BINARY,
       domain=("pos", "real")),
    Op("power", lambda a: a ** 3, lambda T, a: a ** 3, U, variant="int-exponent"),
    Op("power", lambda a: a ** 2, lambda T, a: a ** 2, U, variant="square-exponent"),
    Op("power", lambda a: a ** -1.5, lambda T, a: a ** -1.5, U, domain="pos",
       variant="float-exponent"),
    Op("power", lambda a: 2.0 ** a, lambda T, a: 2.0 ** a, U, variant="rpow"),
    Op("negative", lambda a: -a, lambda T, a: -a, U),
    Op("reciprocal", lm.reciprocal, lambda T, a: T.reciprocal(a), U, domain="nonzero"),
    Op("exp", lm.exp, lambda T, a: T.exp(a), U),
    Op("log", lm.log, lambda T, a: T.log(a), U, domain="pos"),
    Op("log1p", lm.log1p, lambda T, a: T.log1p(a), U, domain="pos"),
    Op("expm1", lm.expm1, lambda T, a: T.expm1(a), U),
    Op("sqrt", lm.sqrt, lambda T, a: T.sqrt(a), U, domain="pos"),
    Op("rsqrt", lm.rsqrt, lambda T, a: T.rsqrt(a), U, domain="pos"),
    Op("square", lm.square, lambda T, a: T.square(a), U),
    Op("abs", lm.abs, lambda T, a: T.abs(a), U, domain="nonzero"),
    Op("sin", lm.sin, lambda T, a: T.sin(a), U),
    Op("cos", lm.cos, lambda T, a: T.cos(a), U),
    Op("tanh", lm.tanh, lambda T, a: T.tanh(a), U),
    Op("sigmoid", lm.sigmoid, lambda T, a: T.sigmoid(a), U),
    Op("relu", lm.relu, lambda T, a: T.relu(a), U, domain="nonzero"),
    Op("relu6", lm.relu6, lambda T, a: _t(T, "relu6")(a), U, domain="wide"),
    Op("leaky_relu", lm.leaky_relu, lambda T, a: _t(T, "leaky_relu")(a, 0.2), U,
       domain="nonzero"),
    Op("elu", lm.elu, lambda T, a: _t(T, "elu")(a), U, domain="nonzero"),
    Op("elu", lambda a: lm.elu(a, alpha=0.5), lambda T, a: _t(T, "elu")(a, alpha=0.5), U,
       domain="nonzero", variant="alpha"),
    Op("selu", lm.selu, lambda T, a: _t(T, "selu")(a), U, domain="nonzero"),
    Op("gelu", lm.gelu, lambda T, a: _t(T, "gelu")(a), U),
    Op("gelu", lambda a: lm.gelu(a, approximate=True),
       lambda T, a: _t(T, "gelu")(a, approximate="tanh"), U, variant="tanh"),
    Op("softplus", lm.softplus, lambda T, a: _t(T, "softplus")(a), U),
    Op("softsign", lm.softsign, lambda T, a: _t(T, "softsign")(a), U, domain="nonzero"),
    Op("silu", lm.silu, lambda T, a: _t(T, "silu")(a), U),
    # torch's hardsigmoid/hardswish backward multiplies by a float32 1/6 even in float64
    Op("hard_sigmoid", lm.hard_sigmoid, lambda T, a: _t(T, "hardsigmoid")(a), U, domain="wide",
       tol64=1e3),
    Op("hard_silu", lm.hard_silu, lambda T, a: _t(T, "hardswish")(a), U, domain="wide",
       tol64=1e3),
    Op("maximum", lm.maximum, lambda T, a, b: T.maximum(a, b), BINARY),
    Op("minimum", lm.minimum, lambda T, a, b: T.minimum(a, b), BINARY),
    Op("clip", lambda a: lm.clip(a, -0.5, 0.7), lambda T, a: T.clamp(a, -0.5, 0.7), U),
    Op("clip", lambda a: lm.clip(a, min=0.1), lambda T, a: T.clamp(a, min=0.1), U,
       variant="min-only"),
    Op("where", lambda a, b: lm.where(_cond(np.broadcast_shapes(a.shape, b.shape)), a, b),
       lambda T, a, b: T.where(T.from_numpy(_cond(np.broadcast_shapes(a.shape, b.shape))), a, b),
       BINARY),
    Op("erf", lm.erf, lambda T, a: T.erf(a), U),
    Op("arcsin", lm.arcsin, lambda T, a: T.asin(a), U, domain="unit01"),
    Op("arccos", lm.arccos, lambda T, a: T.acos(a), U, domain="unit01"),
    Op("arctan", lm.arctan, lambda T, a: T.atan(a), U),
    Op("arcsinh", lm.arcsinh, lambda T, a: T.asinh(a), U),
    Op("arccosh", lambda a: lm.arccosh(a + 1.0), lambda T, a: T.acosh(a + 1.0), U,
       domain="pos"),
    Op("arctanh", lm.arctanh, lambda T, a: T.atanh(a), U, domain="unit01"),
    Op("cbrt", lm.cbrt, lambda T, a: T.sign(a) * T.abs(a) ** (1 / 3), U, domain="nonzero"),
    Op("exp2", lm.exp2, lambda T, a: T.exp2(a), U),
    Op("erfc", lm.erfc, lambda T, a: T.erfc(a), U),
    Op("erfinv", lm.erfinv, lambda T, a: T.erfinv(a), U, domain="unit01", tol=5.0),
    Op("arctan2", lm.arctan2, lambda T, a, b: T.atan2(a, b), BINARY, domain=("real", "nonzero")),
    Op("hypot", lm.hypot, lambda T, a, b: T.hypot(a, b), BINARY, domain="nonzero"),
    Op("fmod", lm.fmod, lambda T, a, b: T.fmod(a, b), BINARY, domain=("real", "pos")),
    Op("cast", lambda a: lm.cast(a, "float64") * 1.5, lambda T, a: a.to(T.float64) * 1.5, U),
    # ------------------------------------------------------------ reductions
    Op("sum", lambda a: lm.sum(a), lambda T, a: T.sum(a), U),
    Op("sum", lambda a: lm.sum(a, axis=1), lambda T, a: T.sum(a, 1), [((2, 3),), ((0, 3),)],
       variant="axis"),
    Op("sum", lambda a: lm.sum(a, axis=(0, 2), keepdims=True),
       lambda T, a: T.sum(a, (0, 2), keepdim=True), [((2, 3, 4),)], variant="tuple-keepdims"),
    Op("mean", lambda a: lm.mean(a), lambda T, a: T.mean(a), [((),), ((3,),), ((2, 3),)]),
    Op("mean", lambda a: lm.mean(a, axis=-1, keepdims=True),
       lambda T, a: T.mean(a, -1, keepdim=True), [((2, 3),), ((2, 3, 4),)], variant="axis"),
    Op("prod", lambda a: lm.prod(a), lambda T, a: T.prod(a), U),
    Op("prod", lambda a: lm.prod(a, axis=1), lambda T, a: T.prod(a, 1), [((2, 3),), ((0, 3),)],
       variant="axis"),
    Op("prod", lambda a: lm.prod(a, axis=(0, 2)),
       lambda T, a: T.prod(T.prod(a, 2), 0), [((2, 3, 4),)], domain="with_zero",
       variant="zeros"),
    Op("max", lambda a: lm.max(a), lambda T, a: T.amax(a), [((),), ((3,),), ((2, 3),)]),
    Op("max", lambda a: lm.max(a, axis=0, keepdims=True), lambda T, a: T.amax(a, 0, keepdim=True),
       [((2, 3),), ((4, 2, 3),)], variant="axis"),
    Op("min", lambda a: lm.min(a, axis=(1, 2)), lambda T, a: T.amin(a, (1, 2)),
       [((2, 3, 4),)]),
    Op("var", lambda a: lm.var(a), lambda T, a: T.var(a, correction=0), [((3,),), ((2, 3),)]),
    Op("var", lambda a: lm.var(a, axis=0, ddof=1), lambda T, a: T.var(a, 0, correction=1),
       [((4, 3),)], variant="ddof"),
    Op("std", lambda a: lm.std(a, axis=-1), lambda T, a: T.std(a, -1, correction=0),
       [((3,),), ((2, 3),)]),
    Op("norm", lambda a: lm.norm(a), lambda T, a: T.linalg.vector_norm(a), U[:3]),
    Op("norm", lambda a: lm.norm(a, axis=1, keepdims=True),
       lambda T, a: T.linalg.vector_norm(a, dim=1, keepdim=True), [((2, 3),)], variant="axis"),
    Op("norm", lambda a: lm.norm(a, ord=1, axis=0), lambda T, a: T.linalg.vector_norm(a, 1, 0),
       [((2, 3),)], domain="nonzero", variant="l1"),
    Op("norm", lambda a: lm.norm(a, ord=np.inf, axis=0),
       lambda T, a: T.linalg.vector_norm(a, float("inf"), 0), [((2, 3),)], variant="inf"),
    Op("logsumexp", lambda a: lm.logsumexp(a), lambda T, a: T.logsumexp(a, tuple(range(a.ndim))),
       [((),), ((3,),), ((2, 3),)]),
    Op("logsumexp", lambda a: lm.logsumexp(a, axis=1, keepdims=True),
       lambda T, a: T.logsumexp(a, 1, keepdim=True), [((2, 3),), ((2, 3, 4),)], variant="axis"),
    Op("cumprod", lambda a: lm.cumprod(a, axis=1), lambda T, a: T.cumprod(a, 1),
       [((2, 3),), ((2, 0),)]),
    Op("cumprod", lambda a: lm.cumprod(a, axis=0), lambda T, a: T.cumprod(a, 0),
       [((4, 2),)], domain="with_zero", variant="zeros"),
    Op("cumsum", lambda a: lm.cumsum(a, axis=1), lambda T, a: T.cumsum(a, 1),
       [((2, 3),), ((2, 0),)]),
    # ------------------------------------------------------------ shape
    Op("reshape", lambda a: lm.reshape(a, (3, -1)), lambda T, a: a.reshape(3, -1),
       [((2, 3),), ((6,),), ((0, 3),)]),
    Op("flatten", lambda a: lm.flatten(a), lambda T, a: T.flatten(a), U),
    Op("flatten", lambda a: lm.flatten(a, 1), lambda T, a: T.flatten(a, 1), [((2, 3, 4),)],
       variant="start"),
    Op("transpose", lambda a: lm.transpose(a), lambda T, a: a.permute(tuple(reversed(range(a.ndim)))),
       U + [((2, 3, 4),)]),
    Op("transpose", lambda a: lm.permute(a, (1, 2, 0)), lambda T, a: a.permute(1, 2, 0),
       [((2, 3, 4),)], variant="axes"),
    Op("swapaxes", lambda a: lm.swapaxes(a, 0, -1), lambda T, a: T.swapaxes(a, 0, -1),
       [((2, 3, 4),)]),
    Op("moveaxis", lambda a: lm.moveaxis(a, 0, -1), lambda T, a: T.movedim(a, 0, -1),
       [((2, 3, 4),)]),
    Op("squeeze", lambda a: lm.squeeze(a), lambda T, a: T.squeeze(a), [((1, 3, 1),), ((1,),)]),
    Op("squeeze", lambda a: lm.squeeze(a, 0), lambda T, a: T.squeeze(a, 0), [((1, 3, 1),)],
       variant="axis"),
    Op("expand_dims", lambda a: lm.expand_dims(a, 1), lambda T, a: T.unsqueeze(a, 1),
       [((3,),), ((2, 3),), ((0, 3),)]),
    Op("expand_dims", lambda a: lm.expand_dims(a, -1), lambda T, a: T.unsqueeze(a, -1), U,
       variant="last"),
    Op("broadcast_to", lambda a: lm.broadcast_to(a, (4, 2, 3)),
       lambda T, a: T.broadcast_to(a, (4, 2, 3)), [((),), ((3,),), ((2, 1),), ((1, 3),)]),
    Op("concatenate", lambda a, b: lm.concatenate([a, b], axis=0),
       lambda T, a, b: T.cat([a, b], 0), [((2, 3), (1, 3)), ((0, 3), (2, 3))]),
    Op("concatenate", lambda a, b: lm.concatenate([a, b, a], axis=-1),
       lambda T, a, b: T.cat([a, b, a], -1), [((2, 3), (2, 1))], variant="axis"),
    Op("stack", lambda a, b: lm.stack([a, b], axis=1), lambda T, a, b: T.stack([a, b], 1),
       [((3,), (3,)), ((2, 3), (2, 3))]),
    Op("split", lambda a: lm.split(a, 3, axis=1), lambda T, a: T.tensor_split(a, 3, 1),
       [((2, 6),)]),
    Op("split", lambda a: lm.split(a, [1, 3], axis=0), lambda T, a: T.tensor_split(a, [1, 3], 0),
       [((4, 2),)], variant="indices"),
    Op("tile", lambda a: lm.tile(a, (2, 1, 2)), lambda T, a: T.tile(a, (2, 1, 2)),
       [((3,),), ((2, 3),)]),
    Op("repeat", lambda a: lm.repeat(a, 2, axis=1), lambda T, a: T.repeat_interleave(a, 2, 1),
       [((2, 3),)]),
    Op("repeat", lambda a: lm.repeat(a, 3), lambda T, a: T.repeat_interleave(a, 3),
       [((2, 3),), ((),)], variant="flat"),
    Op("pad", lambda a: lm.pad(a, ((1, 0), (2, 1))), lambda T, a: _t(T, "pad")(a, (2, 1, 1, 0)),
       [((2, 3),), ((0, 3),)]),
    Op("flip", lambda a: lm.flip(a, 1), lambda T, a: T.flip(a, (1,)), [((2, 3),)]),
    Op("flip", lambda a: lm.flip(a), lambda T, a: T.flip(a, tuple(range(a.ndim))), U[1:],
       variant="all"),
    Op("roll", lambda a: lm.roll(a, 2, axis=1), lambda T, a: T.roll(a, 2, 1), [((2, 3),)]),
    Op("roll", lambda a: lm.roll(a, -1), lambda T, a: T.roll(a, -1), [((2, 3),)], variant="flat"),
    # ------------------------------------------------------------ linear algebra
    Op("matmul", lm.matmul, lambda T, a, b: T.matmul(a, b),
       [((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((2, 1, 2, 3), (5, 3, 2)), ((3,), (3, 4)),
        ((2, 3), (3,)), ((3,), (3,)), ((0, 3), (3, 2)), ((2, 0), (0, 3))]),
    Op("dot", lm.dot, lambda T, a, b: T.tensordot(a, b, ([a.ndim - 1], [max(b.ndim - 2, 0)])),
       [((3,), (3,)), ((2, 3), (3, 4)), ((2, 3), (3,)), ((2, 2, 3), (4, 3, 2))]),
    Op("outer", lm.outer, lambda T, a, b: T.outer(a, b), [((3,), (4,)), ((0,), (2,))]),
    Op("einsum", lambda a, b: lm.einsum("bij,bjk->bik", a, b),
       lambda T, a, b: T.einsum("bij,bjk->bik", a, b), [((2, 3, 4), (2, 4, 5))], variant="bmm"),
    Op("einsum", lambda a, b: lm.einsum("...hd,...kd->...hk", a, b),
       lambda T, a, b: T.einsum("...hd,...kd->...hk", a, b),
       [((2, 3, 4), (2, 5, 4)), ((3, 4), (5, 4))], variant="ellipsis"),
    Op("einsum", lambda a: lm.einsum("ij->j", a), lambda T, a: T.einsum("ij->j", a),
       [((2, 3),)], variant="sum"),
    Op("einsum", lambda a, b: lm.einsum("ij,j->i", a, b), lambda T, a, b: T.einsum("ij,j->i", a, b),
       [((2, 3), (3,))], variant="matvec"),
    Op("einsum", lambda a, b, c: lm.einsum("ij,jk,kl->il", a, b, c),
       lambda T, a, b, c: T.einsum("ij,jk,kl->il", a, b, c), [((2, 3), (3, 4), (4, 2))],
       variant="chain"),
    Op("einsum", lambda a, b: lm.einsum("ik,jk", a, b), lambda T, a, b: T.einsum("ik,jk", a, b),
       [((2, 3), (4, 3))], variant="implicit"),
    Op("einsum", lambda a, b: lm.einsum("bi,bj->bij", a, b),
       lambda T, a, b: T.einsum("bi,bj->bij", a, b), [((2, 3), (2, 4))], variant="outer"),
    Op("inv", lm.inv, lambda T, a: T.linalg.inv(a), [((3, 3),), ((2, 3, 3),)], tol=10.0),
    Op("det", lm.det, lambda T, a: T.linalg.det(a), [((3, 3),), ((2, 3, 3),)], tol=10.0),
    Op("solve", lm.solve, lambda T, a, b: T.linalg.solve(a, b),
       [((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 1)), ((2, 3, 3), (3, 2))], tol=10.0),
    Op("solve", lm.solve, lambda T, a, b: T.linalg.solve(a, b), [((3, 3), (3,))],
       tol=10.0, variant="vector"),
    # through a symmetric positive-definite S = A A^T + 3I: lamina reads (and differentiates)
    # the lower triangle of S, torch symmetrizes; the gradients to A agree
    Op("cholesky", lambda a: lm.cholesky(lm.matmul(a, lm.swapaxes(a, -1, -2)) +
                                         lm.tensor(3 * np.eye(a.shape[-1], dtype=a.dtype))),
       lambda T, a: T.linalg.cholesky(a @ a.transpose(-1, -2) +
                                      3 * T.eye(a.shape[-1], dtype=a.dtype)),
       [((3, 3),), ((2, 3, 3),)], tol=10.0),
    # ------------------------------------------------------------ indexing
    Op("getitem", lambda a: a[1], lambda T, a: a[1], [((3,),), ((2, 3),)], variant="int"),
    Op("getitem", lambda a: a[:, 1:], lambda T, a: a[:, 1:], [((2, 3),), ((0, 3),)],
       variant="slice"),
    Op("getitem", lambda a: a[None, ..., ::2], lambda T, a: a[None, ..., ::2],
       [((2, 3),), ((3,),)], variant="none-ellipsis-step"),
    Op("getitem", lambda a: a[IDX], lambda T, a: a[T.from_numpy(IDX)], [((3,),), ((3, 2),)],
       variant="int-array-repeats"),
    Op("getitem", lambda a: a[MASK], lambda T, a: a[T.from_numpy(MASK)], [((2, 3),)],
       variant="bool-mask"),
    Op("getitem", lambda a: a[[0, 1, 1], [2, 2, 0]], lambda T, a: a[[0, 1, 1], [2, 2, 0]],
       [((2, 3),)], variant="pairs"),
    Op("take", lambda a: lm.take(a, IDX, axis=0),
       lambda T, a: T.index_select(a, 0, T.from_numpy(IDX)), [((3,),), ((3, 2),)]),
    Op("take", lambda a: lm.take(a, IDX2, axis=1),
       lambda T, a: a[:, T.from_numpy(IDX2)], [((2, 3),)], variant="2d-indices"),
    Op("take", lambda a: lm.take(a, IDX), lambda T, a: T.take(a, T.from_numpy(IDX)),
       [((2, 3),)], variant="flat"),
    Op("take_along_axis", lambda a: lm.take_along_axis(a, IDX2, axis=1),
       lambda T, a: T.take_along_dim(a, T.from_numpy(IDX2), 1), [((2, 3),)]),
    Op("embedding", lambda w: lm.embedding(EMB_IDX, w),
       lambda T, w: _t(T, "embedding")(T.from_numpy(EMB_IDX), w), [((4, 3),), ((5, 2),)]),
    Op("masked_fill", lambda a: lm.masked_fill(a, MASK, -2.0),
       lambda T, a: T.masked_fill(a, T.from_numpy(MASK), -2.0), [((2, 3),)]),
    Op("masked_fill", lambda a: lm.masked_fill(a, MASK[0], 0.0),
       lambda T, a: T.masked_fill(a, T.from_numpy(MASK[0]), 0.0), [((2, 3),), ((4, 2, 3),)],
       variant="broadcast"),
    # ------------------------------------------------------------ nn
    Op("linear", lambda x, w, b: F.linear(x, w, b), lambda T, x, w, b: x @ w + b,
       [((4, 3), (3, 2), (2,)), ((2, 5, 3), (3, 2), (2,)), ((3,), (3, 2), (2,)),
        ((0, 3), (3, 2), (2,))]),
    Op("linear", lambda x, w: F.linear(x, w), lambda T, x, w: x @ w, [((4, 3), (3, 2))],
       variant="no-bias"),
    Op("softmax", lm.softmax, lambda T, a: T.softmax(a, -1), [((3,),), ((2, 3),), ((0, 3),)]),
    Op("softmax", lambda a: lm.softmax(a, axis=0), lambda T, a: T.softmax(a, 0), [((2, 3),)],
       variant="axis0"),
    Op("log_softmax", lm.log_softmax, lambda T, a: T.log_softmax(a, -1),
       [((3,),), ((2, 3),), ((0, 3),)]),
    Op("log_softmax", lambda a: lm.log_softmax(a, axis=1), lambda T, a: T.log_softmax(a, 1),
       [((2, 3, 4),)], variant="axis1"),
    Op("cross_entropy", lambda z: F.cross_entropy(z, SPARSE_T),
       lambda T, z: _t(T, "cross_entropy")(z, T.from_numpy(SPARSE_T)), [((4, 3),)],
       variant="sparse"),
    Op("cross_entropy", lambda z: F.cross_entropy(z, SPARSE_T3, reduction="none"),
       lambda T, z: _t(T, "cross_entropy")(z.permute(0, 2, 1), T.from_numpy(SPARSE_T3),
                                           reduction="none"),
       [((3, 2, 4),)], variant="sparse-3d-none"),
    Op("cross_entropy", lambda z: F.cross_entropy(z, SPARSE_T, reduction="sum"),
       lambda T, z: _t(T, "cross_entropy")(z, T.from_numpy(SPARSE_T), reduction="sum"),
       [((4, 3),)], variant="sparse-sum"),
    Op("cross_entropy", lambda z, p: F.cross_entropy(z, p),
       lambda T, z, p: _t(T, "cross_entropy")(z, p), [((4, 3), (4, 3))], domain=("real", "prob"),
       variant="dense"),
    Op("binary_cross_entropy_with_logits", lambda z, t: F.binary_cross_entropy_with_logits(z, t),
       lambda T, z, t: _t(T, "binary_cross_entropy_with_logits")(z, t),
       [((4,), (4,)), ((2, 3), (2, 3))], domain=("real", "unit01")),
    Op("binary_cross_entropy_with_logits",
       lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction="none"),
       lambda T, z, t: _t(T, "binary_cross_entropy_with_logits")(z, t, reduction="none"),
       [((2, 3), (2, 3))], domain=("real", "unit01"), variant="none"),
    Op("dropout", lambda a: F.dropout(a, 0.4, generator=lm.random.Generator(3)), None,
       [((3,),), ((4, 5),)]),
    # ------------------------------------------------------ transposed 3-D conv
    # kernel (KD, KH, KW, O, C) as Keras stores it; torch's full transposed conv is cropped
    # as Keras crops it ('same', stride 2, kernel 3: nothing at the start, one at the end)
    Op("conv3d_transpose", lambda x, k, b: _C.conv3d_transpose(x, k, b, strides=(2, 1, 2)),
       lambda T, x, k, b: _torch_conv3d_t(T, x, k, b, (2, 1, 2)),
       [((2, 2, 3, 2, 2), (2, 3, 2, 3, 2), (3,))], gradgrad=False, variant="valid"),
    Op("conv3d_transpose",
       lambda x, k: _C.conv3d_transpose(x, k, padding="same", dilation_rate=(1, 2, 1)),
       lambda T, x, k: _torch_conv3d_t(T, x, k, None, 1, dilation=(1, 2, 1),
                                       crop=((1, 1), (2, 2), (1, 1))),
       [((1, 2, 3, 3, 2), (3, 3, 3, 2, 2))], gradgrad=False, variant="same-dilated"),
    Op("conv3d_transpose",
       lambda x, k, b: _C.conv3d_transpose(x, k, b, strides=2, padding="same"),
       lambda T, x, k, b: _torch_conv3d_t(T, x, k, b, 2, crop=((0, 1),) * 3),
       [((1, 2, 2, 3, 3), (3, 3, 3, 2, 3), (2,))], gradgrad=False, variant="same-strided"),
    Op("conv3d_transpose",
       lambda x, k: _C.conv3d_transpose(x, k, strides=(3, 2, 2), output_padding=(1, 0, 1)),
       lambda T, x, k: _torch_conv3d_t(T, x, k, None, (3, 2, 2), output_padding=(1, 0, 1)),
       [((1, 2, 2, 2, 1), (2, 2, 3, 2, 1))], gradgrad=False, variant="output_padding"),
]


def _torch_conv3d_t(T, x, k, b, strides, dilation=1, output_padding=0, crop=None):
    """torch's conv_transpose3d on channels-last data with Keras's kernel layout, its full
    output cut by ``crop`` ((start, end) per spatial axis)."""
    y = T.nn.functional.conv_transpose3d(x.permute(0, 4, 1, 2, 3), k.permute(4, 3, 0, 1, 2), b,
                                         stride=strides, dilation=dilation,
                                         output_padding=output_padding)
    if crop is not None:
        y = y[(slice(None), slice(None)) +
              tuple(slice(lo, n - hi) for (lo, hi), n in zip(crop, y.shape[2:]))]
    return y.permute(0, 2, 3, 4, 1)

# Ops with no gradient (zero almost everywhere, or integer/boolean outputs), checked
# against NumPy: name -> (lamina call, numpy call, number of float inputs).
NOT_DIFFERENTIABLE = {
    "floor_divide": (lambda a, b: lm.floor_divide(a, b), lambda a, b: np.floor_divide(a, b), 2),
    "sign": (lm.sign, np.sign, 1),
    "floor": (lm.floor, np.floor, 1),
    "ceil": (lm.ceil, np.ceil, 1),
    "round": (lm.round, np.round, 1),
    "isnan": (lm.isnan, np.isnan, 1),
    "isinf": (lm.isinf, np.isinf, 1),
    "isfinite": (lm.isfinite, np.isfinite, 1),
    "equal": (lm.equal, np.equal, 2),
    "not_equal": (lm.not_equal, np.not_equal, 2),
    "less": (lm.less, np.less, 2),
    "less_equal": (lm.less_equal, np.less_equal, 2),
    "greater": (lm.greater, np.greater, 2),
    "greater_equal": (lm.greater_equal, np.greater_equal, 2),
    "logical_and": (lm.logical_and, np.logical_and, 2),
    "logical_or": (lm.logical_or, np.logical_or, 2),
    "logical_xor": (lm.logical_xor, np.logical_xor, 2),
    "logical_not": (lm.logical_not, np.logical_not, 1),
    "argmax": (lambda a: lm.argmax(a, axis=-1), lambda a: np.argmax(a, axis=-1), 1),
    "argmin": (lambda a: lm.argmin(a, axis=0), lambda a: np.argmin(a, axis=0), 1),
    "all": (lambda a: lm.all(a > 0, axis=1), lambda a: np.all(a > 0, axis=1), 1),
    "any": (lambda a: lm.any(a > 0), lambda a: np.any(a > 0), 1),
    "one_hot": (lambda a: lm.one_hot((np.abs(a) * 2).astype(np.int64) % 4, 4),
                lambda a: np.eye(4, dtype=np.float32)[(np.abs(a) * 2).astype(np.int64) % 4], 1),
}


# ----------------------------------------------------------------- input data
def _sample(domain, shape, rng):
    if domain == "real":
        return rng.standard_normal(shape)
    if domain == "wide":        # crosses the kinks of relu6 / hard_sigmoid, away from them
        x = rng.uniform(-5, 7, shape)
        return x + 0.05 * (np.abs(x - np.round(x)) < 0.05)
    if domain == "pos":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape)
    if domain == "unit01":
        return rng.uniform(0.05, 0.95, shape)
    if domain == "prob":
        return _dense_target(shape)
    if domain == "with_zero":
        x = rng.uniform(0.5, 1.5, shape)
        x.flat[::7] = 0.0       # one zero in some reduced groups, two in others
        return x
    raise ValueError(domain)


def _inputs(op, shapes, seed=0):
    rng = np.random.default_rng(seed)
    doms = op.domain if isinstance(op.domain, tuple) else (op.domain,) * len(shapes)
    return [np.asarray(_sample(d, s, rng), dtype=np.float64) for d, s in zip(doms, shapes)]


def _cases():
    for op in TABLE:
        for shapes in op.shapes:
            sid = "x".join(str(tuple(s)).replace(" ", "") for s in shapes)
            yield pytest.param(op, shapes, id=f"{op.label}-{sid}")


CASES = list(_cases())


def _as_list(res):
    return list(res) if isinstance(res, (list, tuple)) else [res]


# ----------------------------------------------------------------- the tests
def test_table_covers_every_op():
    covered = {id(OPS[op.name]) for op in TABLE}
    for name in NOT_DIFFERENTIABLE:
        covered.add(id(OPS[name]))
    # the core's op modules; conv, pooling, recurrent, attention ... have their own tables
    core = {f"lamina.ops.{m}" for m in ("elementwise", "reduction", "shape", "indexing",
                                         "linalg", "nn")}
    missing = sorted(n for n, f in OPS.items() if id(f) not in covered and f.__module__ in core)
    assert not missing, f"ops without a line in the op table: {missing}"
    for op in TABLE:
        assert op.name in OPS, f"table line {op.label} names an op missing from lamina.OPS"


def test_ops_outside_the_core_have_tests_of_their_own():
    """Fused ops registered by other modules (conv, pooling, recurrent, ...) are tested in
    tests/ops/test_<module>.py (each must at least be named there) or by lines here."""
    here = pathlib.Path(__file__).parent
    core = {f"lamina.ops.{m}" for m in ("elementwise", "reduction", "shape", "indexing",
                                         "linalg", "nn")}
    missing = []
    in_table = {op.name for op in TABLE}
    for name, f in sorted(OPS.items()):
        if f.__module__ in core or name in in_table:      # lines here test them too
            continue
        path = here / f"test_{f.__module__.rsplit('.', 1)[1]}.py"
        if not path.exists() or name not in path.read_text():
            missing.append(f"{name} ({path.name})")
    assert not missing, f"ops not named in their module's tests: {missing}"


@pytest.mark.parametrize("op,shapes", CASES)
def test_gradcheck(op, shapes):
    xs = _inputs(op, shapes)
    assert gradcheck(op.fn, xs, name=op.label)


@pytest.mark.parametrize("op,shapes", [c for c in CASES if c.values[0].gradgrad])
def test_gradgradcheck(op, shapes):
    xs = _inputs(op, shapes, seed=1)
    assert gradgradcheck(op.fn, xs, name=op.label)


def _scale(op, dtype):
    return op.tol * (op.tol64 if dtype == np.float64 else 1.0)


TORCH_TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("op,shapes", [c for c in CASES if c.values[0].torch is not None])
def test_against_torch(op, shapes, dtype, torch, device):
    xs = [x.astype(dtype) for x in _inputs(op, shapes, seed=2)]
    lx = [lm.tensor(x, device=device, requires_grad=True) for x in xs]
    louts = _as_list(op.fn(*lx))
    tx = [torch.tensor(x, requires_grad=True) for x in xs]
    touts = _as_list(op.torch(torch, *tx))
    assert len(louts) == len(touts)
    rng = np.random.default_rng(3)
    us = []
    for lo, to in zip(louts, touts):
        assert lo.shape == tuple(to.shape), f"{op.label}: shape {lo.shape} vs torch {tuple(to.shape)}"
        assert lo.dtype == np.dtype(str(to.dtype).replace("torch.", "")), \
            f"{op.label}: dtype {lo.dtype} vs torch {to.dtype}"
        tol = {k: v * _scale(op, dtype) for k, v in TORCH_TOL[dtype].items()}
        np.testing.assert_allclose(lo.numpy(), to.detach().numpy(), **tol,
                                   err_msg=f"{op.label}: forward values differ from torch")
        us.append(rng.standard_normal(lo.shape).astype(lo.dtype))
    lsum = sum((lo * lm.tensor(u, device=device)).sum() for lo, u in zip(louts, us))
    tsum = sum((to * torch.tensor(u)).sum() for to, u in zip(touts, us))
    lgrads = lm.autograd.gradients(lsum, lx)
    tgrads = torch.autograd.grad(tsum, tx, allow_unused=True)
    for i, (lg, tg) in enumerate(zip(lgrads, tgrads)):
        tg = np.zeros(xs[i].shape, dtype) if tg is None else tg.numpy()
        lg = np.zeros(xs[i].shape, dtype) if lg is None else lg.numpy()
        assert lg.dtype == dtype, f"{op.label}: gradient {i} has dtype {lg.dtype}, not {dtype}"
        tol = {k: v * _scale(op, dtype) * 5 for k, v in TORCH_TOL[dtype].items()}
        np.testing.assert_allclose(lg, tg, **tol,
                                   err_msg=f"{op.label}: gradient of input {i} differs from torch")


@pytest.mark.parametrize("name", sorted(NOT_DIFFERENTIABLE))
def test_not_differentiable_against_numpy(name):
    lfn, nfn, n = NOT_DIFFERENTIABLE[name]
    rng = np.random.default_rng(4)
    xs = [np.round(rng.standard_normal((3, 4)) * 2, 1).astype(np.float32) for _ in range(n)]
    xs[0][0, :2] = np.nan if name in ("isnan", "isfinite") else xs[0][0, :2]
    if n == 2:
        xs[1][1] = xs[0][1]      # some equal entries
        xs[1][np.abs(xs[1]) < 0.1] = 1.0     # floor_divide by a nonzero
    lx = [lm.tensor(x, requires_grad=True) for x in xs]
    out = lfn(*lx)
    expect = nfn(*xs)
    assert not out.requires_grad, f"{name} recorded a graph"
    np.testing.assert_array_equal(out.numpy(), expect)
