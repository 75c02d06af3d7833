"""Variable: a trainable (or not) weight of a layer, a Tensor with a name and path."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, _to_array
from ..backend import get_xp


class Variable(Tensor):
    """A layer weight: a leaf Tensor whose ``requires_grad`` follows ``trainable``.

    ``path`` is ``"<layer name>/<weight name>"`` (e.g. ``dense_1/kernel``), ``name`` the
    short name.  ``assign``/``assign_add``/``assign_sub`` overwrite the data in place
    (the array object is kept, so optimizer slots and views stay valid).
    """

    __slots__ = ("path", "_trainable", "regularizer", "constraint", "autocast")

    def __init__(self, value, name="variable", path=None, trainable=True, dtype=None):
        super().__init__(value, dtype=dtype)
        self.name = name
        self.path = path if path is not None else name
        self.regularizer = None
        self.constraint = None
        # False: used in its own dtype even under a mixed policy (Keras's Variable.autocast)
        self.autocast = True
        self._trainable = False
        self.trainable = trainable

    @property
    def trainable(self):
        """Whether optimizers update this variable; ``requires_grad`` follows it."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        self._trainable = value
        # integer variables (e.g. counters) can never require grad
        self.requires_grad = value and self.data.dtype.kind in "fc"

    @property
    def value(self):
        """The variable itself, usable in any op."""
        return self

    def _coerce(self, value, who):
        arr = value.data if isinstance(value, Tensor) else value
        xp = get_xp(self.data)
        if not hasattr(arr, "shape") or get_xp(arr) is not xp:
            arr = xp.asarray(_to_array(arr) if get_xp(arr) is np else arr)
        if tuple(arr.shape) != self.data.shape:
            try:
                arr = xp.broadcast_to(arr, self.data.shape)
            except ValueError:
                raise ValueError(f"Variable.{who}: '{self.path}' has shape {self.data.shape}, "
                                 f"got a value of shape {tuple(arr.shape)}") from None
        return arr

    def assign(self, value):
        """Overwrite the value in place (same shape); returns self."""
        arr = self._coerce(value, "assign")
        get_xp(self.data).copyto(self.data, arr, casting="unsafe")
        return self

    def assign_add(self, delta):
        """``self += delta`` in place, outside any graph; returns self."""
        arr = self._coerce(delta, "assign_add")
        get_xp(self.data).add(self.data, arr, out=self.data, casting="unsafe")
        return self

    def assign_sub(self, delta):
        """``self -= delta`` in place, outside any graph; returns self."""
        arr = self._coerce(delta, "assign_sub")
        get_xp(self.data).subtract(self.data, arr, out=self.data, casting="unsafe")
        return self

    def numpy(self):
        """A NumPy copy of the value (later in-place updates do not change it)."""
        d = self.data
        if isinstance(d, np.ndarray):
            return d.copy()
        return super().numpy()

    def __repr__(self):
        return (f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, "
                f"trainable={self._trainable}>")


__all__ = ["Variable"]
