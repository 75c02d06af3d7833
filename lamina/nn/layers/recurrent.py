"""Recurrent layers with Keras 3's names, arguments and weight layout.

``SimpleRNN``, ``LSTM`` and ``GRU`` run the whole sequence as one fused op
(:mod:`lamina.ops.recurrent`) when their activations are the defaults and there is no
recurrent dropout; otherwise they fall back to the generic :class:`RNN` loop over
their cell, one step at a time.  ``RNN(cell)`` accepts any cell with ``state_size``
and ``call(inputs, states, training=None) -> (output, new_states)``.
``Bidirectional`` and ``TimeDistributed`` wrap other layers.

Masks (from ``Embedding(mask_zero=True)`` or ``Masking``) reach ``call`` through the
layer system; at a masked step the states keep their values and the output repeats
the previous one, as in Keras.
"""
from __future__ import annotations

import numpy as np

from ... import ops as _ops  # noqa: F401  (installs Tensor methods)
from ...ops import recurrent as R
from ...ops.base import as_tensor_on
from ...ops.elementwise import where
from ...ops.shape import concatenate, flip, reshape, stack
from ...tensor import Tensor, _wrap
from .. import activations
from .base import InputSpec, Layer
from .core import (_add_weight_of, _on, _scaled_keep_mask, _seeded_generator, _ser,
                   _weight_args, _weight_config)

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "RNN", "SimpleRNN", "LSTM",
           "GRU", "Bidirectional", "TimeDistributed", "Wrapper"]


