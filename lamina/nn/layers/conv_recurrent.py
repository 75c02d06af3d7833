"""Convolutional LSTMs (Keras 3's ``ConvLSTM1D``, ``ConvLSTM2D``, ``ConvLSTM3D``): an LSTM
over a sequence of signals, images or volumes whose matrix products are convolutions, so
its states are images too.  One cell serves every rank (1, 2, 3: lamina's conv1d, conv2d,
conv3d ops).

Per step, with x_t (N, *spatial, C) and the states h, c (N, *spatial', filters)::

    z = conv(x_t, kernel, strides, padding, dilation) + bias + conv(h, recurrent_kernel, 'same')
    i, f, o = recurrent_activation(z_i, z_f, z_o);   g = activation(z_g)
    c' = f * c + i * g;   h' = o * activation(c')

with Keras's gate order (i, f, c, o) along the last axis of the kernels (*kernel_size, C,
4 filters) and (*kernel_size, filters, 4 filters): weights move between lamina and Keras unchanged.  The
layer is the generic :class:`~lamina.nn.layers.recurrent.RNN` loop over a cell built from
lamina's ``conv2d`` op, so ``return_sequences``, ``return_state``, ``go_backwards``,
``stateful``, masks and ``initial_state`` behave as for LSTM, and the gradient comes from
the ops' own VJPs.  With ``data_format='channels_first'`` (or that global setting) inputs
and states are (N, T, C, *spatial) and (N, filters, *spatial'); each step moves the
channels last for the convolutions and back.

Dropout draws one mask per gate for the sequence (Keras 2's rule; Keras 3 indexes the first
row of a single mask, which shares it across the batch).
"""
from __future__ import annotations

from .. import activations
from ...ops import conv as _C
from ...ops.shape import concatenate
from .base import InputSpec
from .conv import _data_format, _to_first, _to_last
from .core import _add_weight_of, _scaled_keep_mask, _ser
from .recurrent import _Cell, _CellRNN, _forget_bias_init

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]

_SPATIAL = {1: "length", 2: "height, width", 3: "depth, height, width"}


