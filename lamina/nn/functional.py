"""Functional neural-network ops (the same functions as in :mod:`lamina.ops`)."""
from ..ops.nn import (linear, softmax, log_softmax, cross_entropy,  # noqa: F401
                      binary_cross_entropy_with_logits, dropout)
from ..ops.elementwise import (relu, relu6, leaky_relu, elu, selu, gelu, sigmoid, tanh,  # noqa: F401
                               softplus, softsign, silu, swish, hard_sigmoid, hard_silu)
from ..ops.indexing import embedding, one_hot  # noqa: F401
from ..ops.conv import (conv1d, conv2d, depthwise_conv2d, conv1d_transpose,  # noqa: F401
                       conv2d_transpose)
from ..ops.pooling import (max_pool1d, max_pool2d, avg_pool1d, avg_pool2d,  # noqa: F401
                          global_avg_pool1d, global_avg_pool2d, global_max_pool1d,
                          global_max_pool2d)
from ..ops.image import upsample2d, resize, zero_pad2d, crop2d  # noqa: F401
