"""Saving and loading: safetensors weights, Keras-layout HDF5 weights, whole-model archives.

Formats
-------
* ``*.safetensors`` (and ``*.weights.safetensors``): the safetensors format, written and read
  here without any dependency: a little-endian u64 header length, a JSON header
  ``{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}``, then raw bytes.
  Weights are keyed by ``Variable.path`` (``dense_1/kernel``).
* ``*.weights.h5``: real HDF5 in Keras 3's weights layout (``layers/<snake_class>/vars/<i>``),
  so ``keras_model.load_weights`` reads it.  Needs h5py (optional).
* ``*.keras`` (any other path for ``save``): Keras 3's zip archive: ``config.json``
  (architecture + compile config, in Keras's serialization format), ``metadata.json`` and
  ``model.weights.h5`` (with the optimizer's state under ``optimizer/vars``, in Keras's
  variable order), so ``keras.models.load_model`` reads it and lamina reads Keras's.  Without
  h5py (or for optimizer state Keras's layout cannot hold: EMA, gradient accumulation) the
  weights and the state go to ``model.weights.safetensors`` / ``optimizer.safetensors``,
  which only lamina reads.

Every write goes to a temporary file in the target's folder and is moved in place with
``os.replace``, so a crash mid-save leaves the previous file intact.  Loading never runs code:
JSON, raw bytes and ``np.frombuffer`` only (no pickle).
"""
from __future__ import annotations

import contextlib
import datetime
import io as _io
import json
import os
import re
import struct
import tempfile
import zipfile

# The Keras release whose ``.keras`` archive layout lamina writes (metadata.json)
KERAS_FORMAT_VERSION = "3.15.1"

import numpy as np

__all__ = ["save_safetensors", "load_safetensors", "safetensors_bytes", "parse_safetensors",
           "atomic_write", "save_weights", "load_weights", "save_model", "load_model",
           "weights_dict", "load_training_state"]

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
           "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "U16": np.uint16,
           "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024


# ------------------------------------------------------------------ atomic writes
@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file next to ``path``; on success move it over ``path``.

    On any exception the temporary file is removed and ``path`` keeps its old content.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


# ------------------------------------------------------------------ safetensors
def _to_numpy(a):
    if hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        a = a.numpy()
    if not isinstance(a, np.ndarray):
        from . import backend
        a = backend.to_device(a, backend.CPU) if backend.is_cupy_array(a) else np.asarray(a)
    return a


def safetensors_bytes(tensors, metadata=None):
    """The safetensors encoding of ``{name: array}`` (+ string ``metadata``) as bytes."""
    header, chunks, offset = {}, [], 0
    for name, arr in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"safetensors: tensor names must be strings, got {name!r}")
        a = _to_numpy(arr)
        code = _CODES.get(a.dtype)
        if code is None:
            raise TypeError(f"safetensors: tensor {name!r} has dtype {a.dtype}, which the format "
                            f"does not support (supported: {sorted(_CODES.values())})")
        raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        bad = {k: v for k, v in metadata.items() if not isinstance(v, str)}
        if bad:
            raise TypeError(f"safetensors: metadata values must be strings, got {bad!r}")
        header["__metadata__"] = dict(metadata)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)      # 8-byte alignment of the data, as the reference writer does
    return struct.pack("<Q", len(hb)) + hb + b"".join(chunks)


def parse_safetensors(buf, where="safetensors"):
    """Decode safetensors bytes into ``({name: np.ndarray}, metadata dict)``; validates offsets."""
    buf = memoryview(buf)
    if len(buf) < 8:
        raise ValueError(f"{where}: file too short to be safetensors ({len(buf)} bytes)")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > _MAX_HEADER or 8 + n > len(buf):
        raise ValueError(f"{where}: invalid safetensors header length {n} for a file of "
                         f"{len(buf)} bytes")
    try:
        header = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{where}: safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: safetensors header must be a JSON object")
    meta = header.pop("__metadata__", None) or {}
    data = buf[8 + n:]
    out = {}
    for name, info in header.items():
        try:
            dt = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
            shape = tuple(int(s) for s in info["shape"])
            start, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{where}: bad header entry for tensor {name!r}: {info!r}") from None
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= start <= end <= len(data) or end - start != count * dt.itemsize:
            raise ValueError(f"{where}: tensor {name!r} has offsets [{start}, {end}] that do not "
                             f"fit its shape {shape} and dtype {info['dtype']}")
        arr = np.frombuffer(data[start:end], dtype=dt, count=count).reshape(shape)
        out[name] = arr.astype(dt.newbyteorder("="), copy=True)
    return out, meta


