"""Convolution layers with Keras 3's names, arguments and weights: Conv1D, Conv2D
(Convolution2D), Conv3D, DepthwiseConv2D, SeparableConv2D, Conv1DTranspose, Conv2DTranspose,
Conv3DTranspose.

Weights keep Keras's layouts (kernel HWIO, transposed kernel (KH, KW, filters, in)), so they
move between lamina and Keras unchanged.  Inputs are channels-last; ``data_format=
'channels_first'`` transposes around the channels-last op.
"""
from __future__ import annotations

from ...ops import conv as _C
from ...ops.shape import expand_dims, squeeze, transpose
from .base import InputSpec, Layer
from .core import _act_get, _act_ser, _add_weight_of, _weight_args, _weight_config

__all__ = ["Conv1D", "Conv2D", "Convolution1D", "Convolution2D", "DepthwiseConv2D",
           "SeparableConv2D", "Conv1DTranspose", "Conv2DTranspose",
           "Convolution2DTranspose", "Convolution1DTranspose", "DepthwiseConv1D",
           "SeparableConv1D", "SeparableConvolution1D", "SeparableConvolution2D", "Conv3D",
           "Convolution3D", "Conv3DTranspose", "Convolution3DTranspose"]


def _data_format(value, who):
    """A layer's data format: ``value``, or (None) keras.config.image_data_format() at the
    time the layer is made, as Keras resolves it."""
    if value is None:
        from ..keras_backend import image_data_format
        value = image_data_format()
    df = str(value).lower()
    if df not in ("channels_last", "channels_first"):
        raise ValueError(f"{who}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {value!r}")
    return df


def _to_last(x, nd):
    return transpose(x, (0,) + tuple(range(2, nd + 2)) + (1,))


def _to_first(x, nd):
    return transpose(x, (0, nd + 1) + tuple(range(1, nd + 1)))


def _relu():
    """Keras's relu activation function (the object ``activations.get('relu')`` gives)."""
    from .. import activations
    return activations.relu


def _padding(value, who, allowed):
    p = str(value).lower()
    if p not in allowed:
        raise ValueError(f"{who}: padding must be one of {allowed}, got {value!r}")
    return p


class _SpatialLayer(Layer):
    """Shared plumbing: rank, data_format, moving channels last and back."""

    rank = 2

    def _channels(self, input_shape):
        ax = 1 if self.data_format == "channels_first" else -1
        c = input_shape[ax]
        if c is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': the channel axis of the "
                             f"input must be known, got input shape {tuple(input_shape)}")
        return int(c), ax

    def _spatial(self, input_shape):
        s = tuple(input_shape)
        return s[2:] if self.data_format == "channels_first" else s[1:-1]

    def _out_shape(self, input_shape, spatial_out, channels=None):
        """The output shape for ``spatial_out`` sizes and ``channels`` (None: the input's)."""
        s = tuple(input_shape)
        n = s[0]
        if channels is None:
            channels = s[1] if self.data_format == "channels_first" else s[-1]
        if self.data_format == "channels_first":
            return (n, channels) + tuple(spatial_out)
        return (n,) + tuple(spatial_out) + (channels,)

    def _apply(self, x, fn):
        if self.data_format == "channels_first":
            return _to_first(fn(_to_last(x, self.rank)), self.rank)
        return fn(x)


