"""Text files in class subfolders as batches of (strings, labels):
``text_dataset_from_directory``, as in ``keras.utils``.

File listing, the seeded shuffle, the validation split and the labels are shared with
``image_dataset_from_directory`` (:mod:`.directory`), so both pick the same files as Keras
for a given seed.
"""
from __future__ import annotations

import codecs

import numpy as np

from .directory import FileDataset, check_arguments, list_and_split

__all__ = ["text_dataset_from_directory", "TextDirectoryDataset"]

_WHO = "text_dataset_from_directory"


class TextDirectoryDataset(FileDataset):
    """Batches ``(texts, labels)`` (or texts alone) read on demand: ``texts`` is a NumPy
    object array (batch,) of Python strings (UTF-8 decoded from the first ``max_length``
    bytes, as Keras cuts them), labels int32 (batch,), or float32 (batch, 1) / (batch, classes).
    ``batch_size=None`` serves one (text, label) sample at a time, as Keras's unbatched
    dataset does."""

    label_dtype = np.int32        # Keras's int labels are int32

    def __init__(self, paths, labels, class_names, batch_size, max_length, label_mode,
                 shuffle, seed):
        super().__init__(paths, labels, class_names, batch_size, label_mode, shuffle, seed)
        self.max_length = max_length

    def __len__(self):
        return len(self.file_paths) if self.batch_size is None else super().__len__()

    def _batch_indices(self, index):
        if self.batch_size is None:
            return self._order[index]
        return super()._batch_indices(index)

    def _load_batch(self, paths):
        out = np.empty(len(paths), dtype=object)
        for i, p in enumerate(paths):
            with open(p, "rb") as f:
                # bytes, not text mode: "\r\n" stays as written, as tf.io.read_file keeps it
                raw = f.read()
            if self.max_length is None:
                out[i] = raw.decode("utf-8", errors="replace")
            else:
                # Keras (tf.strings.substr) cuts the bytes; a character cut in half at the
                # end is dropped (final=False keeps it pending) rather than garbled
                out[i] = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(
                    raw[:self.max_length], final=False)
        return out


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None,
                                shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """The ``.txt`` files in ``directory/<class name>/...`` as a
    :class:`TextDirectoryDataset` of (texts, labels) batches, like
    ``keras.utils.text_dataset_from_directory``: classes are the sorted subfolder names
    (or ``class_names``, in that order), files are shuffled with
    ``numpy.random.RandomState(seed)`` as Keras does, then split by ``validation_split``
    into the 'training' part (first) and the 'validation' part (last ``int(split * n)``);
    ``subset='both'`` returns both datasets (the validation one unshuffled, as in Keras).
    ``labels`` may instead be a list of integer labels, one per file in sorted path
    order, or None (texts only)."""
    check_arguments(_WHO, labels, label_mode, class_names, validation_split, subset, shuffle,
                    seed)
    if max_length is not None and (isinstance(max_length, bool) or
                                   not isinstance(max_length, (int, np.integer)) or
                                   max_length < 0):
        raise ValueError(f"{_WHO}: max_length must be a non-negative integer or None, got "
                         f"{max_length!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or
                                   not isinstance(batch_size, (int, np.integer)) or
                                   batch_size < 1):
        raise ValueError(f"{_WHO}: batch_size must be a positive integer or None, got "
                         f"{batch_size!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if seed is None:
        seed = np.random.randint(1e6)
    parts, names = list_and_split(_WHO, directory, labels, (".txt",), class_names,
                                  follow_links, label_mode, shuffle, seed, validation_split,
                                  subset, verbose)
    kinds = ["training", "validation"] if subset == "both" else [subset or "data"]
    out = []
    for (p, lab), kind in zip(parts, kinds):
        if not p:
            raise ValueError(f"{_WHO}: no {'' if kind == 'data' else kind + ' '}text files "
                             f"found in {directory!r} (allowed format: .txt)")
        out.append(TextDirectoryDataset(p, lab, names, batch_size, max_length, label_mode,
                                        shuffle and not (subset == "both" and
                                                         kind == "validation"), seed))
    return out[0] if len(out) == 1 else tuple(out)