# ------------------------------------------------------------------ cells
class _Cell(Layer):
    """Shared parts of the built-in cells: weights' initializers/regularizers/constraints,
    dropout masks, config."""

    _size_name = "units"        # the constructor argument ``units`` stands for

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"{type(self).__name__}: {self._size_name} must be a positive "
                             f"integer, got {units}")
        for nm, r in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0 <= r < 1:
                raise ValueError(f"{type(self).__name__}: {nm} must be in [0, 1), got {r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        _weight_args(self, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        _weight_args(self, "recurrent", recurrent_initializer, recurrent_regularizer,
                     recurrent_constraint)
        _weight_args(self, "bias", bias_initializer, bias_regularizer, bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self._gen = None
        self._dp_mask = None
        self._rdp_mask = None

    _generator = _seeded_generator

    def _weights_for(self, input_dim, gates, bias_shape, bias_init=None):
        self.kernel = _add_weight_of(self, "kernel", (input_dim, gates * self.units))
        self.recurrent_kernel = _add_weight_of(self, "recurrent", (self.units, gates * self.units),
                                               "recurrent_kernel")
        self.bias = None
        if self.use_bias:
            self.bias = _add_weight_of(self, "bias", bias_shape, initializer=bias_init)

    def reset_dropout_masks(self):
        """Forget the per-sequence dropout masks (a new sequence draws new ones)."""
        self._dp_mask = None
        self._rdp_mask = None

    def _dropped(self, x, h, training):
        """``x`` and ``h`` times the input and recurrent dropout masks while training; the
        masks are drawn once per sequence (as Keras)."""
        if training:
            if self.dropout > 0:
                if self._dp_mask is None or self._dp_mask.shape != x.shape:
                    self._dp_mask = _scaled_keep_mask(x.shape, self.dropout, x,
                                                      self._generator())
                x = x * self._dp_mask
            if self.recurrent_dropout > 0:
                if self._rdp_mask is None or self._rdp_mask.shape != h.shape:
                    self._rdp_mask = _scaled_keep_mask(h.shape, self.recurrent_dropout, h,
                                                       self._generator())
                h = h * self._rdp_mask
        return x, h

    def get_initial_state(self, batch_size=None):
        """Zero states, one per entry of ``state_size``: (batch_size, size), or
        (batch_size,) + ``state_shape`` for a cell whose states are images (ConvLSTMCell)."""
        tail = getattr(self, "state_shape", None)
        return [_wrap(np.zeros((batch_size,) + (tuple(tail) if tail is not None else (s,)),
                               dtype=self._dtype)) for s in _sizes(self)]

    def get_config(self):
        cfg = super().get_config()
        cfg[self._size_name] = self.units
        cfg.update(activation=_ser("activations", self.activation), use_bias=self.use_bias)
        cfg.update(_weight_config(self, ("kernel", "recurrent", "bias")))
        cfg.update(dropout=self.dropout, recurrent_dropout=self.recurrent_dropout,
                   seed=self.seed)
        return cfg


class SimpleRNNCell(_Cell):
    """One step of a fully-connected RNN: h = activation(x @ kernel + h @ recurrent_kernel + b).

    Inputs (N, D) and states [h (N, units)] -> (h, [h]).
    """

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        self._weights_for(int(input_shape[-1]), 1, (self.units,))

    def call(self, inputs, states, training=None):
        h = states[0] if isinstance(states, (list, tuple)) else states
        x, hp = self._dropped(inputs, h, training)
        out = R.simple_rnn_cell(x, hp, self.kernel, self.recurrent_kernel, self.bias,
                                activation=self.activation)
        return out, [out] if isinstance(states, (list, tuple)) else out


def _forget_bias_init(cell):
    """The bias initializer of an LSTM-like ``cell`` (gate order i, f, c, o, ``cell.units``
    each): ones for the forget gate when ``unit_forget_bias``, else None (the cell's own)."""
    if not cell.unit_forget_bias:
        return None
    u, base = cell.units, cell.bias_initializer

    def init(shape, dtype=None):
        parts = [base((u,), dtype=dtype), np.ones((u,), dtype=dtype), base((2 * u,), dtype=dtype)]
        return np.concatenate([np.asarray(p.data if isinstance(p, Tensor) else p) for p in parts])
    return init


class LSTMCell(_Cell):
    """One LSTM step, Keras gate order (i, f, c, o): inputs (N, D), states [h, c] (N, units)
    -> (h, [h, c]).  ``unit_forget_bias`` initializes the forget gate's bias to ones."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    def build(self, input_shape):
        self._weights_for(int(input_shape[-1]), 4, (4 * self.units,), _forget_bias_init(self))

    def call(self, inputs, states, training=None):
        h, c = states
        x, hp = self._dropped(inputs, h, training)
        if self.activation is activations.tanh and self.recurrent_activation is \
                activations.sigmoid:
            h_new, c_new = R.lstm_cell(x, hp, c, self.kernel, self.recurrent_kernel, self.bias)
            return h_new, [h_new, c_new]
        H = self.units
        z = x @ self.kernel + hp @ self.recurrent_kernel
        if self.bias is not None:
            z = z + self.bias
        ra, act = self.recurrent_activation, self.activation
        i, f = ra(z[:, :H]), ra(z[:, H:2 * H])
        c_new = f * c + i * act(z[:, 2 * H:3 * H])
        h_new = ra(z[:, 3 * H:]) * act(c_new)
        return h_new, [h_new, c_new]

    def get_config(self):
        cfg = super().get_config()
        cfg.update(recurrent_activation=_ser("activations", self.recurrent_activation),
                   unit_forget_bias=self.unit_forget_bias)
        return cfg


class GRUCell(_Cell):
    """One GRU step, Keras gate order (z, r, h): inputs (N, D), states [h] -> (h, [h]).
    ``reset_after=True`` (Keras 3's default, PyTorch's formula) uses a (2, 3 * units) bias."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        bshape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        self._weights_for(int(input_shape[-1]), 3, bshape)

    def call(self, inputs, states, training=None):
        h = states[0] if isinstance(states, (list, tuple)) else states
        x, hp = self._dropped(inputs, h, training)
        H = self.units
        ra, act = self.recurrent_activation, self.activation
        xw = x @ self.kernel
        U, b = self.recurrent_kernel, self.bias
        if self.reset_after:
            hu = hp @ U
            if b is not None:
                xw, hu = xw + b[0], hu + b[1]
            z = ra(xw[:, :H] + hu[:, :H])
            r = ra(xw[:, H:2 * H] + hu[:, H:2 * H])
            hh = act(xw[:, 2 * H:] + r * hu[:, 2 * H:])
        else:
            if b is not None:
                xw = xw + b
            hzr = hp @ U[:, :2 * H]
            z = ra(xw[:, :H] + hzr[:, :H])
            r = ra(xw[:, H:2 * H] + hzr[:, H:])
            hh = act(xw[:, 2 * H:] + (r * hp) @ U[:, 2 * H:])
        h_new = z * h + (1 - z) * hh
        return h_new, [h_new] if isinstance(states, (list, tuple)) else h_new

    def get_config(self):
        cfg = super().get_config()
        cfg.update(recurrent_activation=_ser("activations", self.recurrent_activation),
                   reset_after=self.reset_after)
        return cfg


class StackedRNNCells(Layer):
    """Several cells run as one: the output of each is the input of the next; the state is
    the concatenation of their state lists."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        self.cells = list(cells)

    @property
    def state_size(self):
        out = []
        for c in self.cells:
            s = c.state_size
            out.extend(s if isinstance(s, (list, tuple)) else [s])
        return out

    @property
    def output_size(self):
        c = self.cells[-1]
        return getattr(c, "output_size", None) or _sizes(c)[0]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for c in self.cells:
            if not c.built:
                c.build(shape)
                c.built = True
            shape = shape[:-1] + (getattr(c, "output_size", None) or _sizes(c)[0],)

    def get_initial_state(self, batch_size=None):
        return [s for c in self.cells for s in _initial_state(c, batch_size)]

    def get_config(self):
        from .. import serialization
        cfg = super().get_config()
        cfg["cells"] = [serialization.serialize_layer(c) for c in self.cells]
        return cfg

    @classmethod
    def from_config(cls, config):
        from .. import serialization
        config = dict(config)
        config["cells"] = [serialization.deserialize_layer(c) for c in config["cells"]]
        return cls(**config)

    def call(self, inputs, states, training=None):
        out, new, i = inputs, [], 0
        for c in self.cells:
            n = len(_sizes(c))
            out, st = _cell_step(c, out, list(states[i:i + n]), training)
            new.extend(st)
            i += n
        return out, new


def _sizes(cell):
    s = cell.state_size
    return list(s) if isinstance(s, (list, tuple)) else [s]


def _initial_state(cell, batch_size):
    if hasattr(cell, "get_initial_state"):
        return list(cell.get_initial_state(batch_size=batch_size))
    return [_wrap(np.zeros((batch_size, s), dtype=np.float32)) for s in _sizes(cell)]


def _cell_step(cell, x, states, training):
    """Run one step of any cell; returns (output, list of new states)."""
    if isinstance(cell, Layer) and cell._call_has_training:
        out, new = cell(x, states, training=training)
    else:
        out, new = cell(x, states)
    if not isinstance(new, (list, tuple)):
        new = [new]
    return out, list(new)


def _sequence_shape(layer, input_shape, expected):
    """``input_shape`` as a tuple, checked to have a batch and a time axis at least."""
    shape = tuple(input_shape)
    if len(shape) < 3:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': expected inputs of shape "
                         f"{expected}, got {shape}")
    return shape


# ------------------------------------------------------------------ RNN layers
class RNN(Layer):
    """Runs ``cell`` over the time axis of (N, T, D) inputs.

    Returns the last output (N, units), or every output (N, T, units) with
    ``return_sequences``; with ``return_state`` also the final states.  ``go_backwards``
    reads the sequence from its end.  ``stateful`` carries the final states of a batch into
    the next call (``reset_states()`` clears them).  A list of cells is stacked.
    """

    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
            raise ValueError(f"RNN '{self.name}': the cell must have a call(inputs, states) "
                             f"method and a state_size attribute, got {type(cell).__name__}")
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.input_spec = InputSpec(min_ndim=3)
        self.supports_masking = True
        self._states = None

    @property
    def states(self):
        """The carried states of a stateful layer (None before the first call)."""
        return self._states

    def reset_states(self, states=None):
        """Clear (or set) the carried states of a stateful layer."""
        if states is None:
            self._states = None
        else:
            states = states if isinstance(states, (list, tuple)) else [states]
            self._states = [s if isinstance(s, Tensor) else _wrap(np.asarray(s, self._dtype))
                            for s in states]

    reset_state = reset_states

    def build(self, input_shape):
        shape = _sequence_shape(self, input_shape, "(batch, timesteps, features)")
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell._build_shapes = (shape[0],) + shape[2:]
            self.cell.build((shape[0],) + shape[2:])
            self.cell.built = True

    def compute_mask(self, inputs, previous_mask=None):
        if previous_mask is None or not self.return_sequences:
            return None
        return previous_mask

    def _initial_states(self, inputs, initial_state):
        N = inputs.shape[0]
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else \
                [initial_state]
            sizes = _sizes(self.cell)
            if len(states) != len(sizes):
                raise ValueError(f"layer '{self.name}' ({type(self).__name__}) expects "
                                 f"{len(sizes)} initial state(s), got {len(states)}")
            # a cell with image states (ConvLSTMCell) gives their shape; others one size each
            tail = getattr(self.cell, "state_shape", None)
            out = []
            for s, n in zip(states, sizes):
                # host data follows the inputs (to the GPU beside GPU inputs)
                s = s if isinstance(s, Tensor) else as_tensor_on(s, inputs, self._dtype)
                want = (N,) + (tuple(tail) if tail is not None else (n,))
                if tuple(s.shape) != want:
                    raise ValueError(f"layer '{self.name}' ({type(self).__name__}): an initial "
                                     f"state has shape {tuple(s.shape)}, expected {want}")
                out.append(s)
            return out
        if self.stateful and self._states is not None:
            # a new batch size (e.g. after the symbolic build of a model) starts afresh
            if self._states[0].shape[0] == N:
                return list(self._states)
        return None

    def call(self, inputs, mask=None, training=None, initial_state=None):
        states = self._initial_states(inputs, initial_state)
        if mask is not None:
            mask = mask.numpy() if isinstance(mask, Tensor) else np.asarray(mask)
            mask = mask.astype(bool)
        seq, last, new_states = self._run(inputs, states, mask, training)
        if self.stateful:
            self._states = [s.detach() for s in new_states]
        out = seq if self.return_sequences else last
        if self.zero_output_for_mask and mask is not None:
            # outputs at masked steps become zeros (processing order, as Keras)
            m = mask[:, ::-1] if self.go_backwards else mask
            m = m if self.return_sequences else m[:, -1]
            m = m.reshape(m.shape + (1,) * (out.ndim - m.ndim))     # (N[, T], 1, ...)
            out = where(_on(m, out), out, _on(np.zeros((), out.dtype), out))
        if self.return_state:
            return [out] + list(new_states)
        return out

    def _run(self, inputs, states, mask, training):
        """The generic loop: (outputs (N, T, H) or None, last output, final states)."""
        cell = self.cell
        N, T = inputs.shape[0], inputs.shape[1]
        if states is None:
            states = [_on(s.numpy(), inputs) for s in _initial_state(cell, N)]
        if hasattr(cell, "reset_dropout_masks"):
            cell.reset_dropout_masks()
        steps = range(T - 1, -1, -1) if self.go_backwards else range(T)
        outs, prev = [], None
        for t in steps:
            out, new = _cell_step(cell, inputs[:, t], states, training)
            if mask is not None:
                mt = _on(mask[:, t].reshape((-1,) + (1,) * (out.ndim - 1)), out)
                if prev is None:
                    prev = _on(np.zeros((), out.dtype), out)
                out = where(mt, out, prev)
                new = [where(mt, n, s) for n, s in zip(new, states)]
            states, prev = new, out
            if self.return_sequences or not outs:
                outs.append(out)
            else:
                outs[0] = out
        seq = stack(outs, axis=1) if self.return_sequences else None
        return seq, outs[-1], states

    def get_config(self):
        cfg = super().get_config()
        cfg.update(return_sequences=self.return_sequences, return_state=self.return_state,
                   go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll,
                   zero_output_for_mask=self.zero_output_for_mask)
        if type(self) is RNN:
            from .. import serialization
            cfg["cell"] = serialization.serialize_layer(self.cell)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if cls is RNN:
            from .. import serialization
            config["cell"] = serialization.deserialize_layer(config["cell"])
        return cls(**config)


_RNN_ARGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
             "zero_output_for_mask", "name", "trainable", "dtype", "input_shape", "input_dim",
             "batch_input_shape", "batch_size", "activity_regularizer")


class _CellRNN(RNN):
    """An RNN layer over a cell it makes itself (``_cell_cls``) from the arguments that are
    not the RNN's own; the cell's attributes and config read through the layer, as Keras's
    LSTM or ConvLSTM2D show their cell's."""

    _cell_cls = None

    def __init__(self, *cell_args, **kwargs):
        layer_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in _RNN_ARGS}
        cell_kw = dict(kwargs)
        if "dtype" in layer_kw:
            cell_kw["dtype"] = layer_kw["dtype"]
        cell_kw.setdefault("trainable", layer_kw.get("trainable", True))
        cell = self._cell_cls(*cell_args, name=f"{self._cell_name()}", **cell_kw)
        super().__init__(cell, **layer_kw)

    @classmethod
    def _cell_name(cls):
        from .base import to_snake_case, unique_name
        return unique_name(to_snake_case(cls._cell_cls.__name__))

    def __getattr__(self, name):
        # units, activation, kernel, bias... read through to the cell, as Keras does
        if name.startswith("_") or name == "cell":
            raise AttributeError(name)
        cell = self.__dict__.get("cell")
        if cell is not None and hasattr(cell, name):
            return getattr(cell, name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def get_config(self):
        cfg = super().get_config()
        cell_cfg = self.cell.get_config()
        for k in ("name", "trainable", "dtype", "batch_input_shape"):
            cell_cfg.pop(k, None)
        cfg.update(cell_cfg)
        return cfg


class _FusedRNN(_CellRNN):
    """An RNN over a built-in cell whose default configuration runs as one fused op."""

    def __init__(self, units, **kwargs):
        for k in ("use_cudnn", "implementation", "time_major"):
            kwargs.pop(k, None)     # backend choices in Keras; one fused op here
        super().__init__(units, **kwargs)

    def _fusable(self):
        c = self.cell
        return c.recurrent_dropout == 0

    def _run(self, inputs, states, mask, training):
        if not self._fusable() or not isinstance(inputs, Tensor) or inputs.ndim != 3:
            return super()._run(inputs, states, mask, training)
        c = self.cell
        x = inputs
        if training and c.dropout > 0:
            # Keras applies one input dropout mask to every time step
            N, _, D = x.shape
            x = x * reshape(_scaled_keep_mask((N, D), c.dropout, x, c._generator()), (N, 1, D))
        if not self.return_sequences and isinstance(self, LSTM):
            # only the last output is used: the op skips the whole output sequence
            res = self._fused(x, states, mask, return_sequences=False)
            return None, res[0], list(res[1:])
        res = self._fused(x, states, mask)
        seq = res[0]
        last = seq[:, -1]
        return seq, last, list(res[1:])


class SimpleRNN(_FusedRNN):
    """Fully-connected RNN layer (Keras ``SimpleRNN``): (N, T, D) -> (N, units) or
    (N, T, units).  Weights: kernel (D, units), recurrent_kernel (units, units), bias."""

    _cell_cls = SimpleRNNCell

    def _fusable(self):
        a = self.cell.activation
        return super()._fusable() and (a is activations.tanh or a is activations.relu)

    def _fused(self, x, states, mask):
        c = self.cell
        h0 = states[0] if states else None
        act = "tanh" if c.activation is activations.tanh else "relu"
        return R.simple_rnn(x, h0, c.kernel, c.recurrent_kernel, c.bias, mask=mask,
                            go_backwards=self.go_backwards, activation=act)


class _GatedRNN(_FusedRNN):
    """LSTM and GRU: fused when the activations are Keras's defaults (tanh, sigmoid)."""

    def _fusable(self):
        c = self.cell
        return super()._fusable() and c.activation is activations.tanh and \
            c.recurrent_activation is activations.sigmoid


class LSTM(_GatedRNN):
    """Long short-term memory layer (Keras ``LSTM``): (N, T, D) -> (N, units) or
    (N, T, units); states [h, c].  Weights: kernel (D, 4u), recurrent_kernel (u, 4u),
    bias (4u,), gate order (i, f, c, o)."""

    _cell_cls = LSTMCell

    def _fused(self, x, states, mask, return_sequences=True):
        c = self.cell
        h0, c0 = states if states else (None, None)
        return R.lstm(x, h0, c0, c.kernel, c.recurrent_kernel, c.bias, mask=mask,
                      go_backwards=self.go_backwards, return_sequences=return_sequences)


class GRU(_GatedRNN):
    """Gated recurrent unit layer (Keras ``GRU``): (N, T, D) -> (N, units) or (N, T, units).
    Weights: kernel (D, 3u), recurrent_kernel (u, 3u), bias (2, 3u) with ``reset_after``
    (default) else (3u,); gate order (z, r, h)."""

    _cell_cls = GRUCell

    def _fused(self, x, states, mask):
        c = self.cell
        h0 = states[0] if states else None
        return R.gru(x, h0, c.kernel, c.recurrent_kernel, c.bias, mask=mask,
                     go_backwards=self.go_backwards, reset_after=c.reset_after)


# ------------------------------------------------------------------ wrappers
def _clone_layer(layer, **overrides):
    cfg = layer.get_config()
    cfg.pop("name", None)
    cfg.update(overrides)
    return type(layer).from_config(cfg)


class Bidirectional(Layer):
    """Runs a recurrent ``layer`` forwards and a copy of it backwards and merges the
    outputs: ``merge_mode`` 'concat' (default), 'sum', 'mul', 'ave', or None (a list)."""

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, RNN):
            raise ValueError(f"Bidirectional: expected a recurrent layer (RNN, LSTM, GRU, ...), "
                             f"got {type(layer).__name__}")
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"Bidirectional: merge_mode must be 'concat', 'sum', 'mul', 'ave' "
                             f"or None, got {merge_mode!r}")
        if backward_layer is None:
            backward_layer = _clone_layer(layer, go_backwards=not layer.go_backwards)
        elif backward_layer.go_backwards == layer.go_backwards:
            raise ValueError("Bidirectional: backward_layer.go_backwards must be the opposite "
                             "of layer.go_backwards")
        self.forward_layer = layer
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        for lay in (layer, backward_layer):
            # as Keras: masked steps of the merged sequence are zeros
            lay.zero_output_for_mask = lay.return_sequences
        self._initial_weights = weights

    def build(self, input_shape):
        for lay in (self.forward_layer, self.backward_layer):
            if not lay.built:
                lay._build_shapes = tuple(input_shape)
                lay.build(tuple(input_shape))
                lay.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_mask(self, inputs, previous_mask=None):
        if previous_mask is None or not self.return_sequences:
            return None
        return previous_mask

    def call(self, inputs, mask=None, training=None, initial_state=None):
        fs = bs = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fs, bs = initial_state[:half], initial_state[half:]
        kw = dict(mask=mask, training=training)
        yf = self.forward_layer.call(inputs, initial_state=fs, **kw)
        yb = self.backward_layer.call(inputs, initial_state=bs, **kw)
        sf = sb = []
        if self.return_state:
            yf, sf = yf[0], yf[1:]
            yb, sb = yb[0], yb[1:]
        if self.return_sequences:
            yb = flip(yb, axis=1)       # back in input order
        mm = self.merge_mode
        if mm == "concat":
            out = concatenate([yf, yb], axis=-1)
        elif mm == "sum":
            out = yf + yb
        elif mm == "ave":
            out = (yf + yb) * 0.5
        elif mm == "mul":
            out = yf * yb
        else:
            out = [yf, yb]
        if self.return_state:
            outs = out if mm is None else [out]
            return outs + list(sf) + list(sb)
        return out

    def get_config(self):
        from .. import serialization
        cfg = super().get_config()
        cfg["layer"] = serialization.serialize_layer(self.forward_layer)
        cfg["backward_layer"] = serialization.serialize_layer(self.backward_layer)
        cfg["merge_mode"] = self.merge_mode
        return cfg

    @classmethod
    def from_config(cls, config):
        from .. import serialization
        config = dict(config)
        config["layer"] = serialization.deserialize_layer(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = serialization.deserialize_layer(config["backward_layer"])
        return cls(**config)


class Wrapper(Layer):
    """Base of the layers that wrap another one (Keras ``Wrapper``): keeps it as ``layer``,
    builds it with the wrapper's input shape unless the subclass does, and serializes it in
    the config.  Subclasses write ``call``."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"{type(self).__name__}: expected a layer to wrap, got "
                             f"{type(layer).__name__}")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer._build_shapes = input_shape
            self.layer.build(input_shape)
            self.layer.built = True

    def get_config(self):
        from .. import serialization
        cfg = super().get_config()
        cfg["layer"] = serialization.serialize_layer(self.layer)
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .. import serialization
        config = dict(config)
        config["layer"] = serialization.deserialize_layer(config["layer"], custom_objects)
        return cls(**config)


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every time step: (N, T, ...) -> (N, T, ...'), by folding the time
    axis into the batch."""

    supports_masking = True

    def build(self, input_shape):
        shape = _sequence_shape(self, input_shape, "(batch, time, ...)")
        super().build((None if shape[0] is None or shape[1] is None else shape[0] * shape[1],)
                      + shape[2:])

    def call(self, inputs, training=None, mask=None):
        N, T = inputs.shape[0], inputs.shape[1]
        x = reshape(inputs, (N * T,) + tuple(inputs.shape[2:]))
        y = self.layer(x, training=training)
        return reshape(y, (N, T) + tuple(y.shape[1:]))
