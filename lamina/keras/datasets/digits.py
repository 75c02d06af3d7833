"""keras.datasets.digits.load_data: the 8x8 digits shipped with lamina, split 1527/270."""
from ...data.datasets import load_digits_split as load_data  # noqa: F401