class _ConvBase(_SpatialLayer):
    """Shared arguments of the convolution layers: kernel_size, strides, dilation_rate,
    padding, data_format, activation, use_bias; the windowed output sizes."""

    def _conv_args(self, who, kernel_size, strides, padding, dilation_rate, data_format,
                   activation, use_bias, allowed=("valid", "same")):
        r = self.rank
        self.kernel_size = _C.normalize_tuple(kernel_size, r, "kernel_size", who)
        self.strides = _C.normalize_tuple(strides, r, "strides", who)
        self.dilation_rate = _C.normalize_tuple(dilation_rate, r, "dilation_rate", who)
        self.padding = _padding(padding, who, allowed)
        self.data_format = _data_format(data_format, who)
        self.activation = _act_get(activation)
        self.use_bias = bool(use_bias)

    def _conv_spatial_out(self, input_shape):
        return tuple(None if n is None else _C.conv_output_length(n, k, self.padding, s, d)
                     for n, k, s, d in zip(self._spatial(input_shape), self.kernel_size,
                                           self.strides, self.dilation_rate))

    def _bias_weight(self, size):
        return _add_weight_of(self, "bias", (size,)) if self.use_bias else None

    def _activate(self, y):
        return y if self.activation is None else self.activation(y)

    def _conv_config(self):
        return {"kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate}


class _Conv(_ConvBase):
    """Base of Conv1D / Conv2D: ``activation(conv(inputs, kernel) + bias)``."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        self.rank = rank
        if not isinstance(filters, int) or isinstance(filters, bool) or filters <= 0:
            raise ValueError(f"{who}: filters must be a positive int, got {filters!r}")
        self.filters = filters
        self.groups = int(groups)
        if self.groups < 1 or filters % self.groups:
            raise ValueError(f"{who}: filters ({filters}) must be divisible by groups "
                             f"({groups})")
        allowed = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
        self._conv_args(who, kernel_size, strides, padding, dilation_rate, data_format,
                        activation, use_bias, allowed)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{who}: strides > 1 together with dilation_rate > 1 is not "
                             f"supported (as in Keras), got strides={self.strides}, "
                             f"dilation_rate={self.dilation_rate}")
        _weight_args(self, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        _weight_args(self, "bias", bias_initializer, bias_regularizer, bias_constraint)
        self.input_spec = InputSpec(min_ndim=rank + 2)

    def build(self, input_shape):
        c, ax = self._channels(input_shape)
        if c % self.groups:
            raise ValueError(f"{type(self).__name__} '{self.name}': input channels ({c}) must "
                             f"be divisible by groups ({self.groups}); input shape "
                             f"{tuple(input_shape)}")
        self.kernel = _add_weight_of(self, "kernel",
                                     self.kernel_size + (c // self.groups, self.filters))
        self.bias = self._bias_weight(self.filters)
        self.input_spec = InputSpec(min_ndim=self.rank + 2, axes={ax: c})
        self.built = True

    def call(self, inputs):
        # relu with Keras's defaults fuses into the 2-D conv op (one node, no extra passes)
        fuse = self.rank == 2 and self.activation is _relu()
        if self.rank == 3:
            y = self._apply(inputs, lambda x: _C.conv3d(
                x, self.kernel, self.bias, strides=self.strides, padding=self.padding,
                dilation_rate=self.dilation_rate))
            return self._activate(y)
        op = (_C.conv2d_relu if fuse else _C.conv2d) if self.rank == 2 else _C.conv1d
        y = self._apply(inputs, lambda x: op(x, self.kernel, self.bias, strides=self.strides,
                                             padding=self.padding,
                                             dilation_rate=self.dilation_rate,
                                             groups=self.groups))
        return y if fuse else self._activate(y)

    def compute_output_shape(self, input_shape):
        return self._out_shape(input_shape, self._conv_spatial_out(input_shape), self.filters)

    def get_config(self):
        cfg = super().get_config()
        cfg["filters"] = self.filters
        cfg.update(self._conv_config())
        cfg.update({"groups": self.groups, "activation": _act_ser(self.activation),
                    "use_bias": self.use_bias})
        cfg.update(_weight_config(self, ("kernel", "bias"), activity=True))
        return cfg


class Conv2D(_Conv):
    """2-D convolution layer: (N, H, W, C) -> (N, Ho, Wo, filters); kernel
    (KH, KW, C/groups, filters), bias (filters,)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         groups, activation, use_bias, kernel_initializer, bias_initializer,
                         **kwargs)


