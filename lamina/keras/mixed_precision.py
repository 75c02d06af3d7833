"""keras.mixed_precision: DTypePolicy (alias Policy), set_global_policy, global_policy,
set_dtype_policy, dtype_policy and LossScaleOptimizer (re-exported from
lamina.nn.mixed_precision)."""
from ..nn.mixed_precision import (DTypePolicy, Policy, set_global_policy,  # noqa: F401
                                  global_policy, set_dtype_policy, dtype_policy,
                                  LossScaleOptimizer)

__all__ = ["DTypePolicy", "Policy", "set_global_policy", "global_policy", "set_dtype_policy",
           "dtype_policy", "LossScaleOptimizer"]
