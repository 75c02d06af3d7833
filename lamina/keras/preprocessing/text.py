"""keras.preprocessing.text: the legacy ``Tokenizer`` and ``text_to_word_sequence``
(re-exported from lamina.text)."""
from ...text import Tokenizer, text_to_word_sequence  # noqa: F401

__all__ = ["Tokenizer", "text_to_word_sequence"]