def save_safetensors(path, tensors, metadata=None):
    """Write ``{name: array}`` to ``path`` in the safetensors format (atomically)."""
    data = safetensors_bytes(tensors, metadata)
    with atomic_write(path) as f:
        f.write(data)


def load_safetensors(path, with_metadata=False):
    """Read a safetensors file: ``{name: np.ndarray}`` (and the metadata dict if asked)."""
    with open(path, "rb") as f:
        buf = f.read()
    tensors, meta = parse_safetensors(buf, where=f"load_safetensors({os.fspath(path)!r})")
    return (tensors, meta) if with_metadata else tensors


# ------------------------------------------------------------------ model weights
def weights_dict(model):
    """``{Variable.path: np.ndarray}`` for every weight of ``model`` (shared weights once)."""
    out = {}
    seen = set()
    for v in model.weights:
        if id(v) in seen:
            continue
        seen.add(id(v))
        key = _var_key(v)
        if key in out:
            raise ValueError(f"save_weights: two different weights share the path {key!r}; "
                             "give the layers unique names")
        out[key] = _to_numpy(v.data)
    return out


def _var_key(v):
    return getattr(v, "path", None) or getattr(v, "name", None) or f"var_{id(v)}"


def _assign(v, arr):
    xp_arr = arr.astype(v.data.dtype, copy=False)
    if not isinstance(v.data, np.ndarray):
        from . import backend
        xp_arr = backend.to_device(xp_arr, backend.device_of(v.data))
    if hasattr(v, "assign"):
        v.assign(xp_arr)
    else:
        v.data[...] = xp_arr


def _ensure_built(model, who):
    if not getattr(model, "built", True):
        raise ValueError(f"{who}: the model {getattr(model, 'name', '')!r} is not built yet; "
                         "call it on data or call model.build(input_shape) first")


def _apply_weights(model, arrays, path, strict=True, skip_mismatch=False):
    """Assign ``{path: array}`` to the model's weights with a strict key/shape check."""
    variables = {}
    for v in model.weights:
        variables.setdefault(_var_key(v), v)
    missing = [k for k in variables if k not in arrays]
    unexpected = [k for k in arrays if k not in variables]
    wrong = [f"{k}: file {tuple(arrays[k].shape)} vs model {tuple(v.shape)}"
             for k, v in variables.items()
             if k in arrays and tuple(arrays[k].shape) != tuple(v.shape)]
    if (missing or unexpected) and _same_structure(variables, arrays):
        # same architecture, other layer names (e.g. a second instance in one session):
        # match by position, as Keras's own weight files do
        for v, arr in zip(variables.values(), arrays.values()):
            _assign(v, arr)
        return
    if (strict and (missing or unexpected)) or (wrong and not skip_mismatch):
        parts = []
        if missing:
            parts.append(f"missing in the file: {missing}")
        if unexpected:
            parts.append(f"unexpected in the file: {unexpected}")
        if wrong:
            parts.append(f"wrong shape: {wrong}")
        raise ValueError(f"load_weights({path!r}): the file does not match the model "
                         f"{getattr(model, 'name', '')!r}; " + "; ".join(parts))
    for k, v in variables.items():
        if k in arrays and tuple(arrays[k].shape) == tuple(v.shape):
            _assign(v, arrays[k])


def _same_structure(variables, arrays):
    """True when the file holds exactly one tensor per variable, in order, of equal shapes."""
    if len(variables) != len(arrays):
        return False
    return all(tuple(a.shape) == tuple(v.shape) and a.dtype.kind == v.data.dtype.kind
               for v, a in zip(variables.values(), arrays.values()))


def _is_h5(path):
    return str(path).endswith(".h5") or str(path).endswith(".hdf5")


def _require_h5py(path):
    try:
        import h5py
    except ImportError:
        raise ImportError(f"{path!r}: writing or reading HDF5 weights needs the 'h5py' package "
                          "(pip install h5py); or use a '.weights.safetensors' path, which "
                          "needs nothing") from None
    return h5py


