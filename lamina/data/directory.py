"""What ``image_dataset_from_directory`` and ``text_dataset_from_directory`` share: the
argument checks, the file index (class subfolders -> paths and labels), the seeded shuffle
and the training/validation split, each as Keras 3 does them, and the base class of the
datasets that read files batch by batch.
"""
from __future__ import annotations

import os

import numpy as np

from ..nn.data_adapter import PyDataset
from .transforms import DatasetOps

__all__ = ["check_arguments", "index_directory", "check_labels", "shuffle_files", "split_files",
           "FileDataset"]


def check_arguments(who, labels, label_mode, class_names, validation_split, subset, shuffle,
                    seed):
    """Raise the errors Keras raises for inconsistent ``labels`` / ``label_mode`` /
    ``class_names`` / ``validation_split`` / ``subset`` / ``seed``."""
    inferred = isinstance(labels, str) and labels == "inferred"
    if not (inferred or labels is None or isinstance(labels, (list, tuple, np.ndarray))):
        raise ValueError(f"{who}: labels must be 'inferred', None or a list/tuple of integer "
                         f"labels (one per file, in sorted path order); got {labels!r}")
    if class_names is not None and not inferred:
        raise ValueError(f"{who}: class_names can only be given with labels='inferred'")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f"{who}: label_mode must be 'int', 'categorical', 'binary' or None, "
                         f"got {label_mode!r}")
    if validation_split:           # Keras treats 0 as "no split"
        if not 0 < validation_split < 1:
            raise ValueError(f"{who}: validation_split must be in (0, 1), got "
                             f"{validation_split}")
        if subset not in ("training", "validation", "both"):
            raise ValueError(f"{who}: with validation_split, subset must be 'training', "
                             f"'validation' or 'both', got {subset!r}")
        if shuffle and seed is None:
            raise ValueError(f"{who}: pass a seed with validation_split and shuffle=True, so "
                             "that the training and validation subsets do not overlap")
    elif subset is not None:
        raise ValueError(f"{who}: subset={subset!r} needs validation_split")


def _walk_files(top, follow_links, formats):
    # Keras's order: directories sorted by path, files sorted by name within each
    for root, _, files in sorted(os.walk(top, followlinks=follow_links), key=lambda e: e[0]):
        for f in sorted(files):
            if f.lower().endswith(formats):
                yield os.path.join(root, f)


def index_directory(who, directory, labels, formats, class_names=None, follow_links=False):
    """``(paths, labels, class_names)`` for the files ending in ``formats`` under
    ``directory``.  ``labels='inferred'``: one class per subfolder (sorted, hidden ones
    skipped, or ``class_names`` in the order given), label = its index.  A list of labels:
    one per file in sorted path order, class names the sorted distinct labels as strings.
    ``labels=None``: labels and class_names are None."""
    if not os.path.isdir(directory):
        raise ValueError(f"{who}: {directory!r} is not a directory")
    if isinstance(labels, str) and labels == "inferred":
        found = sorted(d for d in os.listdir(directory)
                       if os.path.isdir(os.path.join(directory, d)) and not d.startswith("."))
        names = list(class_names) if class_names is not None else found
        missing = [c for c in names if c not in found]
        if missing:
            raise ValueError(f"{who}: class_names {missing} have no subdirectory in "
                             f"{directory!r} (found {found})")
        paths, labs = [], []
        for k, c in enumerate(names):
            for p in _walk_files(os.path.join(directory, c), follow_links, formats):
                paths.append(p)
                labs.append(k)
        return paths, labs, names
    paths = list(_walk_files(directory, follow_links, formats))
    if labels is None:
        return paths, None, None
    labs = [int(v) for v in np.asarray(labels).ravel()]
    if len(labs) != len(paths):
        raise ValueError(f"{who}: {len(labs)} labels given for {len(paths)} files found in "
                         f"{directory!r}")
    if labs and min(labs) < 0:
        raise ValueError(f"{who}: labels must be >= 0, got {min(labs)}")
    return paths, labs, [str(v) for v in sorted(set(labs))]