class ConvLSTMCell(_Cell):
    """One ConvLSTM step of rank 1, 2 or 3: inputs (N, *spatial, C), states [h, c]
    (N, *spatial', filters) -> (h', [h', c'])."""

    _size_name = "filters"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, rank=2, **kwargs):
        super().__init__(filters, activation=activation, **kwargs)
        if rank not in (1, 2, 3):
            raise ValueError(f"ConvLSTMCell: rank must be 1, 2 or 3, got {rank!r}")
        self.rank = rank
        who = self._who = f"ConvLSTM{rank}D"
        self._conv_op = (_C.conv1d, _C.conv2d, _C.conv3d)[rank - 1]
        self.filters = self.units
        self.kernel_size = _C.normalize_tuple(kernel_size, rank, "kernel_size", who)
        self.strides = _C.normalize_tuple(strides, rank, "strides", who)
        self.dilation_rate = _C.normalize_tuple(dilation_rate, rank, "dilation_rate", who)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{who}: strides > 1 cannot be combined with dilation_rate > 1; "
                             f"got strides={self.strides}, dilation_rate={self.dilation_rate}")
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{who}: padding must be 'valid' or 'same', got {padding!r}")
        self.data_format = _data_format(data_format, f"{type(self).__name__} '{self.name}'")
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self._masks = {}
        self.state_size = [self.filters, self.filters]     # channels; the sizes come later
        self.output_size = self.filters

    def build(self, input_shape):
        shape = tuple(input_shape)
        first = self.data_format == "channels_first"
        if len(shape) != self.rank + 2 or any(v is None for v in shape[1:]):
            layout = (f"channels, {_SPATIAL[self.rank]}" if first else
                      f"{_SPATIAL[self.rank]}, channels")
            raise ValueError(f"{self._who}: each step must have a known shape (batch, "
                             f"{layout}), got {shape}")
        spatial, C = (shape[2:], shape[1]) if first else (shape[1:-1], shape[-1])
        out = tuple(_C.conv_output_length(int(n), k, self.padding, s, d) for n, k, s, d in
                    zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        # the states' shape as the layer returns them (channels first or last)
        self.state_shape = (self.filters,) + out if first else out + (self.filters,)
        F = self.filters
        self.kernel = _add_weight_of(self, "kernel", self.kernel_size + (int(C), 4 * F))
        self.recurrent_kernel = _add_weight_of(self, "recurrent", self.kernel_size + (F, 4 * F),
                                               "recurrent_kernel")
        self.bias = None
        if self.use_bias:
            self.bias = _add_weight_of(self, "bias", (4 * F,),
                                       initializer=_forget_bias_init(self))

    def reset_dropout_masks(self):
        """Forget the per-sequence dropout masks (a new sequence draws new ones)."""
        self._masks = {}

    def _gate_masks(self, which, x, rate):
        """Four dropout masks shaped like ``x`` (one per gate), drawn once per sequence."""
        masks = self._masks.get(which)
        if masks is None or masks[0].shape != x.shape:
            masks = [_scaled_keep_mask(x.shape, rate, x, self._generator()) for _ in range(4)]
            self._masks[which] = masks
        return masks

    def _conv(self, x, kernel, bias, strides, padding, dilation, which, rate, training):
        """conv(x, kernel) + bias, (N, *spatial', 4 filters); with dropout each gate's
        quarter of the kernel sees its own masked copy of ``x``."""
        conv = self._conv_op
        if not (training and rate > 0):
            return conv(x, kernel, bias, strides, padding, dilation)
        F = self.filters
        parts = [conv(x * m, kernel[..., g * F:(g + 1) * F],
                           None if bias is None else bias[g * F:(g + 1) * F],
                           strides, padding, dilation)
                 for g, m in enumerate(self._gate_masks(which, x, rate))]
        return concatenate(parts, axis=-1)

    def call(self, inputs, states, training=None):
        h, c = states
        first = self.data_format == "channels_first"
        if first:
            # the convolutions work channels-last: move the channels there and back
            inputs, h, c = (_to_last(a, self.rank) for a in (inputs, h, c))
        F = self.filters
        z = self._conv(inputs, self.kernel, self.bias, self.strides, self.padding,
                       self.dilation_rate, "input", self.dropout, training) + \
            self._conv(h, self.recurrent_kernel, None, 1, "same", 1, "recurrent",
                       self.recurrent_dropout, training)
        ra, act = self.recurrent_activation, self.activation
        i, f = ra(z[..., :F]), ra(z[..., F:2 * F])
        c_new = f * c + i * act(z[..., 2 * F:3 * F])
        h_new = ra(z[..., 3 * F:]) * act(c_new)
        if first:
            h_new, c_new = _to_first(h_new, self.rank), _to_first(c_new, self.rank)
        return h_new, [h_new, c_new]

    def get_config(self):
        cfg = super().get_config()
        cfg.update(kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
                   data_format=self.data_format, dilation_rate=self.dilation_rate,
                   recurrent_activation=_ser("activations", self.recurrent_activation),
                   unit_forget_bias=self.unit_forget_bias, rank=self.rank)
        return cfg


class _ConvLSTM(_CellRNN):
    """Shared body of ConvLSTM1D/2D/3D (``rank`` says which): (N, T, *spatial, C) ->
    (N, *spatial', filters), or (N, T, *spatial', filters) with ``return_sequences``."""

    _cell_cls = ConvLSTMCell
    rank = 2

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, rank=self.rank, **kwargs)
        self.input_spec = InputSpec(ndim=self.rank + 3)

    def build(self, input_shape):
        if len(tuple(input_shape)) != self.rank + 3:
            raise ValueError(f"ConvLSTM{self.rank}D '{self.name}': expected inputs of shape "
                             f"(batch, time, {_SPATIAL[self.rank]}, channels) (channels "
                             f"after time with channels_first), got "
                             f"{tuple(input_shape)}")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        n, t = tuple(input_shape)[:2]
        if not self.cell.built:
            self.build(input_shape)
        state = (n,) + self.cell.state_shape
        out = ((n, t) if self.return_sequences else (n,)) + self.cell.state_shape
        return [out, state, state] if self.return_state else out

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("rank", None)       # implied by the class, as in Keras
        cfg["activity_regularizer"] = _ser("regularizers", self.activity_regularizer)
        return cfg


class ConvLSTM1D(_ConvLSTM):
    """1-D convolutional LSTM (Keras ``ConvLSTM1D``): (N, T, L, C) -> (N, L', filters).
    Weights: kernel (K, C, 4 filters), recurrent_kernel (K, filters, 4 filters), bias
    (4 filters,), gate order (i, f, c, o)."""

    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """2-D convolutional LSTM (Keras ``ConvLSTM2D``): (N, T, H, W, C) -> (N, H', W', filters),
    or (N, T, H', W', filters) with ``return_sequences``; states [h, c] of the output's
    shape.  Weights: kernel (KH, KW, C, 4 filters), recurrent_kernel (KH, KW, filters,
    4 filters), bias (4 filters,), gate order (i, f, c, o)."""

    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """3-D convolutional LSTM (Keras ``ConvLSTM3D``): (N, T, D, H, W, C) ->
    (N, D', H', W', filters).  Weights: kernel (KD, KH, KW, C, 4 filters),
    recurrent_kernel (KD, KH, KW, filters, 4 filters), bias (4 filters,)."""

    rank = 3