def save_weights(model, path, overwrite=True):
    """Save every weight of ``model``: safetensors by default, Keras-layout HDF5 for ``.h5``."""
    path = os.fspath(path)
    _ensure_built(model, "save_weights")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save_weights: {path!r} exists and overwrite=False")
    if _is_h5(path):
        _save_h5(model, path)
        return
    if path.endswith(".keras"):
        raise ValueError(f"save_weights({path!r}): a '.keras' path holds a whole model; use "
                         "model.save() for it, or a '.weights.safetensors' path for weights")
    save_safetensors(path, weights_dict(model), {"format": "lamina", "model": str(
        getattr(model, "name", ""))})


def load_weights(model, path, skip_mismatch=False, strict=True):
    """Load weights saved by :func:`save_weights` (or a ``.keras`` archive) into ``model``."""
    path = os.fspath(path)
    _ensure_built(model, "load_weights")
    if _is_h5(path):
        _load_h5(model, path, skip_mismatch)
        return
    if path.endswith(".keras") or zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            load = _archive_weights(z, set(z.namelist()), path, strict, skip_mismatch)
        load(model)
        return
    arrays = load_safetensors(path)
    _apply_weights(model, arrays, path, strict=strict and not skip_mismatch,
                   skip_mismatch=skip_mismatch)