def check_labels(who, labels, class_names, label_mode):
    """Raise if ``label_mode`` cannot encode ``labels`` ('binary' needs exactly 2 classes,
    'categorical' needs every label below the number of classes)."""
    if labels is None or label_mode is None:
        return
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f"{who}: label_mode='binary' needs exactly 2 classes, found "
                         f"{len(class_names)} ({class_names})")
    if label_mode == "categorical" and labels and max(labels) >= len(class_names):
        raise ValueError(f"{who}: label_mode='categorical' one-hot encodes over the "
                         f"{len(class_names)} distinct labels {class_names}, but label "
                         f"{max(labels)} does not fit; use labels 0..{len(class_names) - 1}")


def shuffle_files(paths, labels, seed):
    """``paths`` and ``labels`` in the order Keras's ``index_directory`` gives for ``seed``
    (so the same files land in the validation split as with Keras)."""
    order = np.arange(len(paths))
    np.random.RandomState(seed).shuffle(order)
    return [paths[i] for i in order], None if labels is None else [labels[i] for i in order]


def split_files(paths, labels, validation_split, subset, verbose):
    """``[(paths, labels)]`` for ``subset`` ('training': the first part, 'validation': the
    last ``int(validation_split * n)`` files), two pairs for ``'both'``, the whole for no
    split."""
    if not validation_split:
        return [(paths, labels)]
    n_val = int(validation_split * len(paths))
    cut = len(paths) - n_val
    parts = {"training": (paths[:cut], None if labels is None else labels[:cut]),
             "validation": (paths[cut:], None if labels is None else labels[cut:])}
    wanted = ["training", "validation"] if subset == "both" else [subset]
    if verbose:
        if "training" in wanted:
            print(f"Using {cut} files for training.")
        if "validation" in wanted:
            print(f"Using {n_val} files for validation.")
    return [parts[w] for w in wanted]


def list_and_split(who, directory, labels, formats, class_names, follow_links, label_mode,
                   shuffle, seed, validation_split, subset, verbose):
    """Index ``directory``, check the labels against ``label_mode``, say what was found
    (Keras's messages), shuffle in Keras's seeded order and split: returns
    ``([(paths, labels)] one pair per subset wanted, class_names)``."""
    paths, labs, names = index_directory(who, directory, labels, formats, class_names,
                                         follow_links)
    check_labels(who, labs, names, label_mode)
    if verbose:
        print(f"Found {len(paths)} files" + (f" belonging to {len(names)} classes."
                                              if names is not None else "."))
    if shuffle:
        paths, labs = shuffle_files(paths, labs, seed)
    return split_files(paths, labs, validation_split, subset, verbose), names


class FileDataset(DatasetOps, PyDataset):
    """Batches ``(inputs, labels)`` (or inputs alone) read on demand from a list of files;
    subclasses define ``_load_batch(paths)``.  ``class_names`` and ``file_paths`` as
    Keras's dataset attributes.  Labels: int ids (``label_mode='int'``), float32 (b, 1)
    ('binary') or float32 one-hot (b, classes) ('categorical').  With ``shuffle`` the
    order is redrawn after every epoch.  ``map`` / ``take`` give lazy views, as tf.data's."""

    label_dtype = np.int64

    def __init__(self, paths, labels, class_names, batch_size, label_mode, shuffle, seed):
        super().__init__()
        self.file_paths = list(paths)
        self._labels = None if labels is None else np.asarray(labels, dtype=self.label_dtype)
        self.class_names = class_names
        self.batch_size = batch_size
        self.label_mode = label_mode
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.file_paths))

    def _load_batch(self, paths):
        raise NotImplementedError(f"{type(self).__name__} must implement _load_batch")

    def _batch_indices(self, index):
        bs = self.batch_size or len(self.file_paths)
        return self._order[index * bs:(index + 1) * bs]

    def __len__(self):
        return -(-len(self.file_paths) // self.batch_size) if self.batch_size else 1

    def _labels_out(self, idx):
        lab = self._labels[idx]
        if self.label_mode == "int":
            return lab
        if self.label_mode == "binary":
            return lab.astype(np.float32)[..., None]
        return np.eye(len(self.class_names), dtype=np.float32)[lab]

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        idx = self._batch_indices(index)
        x = self._load_batch([self.file_paths[i] for i in np.atleast_1d(idx)])
        if np.ndim(idx) == 0:
            x = x[0]
        if self._labels is None or self.label_mode is None:
            return x
        return x, self._labels_out(idx)

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.file_paths))
