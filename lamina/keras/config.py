"""keras.config: floatx/epsilon/image_data_format and their setters, dtype policies,
interactive logging, the fit caps (max_epochs, max_steps_per_epoch), and switches lamina
accepts and records (traceback filtering, flash attention, unsafe deserialization)."""
from ..nn.keras_backend import (floatx, set_floatx, epsilon, set_epsilon,  # noqa: F401
                                backend, image_data_format, set_image_data_format,
                                enable_unsafe_deserialization, set_backend,
                                enable_traceback_filtering, disable_traceback_filtering,
                                is_traceback_filtering_enabled, enable_flash_attention,
                                disable_flash_attention, is_flash_attention_enabled)
from ..nn.mixed_precision import dtype_policy, set_dtype_policy  # noqa: F401
from ..nn.progbar import (enable_interactive_logging, disable_interactive_logging,  # noqa: F401
                          is_interactive_logging_enabled)
from ..nn.training import (max_epochs, set_max_epochs, max_steps_per_epoch,  # noqa: F401
                           set_max_steps_per_epoch)