class Conv1D(_Conv):
    """1-D convolution layer: (N, L, C) -> (N, Lo, filters); kernel (K, C/groups, filters);
    padding 'valid', 'same' or 'causal'."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         groups, activation, use_bias, kernel_initializer, bias_initializer,
                         **kwargs)


class Conv3D(_Conv):
    """3-D convolution layer (volumes, video): (N, D, H, W, C) -> (N, Do, Ho, Wo, filters);
    kernel (KD, KH, KW, C, filters); padding 'valid' or 'same'; groups=1 only."""

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1, 1), groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        if groups != 1:
            raise ValueError(f"Conv3D: groups={groups} is not supported (only 1)")
        super().__init__(3, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         groups, activation, use_bias, kernel_initializer, bias_initializer,
                         **kwargs)


Convolution2D = Conv2D
Convolution1D = Conv1D
Convolution3D = Conv3D


def _depthwise(layer, x, kernel, bias):
    """The depthwise convolution of ``layer`` (rank 1 or 2) on channels-last ``x``; a 1-D
    one runs as a 2-D one over a height of 1."""
    if layer.rank == 2:
        return _C.depthwise_conv2d(x, kernel, bias, strides=layer.strides,
                                   padding=layer.padding, dilation_rate=layer.dilation_rate)
    y = _C.depthwise_conv2d(expand_dims(x, 1), expand_dims(kernel, 0), bias,
                            strides=(1,) + layer.strides, padding=layer.padding,
                            dilation_rate=(1,) + layer.dilation_rate)
    return squeeze(y, 1)


class DepthwiseConv2D(_ConvBase):
    """Each input channel convolved with its own ``depth_multiplier`` filters:
    (N, H, W, C) -> (N, Ho, Wo, C*depth_multiplier); kernel (KH, KW, C, depth_multiplier)."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        self._conv_args(who, kernel_size, strides, padding, dilation_rate, data_format,
                        activation, use_bias)
        if not isinstance(depth_multiplier, int) or depth_multiplier < 1:
            raise ValueError(f"{who}: depth_multiplier must be a positive int, got "
                             f"{depth_multiplier!r}")
        self.depth_multiplier = depth_multiplier
        _weight_args(self, "depthwise", depthwise_initializer, depthwise_regularizer,
                     depthwise_constraint)
        _weight_args(self, "bias", bias_initializer, bias_regularizer, bias_constraint)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def build(self, input_shape):
        c, ax = self._channels(input_shape)
        self.kernel = _add_weight_of(self, "depthwise",
                                     self.kernel_size + (c, self.depth_multiplier), "kernel")
        self.bias = self._bias_weight(c * self.depth_multiplier)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={ax: c})
        self.built = True

    def call(self, inputs):
        y = self._apply(inputs, lambda x: _depthwise(self, x, self.kernel, self.bias))
        return self._activate(y)

    def compute_output_shape(self, input_shape):
        c, _ = self._channels(input_shape)
        return self._out_shape(input_shape, self._conv_spatial_out(input_shape),
                               c * self.depth_multiplier)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(self._conv_config())
        cfg.update({"depth_multiplier": self.depth_multiplier,
                    "activation": _act_ser(self.activation), "use_bias": self.use_bias})
        cfg.update(_weight_config(self, ("depthwise", "bias"), activity=True))
        return cfg


