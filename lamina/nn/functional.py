"""Functional neural-network ops (the same functions as in :mod:`lamina.ops`)."""
from ..ops.nn import (linear, softmax, log_softmax, cross_entropy,  # noqa: F401
                      binary_cross_entropy_with_logits, dropout)
from ..ops.elementwise import (relu, relu6, leaky_relu, elu, selu, gelu, sigmoid, tanh,  # noqa: F401
                               softplus, softsign, silu, swish, hard_sigmoid, hard_silu)
from ..ops.indexing import embedding, one_hot  # noqa: F401
