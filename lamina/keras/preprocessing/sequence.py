"""keras.preprocessing.sequence: ``pad_sequences`` (re-exported from lamina.text)."""
from ...text import pad_sequences  # noqa: F401

__all__ = ["pad_sequences"]