# ---------------------------------------------------------- Keras 3 HDF5 layout
def _snake(name):
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _natural_key(name):
    """Keras's natural sort key: digit runs compare as numbers ("d2" < "d10")."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


_BASE_ATTRS = None


def _held_layers(layer):
    """``[(attribute name, layer or list of layers)]`` that ``layer`` holds, in Keras 3's walk
    order: a model's ``layers`` first, then the attributes by natural sort of their names.
    Attributes every Layer has (lamina's own bookkeeping) are skipped, as Keras skips the
    attributes of a bare Layer."""
    global _BASE_ATTRS
    from .nn.layers.base import Layer
    from .nn.model import Functional, Model, Sequential
    if _BASE_ATTRS is None:
        _BASE_ATTRS = frozenset(Layer().__dict__) | Layer._NO_TRACK | {"_fcache", "_wcache"}
    out = []
    names = [n for n in layer.__dict__ if n not in _BASE_ATTRS and n != "layers"]
    if isinstance(layer, (Functional, Sequential)) or getattr(layer, "_keras_walks_layers",
                                                              False):
        out.append(("layers", layer.layers))
    elif isinstance(layer, Model):
        names.append("layers")      # a subclassed model's `layers` is walked like any attribute
    for name in sorted(names, key=_natural_key):
        value = layer.layers if name == "layers" else layer.__dict__[name]
        if isinstance(value, Layer):
            if value is not layer:
                out.append((name, value))
        elif isinstance(value, (list, tuple, dict)):
            items = list(value.values()) if isinstance(value, dict) else list(value)
            if any(isinstance(v, Layer) for v in items):
                out.append((name, items))
    return out


def _h5_walk(layer, path, out, visited):
    if id(layer) in visited:        # a shared layer is stored once, where it is met first
        return
    visited.add(id(layer))
    layout = getattr(layer, "_keras_h5_layout", None)
    if layout is not None:
        # a built-in layer whose Keras twin keeps its weights in sublayers lamina does not
        # have (MultiHeadAttention's query_dense, ...): it names the groups itself
        for rel, ws in layout():
            out.append((f"{path}/{rel}" if path else rel, layer, list(ws)))
        return
    out.append((path, layer, layer._own_weights()))
    for name, held in _held_layers(layer):
        sub = f"{path}/{name}" if path else name
        if not isinstance(held, list):
            _h5_walk(held, sub, out, visited)
            continue
        used = {}
        for item in held:
            base = _snake(type(item).__name__)
            n = used.get(base, -1) + 1
            used[base] = n
            _h5_walk(item, f"{sub}/{base}" if n == 0 else f"{sub}/{base}_{n}", out, visited)


def _h5_entries(model):
    """``[(group path, layer, own weights)]`` as Keras 3's ``save_weights`` lays them out: a
    model's layers under ``layers/<snake class name>[_i]``, the layers a layer holds under
    their attribute names (``lstm/cell``, ``bidirectional/forward_layer/cell``), each layer's
    own weights in ``<path>/vars``; the root's own (none) in ``vars``."""
    out = []
    _h5_walk(model, "", out, set())
    return out


def _h5_bytes(model, h5py, optimizer=None):
    """The bytes of a ``.weights.h5`` file of ``model`` (Keras 3's layout); ``optimizer``:
    (name, arrays in Keras's order) stored under ``optimizer/vars`` as Keras's archives do."""
    buf = _io.BytesIO()
    with h5py.File(buf, "w") as f:
        for gpath, layer, ws in _h5_entries(model):
            g = f.require_group(f"{gpath}/vars" if gpath else "vars")
            g.attrs["name"] = str(layer.name)
            for i, v in enumerate(ws):
                g.create_dataset(str(i), data=_to_numpy(v.data))
        if optimizer is not None:
            g = f.require_group("optimizer/vars")
            g.attrs["name"] = optimizer[0]
            for i, arr in enumerate(optimizer[1]):
                g.create_dataset(str(i), data=arr)
    return buf.getvalue()


def _keras_optimizer_arrays(opt):
    """(name, state arrays in Keras 3's variable order) of a lamina optimizer, or None when
    Keras's layout cannot hold its state (then it goes to optimizer.safetensors)."""
    order_fn = getattr(opt, "keras_state_order", None)
    get_state = getattr(opt, "get_state", None)
    if not callable(order_fn) or not callable(get_state):
        return None
    state = get_state()
    order = order_fn(state)
    if order is None:
        return None
    arrays = []
    for k in order:
        a = np.asarray(state[k])
        if k == "learning_rate":
            a = a.astype(np.float32)    # Keras's variable; lamina keeps a Python float
        arrays.append(a)
    return str(getattr(opt, "name", None) or type(opt).__name__.lower()), arrays


def _save_h5(model, path):
    data = _h5_bytes(model, _require_h5py(path))
    with atomic_write(path) as out:
        out.write(data)


def _legacy_h5_entries(model, prefix=""):
    """The layout lamina wrote before it followed Keras into layers' sublayers: every weight of
    a layer (its sublayers' too) in ``layers/<snake class name>[_i]/vars``; read so that
    files saved then still load."""
    from .nn.model import Functional, Sequential
    used, out = {}, []
    for layer in model.layers:
        base = _snake(type(layer).__name__)
        n = used.get(base, 0)
        used[base] = n + 1
        path = f"{prefix}layers/{base}" if n == 0 else f"{prefix}layers/{base}_{n}"
        if type(layer) in (Functional, Sequential):
            out.append((path, layer, []))
            out.extend(_legacy_h5_entries(layer, path + "/"))
        else:
            out.append((path, layer, layer.weights))
    return out


def _h5_plan(f, entries, path, skip_mismatch):
    """``[(variable, dataset)]`` to assign; ValueError at the first group or shape that does not
    fit (skipped instead with ``skip_mismatch``).  Nothing is assigned before all of it fits."""
    plan = []
    for gpath, layer, ws in entries:
        grp = f.get(f"{gpath}/vars" if gpath else "vars")
        n = 0 if grp is None else len(grp)
        if n != len(ws):
            if skip_mismatch:
                continue
            raise ValueError(f"load_weights({path!r}): layer {layer.name!r} has {len(ws)} "
                             f"weights but the file's {gpath or '/'!r} holds {n}")
        for i, v in enumerate(ws):
            ds = grp[str(i)]
            if tuple(ds.shape) != tuple(v.shape):
                if skip_mismatch:
                    continue
                raise ValueError(f"load_weights({path!r}): weight {_var_key(v)!r} has shape "
                                 f"{tuple(v.shape)} but the file holds {tuple(ds.shape)}")
            plan.append((v, ds))
    return plan


def _load_h5(model, path, skip_mismatch=False, source=None):
    """Weights from the ``.weights.h5`` file at ``path`` (or the file object ``source``, with
    ``path`` naming it in messages) into ``model``."""
    h5py = _require_h5py(path)
    with h5py.File(path if source is None else source, "r") as f:
        try:
            plan = _h5_plan(f, _h5_entries(model), path, skip_mismatch)
        except ValueError as err:
            try:
                plan = _h5_plan(f, _legacy_h5_entries(model), path, False)
            except ValueError:
                raise err from None
        for v, ds in plan:
            _assign(v, np.asarray(ds))


# ---------------------------------------------------------------- whole models
def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.dtype):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"save: cannot store a {type(o).__name__} in the model's JSON config "
                    f"({o!r}); make get_config() return plain values")


