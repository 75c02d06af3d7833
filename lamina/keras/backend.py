"""keras.backend: floatx, set_floatx, epsilon, set_epsilon, image_data_format,
set_image_data_format, clear_session, get_uid, standardize_dtype, result_type,
is_float_dtype, is_int_dtype, is_keras_tensor (from lamina.nn.keras_backend)."""
from ..nn.keras_backend import (floatx, set_floatx, epsilon, set_epsilon,  # noqa: F401
                                image_data_format, set_image_data_format, get_uid, backend,
                                clear_session, standardize_dtype, is_float_dtype,
                                is_int_dtype, is_keras_tensor, result_type)
