"""The op table.  Each op is one function in one of the modules below; ``OPS``
maps every public op name to it.  Importing this package also gives Tensor its
operators and methods, which are these same functions."""
from __future__ import annotations

from .base import OPS
from . import elementwise, reduction, shape, indexing, linalg, nn
from . import recurrent, attention  # noqa: E402,F401  (fused sequence ops, in the op table)
from . import conv, pooling, image  # noqa: E402,F401  (fused vision ops, in the op table)
from . import ctc  # noqa: E402,F401  (CTC loss)
from ..tensor import Tensor


def _reflected(fn):
    """``other <op> tensor`` as ``fn(other, tensor)`` (Python's reflected operator)."""
    return lambda self, other: fn(other, self)


def _install_tensor_methods():
    E, R, S, I, L = elementwise, reduction, shape, indexing, linalg
    T = Tensor
    for dunder, fn in (("add", E.add), ("sub", E.subtract), ("mul", E.multiply),
                       ("truediv", E.divide), ("floordiv", E.floor_divide), ("mod", E.mod),
                       ("pow", E.power), ("matmul", L.matmul)):
        setattr(T, f"__{dunder}__", fn)
        setattr(T, f"__r{dunder}__", _reflected(fn))
    T.__rmul__ = E._rmultiply      # `lr * grad` in updates: no wrapper frame
    T.__neg__ = E.negative
    T.__pos__ = lambda self: self
    T.__abs__ = E.abs
    T.__eq__ = E.equal
    T.__ne__ = E.not_equal
    T.__lt__ = E.less
    T.__le__ = E.less_equal
    T.__gt__ = E.greater
    T.__ge__ = E.greater_equal
    T.__and__ = E.logical_and
    T.__or__ = E.logical_or
    T.__xor__ = E.logical_xor
    T.__invert__ = E.logical_not
    T.__getitem__ = I.getitem
    # methods, NumPy/PyTorch style
    for name in ("exp", "log", "log1p", "expm1", "sqrt", "square", "abs", "sign", "sin", "cos",
                 "tanh", "sigmoid", "relu", "floor", "ceil", "round", "reciprocal"):
        setattr(T, name, getattr(E, name))
    T.clip = E.clip
    T.clamp = E.clip
    T.pow = E.power
    for name in ("sum", "mean", "prod", "max", "min", "var", "std", "norm", "logsumexp",
                 "argmax", "argmin", "all", "any", "cumsum"):
        setattr(T, name, getattr(R, name))

    def reshape(self, *shape):
        return S.reshape(self, *shape)
    T.reshape = reshape
    T.view = reshape
    T.flatten = S.flatten
    T.squeeze = S.squeeze
    T.unsqueeze = S.expand_dims
    T.expand_dims = S.expand_dims
    T.swapaxes = S.swapaxes
    def transpose(self, *axes):
        # NumPy's spelling is a full permutation; PyTorch's x.transpose(d0, d1) swaps two
        # axes: two ints on a tensor that is not 2-D can only mean the latter
        if len(axes) == 1:
            return S.transpose(self, axes[0])
        if len(axes) == 2 and self.data.ndim != 2:
            return S.swapaxes(self, *axes)
        return S.transpose(self, axes if axes else None)
    T.transpose = transpose
    T.permute = lambda self, *axes: S.transpose(self, axes[0] if len(axes) == 1 else axes)
    T.broadcast_to = S.broadcast_to
    T.repeat = S.repeat
    T.tile = S.tile
    T.flip = S.flip
    T.roll = S.roll
    T.matmul = L.matmul
    T.dot = L.dot
    T.take = I.take
    T.masked_fill = I.masked_fill
    T.softmax = nn.softmax
    T.log_softmax = nn.log_softmax


_install_tensor_methods()