class SeparableConv2D(_ConvBase):
    """Depthwise convolution then a 1x1 pointwise one: (N, H, W, C) -> (N, Ho, Wo, filters);
    depthwise_kernel (KH, KW, C, depth_multiplier), pointwise_kernel
    (1, 1, C*depth_multiplier, filters), bias (filters,)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{who}: filters must be a positive int, got {filters!r}")
        self.filters = filters
        self.depth_multiplier = int(depth_multiplier)
        self._conv_args(who, kernel_size, strides, padding, dilation_rate, data_format,
                        activation, use_bias)
        _weight_args(self, "depthwise", depthwise_initializer, depthwise_regularizer,
                     depthwise_constraint)
        _weight_args(self, "pointwise", pointwise_initializer, pointwise_regularizer,
                     pointwise_constraint)
        _weight_args(self, "bias", bias_initializer, bias_regularizer, bias_constraint)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def build(self, input_shape):
        c, ax = self._channels(input_shape)
        m = self.depth_multiplier
        self.depthwise_kernel = _add_weight_of(self, "depthwise", self.kernel_size + (c, m),
                                               "depthwise_kernel")
        self.pointwise_kernel = _add_weight_of(self, "pointwise",
                                               (1,) * self.rank + (c * m, self.filters),
                                               "pointwise_kernel")
        self.bias = self._bias_weight(self.filters)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={ax: c})
        self.built = True

    def call(self, inputs):
        conv = _C.conv2d if self.rank == 2 else _C.conv1d

        def fn(x):
            h = _depthwise(self, x, self.depthwise_kernel, None)
            return conv(h, self.pointwise_kernel, self.bias)
        return self._activate(self._apply(inputs, fn))

    def compute_output_shape(self, input_shape):
        return self._out_shape(input_shape, self._conv_spatial_out(input_shape), self.filters)

    def get_config(self):
        cfg = super().get_config()
        cfg["filters"] = self.filters
        cfg.update(self._conv_config())
        cfg.update({"depth_multiplier": self.depth_multiplier,
                    "activation": _act_ser(self.activation), "use_bias": self.use_bias})
        cfg.update(_weight_config(self, ("depthwise", "pointwise", "bias"), activity=True))
        return cfg


class _ConvTranspose(_ConvBase):
    """Base of Conv1DTranspose / Conv2DTranspose / Conv3DTranspose."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 output_padding=None, data_format=None, dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        self.rank = rank
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{who}: filters must be a positive int, got {filters!r}")
        self.filters = filters
        self._conv_args(who, kernel_size, strides, padding, dilation_rate, data_format,
                        activation, use_bias)
        if output_padding is None:
            self.output_padding = None
        elif isinstance(output_padding, int):
            self.output_padding = (output_padding,) * rank
        else:
            self.output_padding = tuple(int(v) for v in output_padding)
        _weight_args(self, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        _weight_args(self, "bias", bias_initializer, bias_regularizer, bias_constraint)
        self.input_spec = InputSpec(ndim=rank + 2)

    def build(self, input_shape):
        c, ax = self._channels(input_shape)
        self.kernel = _add_weight_of(self, "kernel", self.kernel_size + (self.filters, c))
        self.bias = self._bias_weight(self.filters)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={ax: c})
        self.built = True

    def call(self, inputs):
        op = (_C.conv1d_transpose, _C.conv2d_transpose, _C.conv3d_transpose)[self.rank - 1]
        y = self._apply(inputs, lambda x: op(x, self.kernel, self.bias, strides=self.strides,
                                             padding=self.padding,
                                             output_padding=self.output_padding,
                                             dilation_rate=self.dilation_rate))
        return self._activate(y)

    def compute_output_shape(self, input_shape):
        ops = self.output_padding or (None,) * self.rank
        out = tuple(None if n is None else
                    _C.transpose_output_length(n, k, self.padding, s, d, o)
                    for n, k, s, d, o in zip(self._spatial(input_shape), self.kernel_size,
                                             self.strides, self.dilation_rate, ops))
        return self._out_shape(input_shape, out, self.filters)

    def get_config(self):
        cfg = super().get_config()
        cfg["filters"] = self.filters
        cfg.update(self._conv_config())
        cfg.update({"output_padding": self.output_padding,
                    "activation": _act_ser(self.activation), "use_bias": self.use_bias})
        cfg.update(_weight_config(self, ("kernel", "bias"), activity=True))
        return cfg


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution: (N, H, W, C) -> (N, Ho, Wo, filters) with Keras's output
    size; kernel (KH, KW, filters, C), bias (filters,)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, output_padding,
                         data_format, dilation_rate, **kwargs)


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution: (N, L, C) -> (N, Lo, filters); kernel (K, filters, C)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, output_padding,
                         data_format, dilation_rate, **kwargs)


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3-D convolution: (N, D, H, W, C) -> (N, Do, Ho, Wo, filters) with Keras's
    output sizes; kernel (KD, KH, KW, filters, C), bias (filters,).  As in Keras,
    ``data_format`` comes before ``output_padding`` here."""

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, output_padding=None, dilation_rate=(1, 1, 1), **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, output_padding,
                         data_format, dilation_rate, **kwargs)


class DepthwiseConv1D(DepthwiseConv2D):
    """Each input channel convolved with its own ``depth_multiplier`` filters along the
    sequence: (N, L, C) -> (N, Lo, C*depth_multiplier); kernel (K, C, depth_multiplier)."""

    rank = 1

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, **kwargs)


class SeparableConv1D(SeparableConv2D):
    """Depthwise 1-D convolution then a pointwise one: (N, L, C) -> (N, Lo, filters);
    depthwise_kernel (K, C, depth_multiplier), pointwise_kernel (1, C*depth_multiplier,
    filters), bias (filters,)."""

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         depth_multiplier, activation, use_bias, **kwargs)


Convolution2DTranspose = Conv2DTranspose
Convolution1DTranspose = Conv1DTranspose
Convolution3DTranspose = Conv3DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D


def _register():
    from ..serialization import register_class
    for cls in (Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D, Conv1DTranspose,
                Conv2DTranspose, DepthwiseConv1D, SeparableConv1D, Conv3D, Conv3DTranspose):
        register_class(cls)


_register()