def _optimizer_state(opt):
    """``{name: array}`` of the optimizer's state (``get_state()``; else its ``variables``)."""
    if opt is None:
        return {}
    get_state = getattr(opt, "get_state", None)
    if callable(get_state):
        return {k: _to_numpy(v) for k, v in get_state().items()}
    variables = getattr(opt, "variables", None) or []
    return {f"{i:04d}": _to_numpy(getattr(v, "data", v)) for i, v in enumerate(variables)}


def save_model(model, path, overwrite=True, include_optimizer=True):
    """Save architecture, weights, compile config and optimizer state to one zip file."""
    from .nn.cloning import model_config
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save: {path!r} exists and overwrite=False")
    if _is_h5(path):
        raise ValueError(f"save({path!r}): lamina cannot write a whole model as legacy HDF5; use "
                         "a '.keras' path (lamina's archive) or save_weights() to a "
                         "'.weights.h5' path")
    _ensure_built(model, "save")
    # the same config as to_json() (compile_config {} before compile, as Keras writes)
    config = model_config(model)
    try:
        import h5py
    except ImportError:
        h5py = None
    date = datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")
    if h5py is not None:
        # Keras 3's archive: Keras reads its config and its model.weights.h5
        meta = {"keras_version": KERAS_FORMAT_VERSION, "date_saved": date,
                "lamina_version": _version()}
    else:
        meta = {"format": "lamina.keras", "lamina_version": _version(), "date_saved": date,
                "note": "weights in safetensors (h5py was not installed): only lamina reads "
                        "this archive"}
    opt = getattr(model, "optimizer", None)
    if not (include_optimizer and opt is not None and getattr(model, "compiled", False)):
        opt = None
    # the optimizer state goes where Keras keeps it (optimizer/vars in model.weights.h5) when
    # Keras's layout holds it all; otherwise, or without h5py, to optimizer.safetensors
    keras_opt = _keras_optimizer_arrays(opt) if opt is not None and h5py is not None else None
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps(meta))
        z.writestr("config.json", json.dumps(config, default=_json_default, indent=1))
        if h5py is not None:
            z.writestr("model.weights.h5", _h5_bytes(model, h5py, keras_opt))
        else:
            z.writestr("model.weights.safetensors", safetensors_bytes(weights_dict(model)))
        if opt is not None and keras_opt is None:
            state = _optimizer_state(opt)
            if state:
                z.writestr("optimizer.safetensors", safetensors_bytes(state))
    with atomic_write(path) as f:
        f.write(buf.getvalue())


def _archive_weights(z, names, path, strict=True, skip_mismatch=False, h5_data=None):
    """A function putting the archive's model weights into a model: ``model.weights.h5``
    (Keras 3's archives and lamina's when h5py is installed; ``h5_data`` if the caller read
    it already) or ``model.weights.safetensors`` (lamina's without h5py).  Both are read now,
    while the zip is open."""
    if "model.weights.h5" in names:
        data = z.read("model.weights.h5") if h5_data is None else h5_data
        _require_h5py(f"{path}:model.weights.h5")
        return lambda model: _load_h5(model, path, skip_mismatch, source=_io.BytesIO(data))
    if "model.weights.safetensors" in names:
        weights, _ = parse_safetensors(z.read("model.weights.safetensors"), where=path)
        return lambda model: _apply_weights(model, weights, path,
                                            strict=strict and not skip_mismatch,
                                            skip_mismatch=skip_mismatch)
    raise ValueError(f"load_model({path!r}): the archive holds no model weights "
                     "('model.weights.h5' or 'model.weights.safetensors')")


def _archive_state(z, names, path):
    """(weights loader, optimizer state) of an archive: the state is lamina's
    ``optimizer.safetensors`` dict, or the arrays under ``optimizer/vars`` of
    ``model.weights.h5`` in Keras's order (a list), or None.  The h5 file is read once."""
    h5 = z.read("model.weights.h5") if "model.weights.h5" in names else None
    load_weights = _archive_weights(z, names, path, h5_data=h5)
    if "optimizer.safetensors" in names:
        state, _ = parse_safetensors(z.read("optimizer.safetensors"), where=path)
        return load_weights, state
    return load_weights, None if h5 is None else _h5_optimizer_arrays(h5, path)


def _version():
    from . import __version__
    return __version__


def load_model(path, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild a model saved by :func:`save_model`: architecture, weights, and (with
    ``compile=True``) the compile config and optimizer state, so training resumes exactly.
    Custom classes and functions come from ``custom_objects`` or the registration decorator.
    ``safe_mode`` is accepted for Keras compatibility: loading never runs code either way."""
    from .nn import serialization
    path = os.fspath(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"load_model({path!r}): not a lamina model archive (expected a zip "
                         "written by model.save()); for weights use model.load_weights()")
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        if "config.json" not in names:
            raise ValueError(f"load_model({path!r}): the archive lacks 'config.json'")
        config = json.loads(z.read("config.json").decode("utf-8"))
        load_weights, opt_state = _archive_state(z, names, path)
    model, compile_cfg = serialization.deserialize_model(config, custom_objects)
    load_weights(model)
    if compile and compile_cfg is not None:
        model.compile_from_config(compile_cfg, custom_objects=custom_objects)
        if opt_state:
            _restore_optimizer(model, opt_state, path)
    return model


def load_training_state(model, path):
    """Put a ``.keras`` archive's weights and optimizer state into an existing compiled
    ``model`` of the same architecture (used to resume an interrupted ``fit``)."""
    path = os.fspath(path)
    with zipfile.ZipFile(path) as z:
        load_weights, state = _archive_state(z, set(z.namelist()), path)
    load_weights(model)
    if state and getattr(model, "optimizer", None) is not None:
        _restore_optimizer(model, state, path)


def _h5_optimizer_arrays(data, path):
    """The arrays under ``optimizer/vars`` of an archive's model.weights.h5 (Keras's order),
    or None when it holds none."""
    h5py = _require_h5py(f"{path}:model.weights.h5")
    with h5py.File(_io.BytesIO(data), "r") as f:
        g = f.get("optimizer/vars")
        if g is None or len(g) == 0:
            return None
        return [np.asarray(g[str(i)]) for i in range(len(g))]


def _from_keras_order(opt, arrays, path):
    """``get_state()``-style dict from optimizer arrays in Keras 3's order, or None (with a
    warning) when they do not fit this optimizer: it then starts afresh, as Keras does."""
    import warnings
    order = opt.keras_state_order(opt.get_state()) if hasattr(opt, "keras_state_order") \
        else None
    current = opt.get_state() if order is not None else None
    if order is not None and len(arrays) < len(order):
        # saved before its first step: the optimizer had no slots yet (Keras's too)
        head = [k for k in order if "/" not in k][:len(arrays)]
        if len(head) == len(arrays) and all(np.ndim(a) == 0 for a in arrays):
            order = head
    if order is None or len(order) != len(arrays) or any(
            tuple(np.shape(current[k])) != tuple(a.shape) for k, a in zip(order, arrays)):
        warnings.warn(f"load_model({path!r}): the archive's optimizer state "
                      f"({len(arrays)} arrays) does not fit {type(opt).__name__}; it starts "
                      "afresh", stacklevel=3)
        return None
    return dict(zip(order, arrays))


def _restore_optimizer(model, state, path):
    opt = model.optimizer
    set_state = getattr(opt, "set_state", None)
    if not callable(set_state):
        raise TypeError(f"load_model({path!r}): the optimizer {type(opt).__name__} has no "
                        "set_state(); its saved state cannot be restored")
    build = getattr(opt, "build", None)
    if callable(build):
        build(model.trainable_weights)
    if isinstance(state, list):         # Keras's layout (model.weights.h5's optimizer/vars)
        state = _from_keras_order(opt, state, path)
        if state is None:
            return
    get_state = getattr(opt, "get_state", None)
    current = get_state() if callable(get_state) else None
    if current is not None and set(current) != set(state) and len(current) == len(state):
        # same model, other layer names (a rebuilt model in the same session): the slots
        # were created in trainable-weights order on both sides, so match by position
        pairs = list(zip(current.items(), state.items()))
        if all(tuple(np.shape(a)) == tuple(np.shape(b)) for (_, a), (_, b) in pairs):
            state = {ck: sv for (ck, _), (_, sv) in pairs}
    set_state(state)
