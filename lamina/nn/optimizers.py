"""Optimizers with Keras 3's names, arguments, defaults and exact update formulas.

``opt.apply_gradients(zip(grads, vars))`` / ``opt.apply(grads, vars)`` update each
variable's ``.data`` in place, on raw arrays of the variable's array module (NumPy or
CuPy), outside the autograd graph.  Gradient arrays are never modified (they may be
shared); ``None`` gradients are skipped.  Per step, in Keras's order: gradients are
clipped (``clipnorm`` per gradient, ``global_clipnorm`` over all, or ``clipvalue``),
decoupled weight decay ``var -= var * weight_decay * lr`` is applied, then the
optimizer's update, and ``iterations`` grows by one.

Optimizers: SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion, Ftrl,
Adafactor, Lamb, Muon, and LossScaleOptimizer (dynamic loss scaling for mixed precision,
see :mod:`.mixed_precision`); base options ``use_ema`` (+ ``finalize_variable_values``),
``gradient_accumulation_steps`` and ``loss_scale_factor`` behave as in Keras 3.  Large
CPU weights are updated in cache-sized blocks (same numbers, fewer memory passes).

Slot arrays (momenta, velocities, ...) are created for a variable the first time it
gets a gradient.  ``get_state()`` returns them as ``{"<variable path>/<slot>": array}``
plus ``"iterations"`` (and the learning rate when it is a float); ``set_state(state)``
restores them, before or after the slots exist, so training resumes exactly.
"""
from __future__ import annotations

import math
import re
import warnings

import numpy as np

from ..backend import CPU, device_of, get_xp, to_device, to_host
from ..ops import cuda_kernels as _cuda_kernels
from ..ops import threads as _threads
from ..tensor import Tensor
from . import schedules as _schedules
from ._registry import Kind
# Keras's to_snake_case, so default names match ("sgd", "adam_w", "rm_sprop")
from .layers.base import to_snake_case as _snake

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax",
           "Nadam", "Lion", "Ftrl", "Adafactor", "Lamb", "Muon", "LossScaleOptimizer", "get",
           "serialize", "deserialize", "schedules"]

schedules = _schedules

# elements per block when updating large CPU arrays (256 KiB of float32 per array: the
# five arrays Adam touches stay in a core's L2 cache)
_CHUNK = 65536


class _Iterations(int):
    """The step count: an int that also offers ``numpy()``/``value`` as Keras's variable does."""

    def numpy(self):
        """The count as a NumPy int64."""
        return np.int64(self)

    @property
    def value(self):
        """The count as an int."""
        return int(self)


class _HostFloat(float):
    """A float that also offers ``numpy()`` and ``value``, as a Keras variable does."""

    def numpy(self):
        """The value as a NumPy float32 (as Keras stores it)."""
        return np.float32(self)

    @property
    def value(self):
        """The value as a float."""
        return float(self)


class _LearningRate(_HostFloat):
    """The current learning rate: a float that also offers Keras's variable methods
    (``numpy()``, ``assign(v)``, which sets the optimizer's rate)."""

    def __new__(cls, value, optimizer=None):
        obj = float.__new__(cls, value)
        obj._optimizer = optimizer
        return obj

    @property
    def data(self):
        """The rate as a 0-d float32 array (what a Keras variable holds)."""
        return np.asarray(self, dtype=np.float32)

    def assign(self, value):
        """Set the optimizer's learning rate (Keras's ``optimizer.learning_rate.assign``)."""
        if self._optimizer is None:
            raise TypeError("this learning rate is not attached to an optimizer")
        self._optimizer.learning_rate = float(value)


def _raw(g):
    return g.data if isinstance(g, Tensor) else g


def _check_positive(v, name, who, allow_none=True):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
        raise TypeError(f"{who}: {name} must be a float, got {type(v).__name__}")
    if v < 0 or not math.isfinite(v):
        raise ValueError(f"{who}: {name} must be a finite non-negative float, got {v}")
    return float(v)


class Optimizer:
    """Base optimizer.  Subclasses define ``_slot_names(var)`` (slot name -> initial value)
    and ``_update(var_array, grad_array, slots, lr, step)`` which updates arrays in place.

    Arguments as in Keras: ``learning_rate`` (float or schedule; legacy ``lr``),
    ``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm`` (at most one of the
    three), ``loss_scale_factor``, ``gradient_accumulation_steps``, ``name``."""

    _default_lr = 0.001
    # the subclass's own constructor arguments, added to get_config after the base ones
    _config_keys = ()
    # the update is elementwise, so large arrays may be updated block by block
    _elementwise = True
    # _weight_decay_of may give a variable a decay without ``weight_decay`` (Muon's AdamW
    # part): apply() then asks it for every variable
    _decay_per_variable = False
    # inf/NaN gradients are an expected event, handled by skipping the step
    # (LossScaleOptimizer): the training step silences NumPy's overflow warnings
    _skips_overflow = False

    def __init__(self, learning_rate=None, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        who = type(self).__name__
        if "lr" in kwargs:
            lr = kwargs.pop("lr")
            if learning_rate is None:
                learning_rate = lr
        if kwargs.pop("decay", None) is not None:
            warnings.warn(f"{who}: argument `decay` is no longer supported and is ignored; use "
                          "a learning-rate schedule", stacklevel=2)
        if kwargs:
            raise ValueError(f"{who}: argument(s) not recognized: {sorted(kwargs)}")
        if learning_rate is None:
            learning_rate = self._default_lr
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{who}: only one of clipnorm, clipvalue and global_clipnorm can "
                             f"be set; got clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        if use_ema:
            if not 0 <= ema_momentum <= 1:
                raise ValueError(f"{who}: ema_momentum must be in [0, 1], got {ema_momentum}")
            if ema_overwrite_frequency is not None and (
                    not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1):
                raise ValueError(f"{who}: ema_overwrite_frequency must be an int >= 1 or None, "
                                 f"got {ema_overwrite_frequency}")
        if gradient_accumulation_steps is not None:
            if not isinstance(gradient_accumulation_steps, int) or gradient_accumulation_steps < 2:
                raise ValueError(f"{who}: gradient_accumulation_steps must be an int >= 2, got "
                                 f"{gradient_accumulation_steps}")
        self.name = name or _snake(who)
        self.weight_decay = _check_positive(weight_decay, "weight_decay", who)
        self.clipnorm = _check_positive(clipnorm, "clipnorm", who)
        self.clipvalue = _check_positive(clipvalue, "clipvalue", who)
        self.global_clipnorm = _check_positive(global_clipnorm, "global_clipnorm", who)
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._learning_rate = None
        self._set_lr(learning_rate, initial=True)
        self._iterations = 0
        self._slots = {}           # id(var) -> {slot name: array}
        self._vars = {}            # id(var) -> var (keeps the ids valid)
        self._keys = {}            # id(var) -> state key prefix
        self._pending = {}         # state loaded before the slots existed
        self._chunk_scratch = {}   # (dtype, thread part) -> scratch for _update_chunked
        self._exclude_wd_ids = set()
        self._exclude_wd_pattern = None
        self.built = False

    # ---------------------------------------------------------- learning rate
    def _set_lr(self, value, initial=False):
        if isinstance(value, dict):
            value = _schedules.deserialize(value)
        if isinstance(value, _schedules.LearningRateSchedule) or callable(value):
            self._learning_rate = value
            return
        if not initial and isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            raise TypeError(f"{type(self).__name__}: this optimizer was created with a "
                            "LearningRateSchedule, so its learning rate is not settable; create "
                            "it with a float learning_rate instead")
        if isinstance(value, Tensor):
            value = value.item()
        self._learning_rate = _check_positive(value, "learning_rate", type(self).__name__,
                                              allow_none=False)

    @property
    def learning_rate(self):
        """The current learning rate (a schedule is evaluated at ``iterations``)."""
        lr = self._learning_rate
        if isinstance(lr, _schedules.LearningRateSchedule):
            return _LearningRate(lr(self._iterations), self)
        if callable(lr):
            return _LearningRate(lr(), self)
        return _LearningRate(lr, self)

    @learning_rate.setter
    def learning_rate(self, value):
        self._set_lr(value)

    lr = learning_rate

    @property
    def iterations(self):
        """Number of update steps applied so far (with gradient accumulation, calls divided
        by ``gradient_accumulation_steps``, as in Keras)."""
        return _Iterations(self._steps_done())

    def _steps_done(self):
        n = self._iterations
        return n // self.gradient_accumulation_steps if self.gradient_accumulation_steps else n

    @iterations.setter
    def iterations(self, value):
        self._iterations = int(value)

    # ----------------------------------------------------------------- slots
    def _slot_names(self, var):
        """{slot name: initial fill value} for one variable."""
        return {}

    def _all_slot_names(self, var):
        names = dict(self._slot_names(var))
        if self.use_ema:
            names["average"] = 0.0
        if self.gradient_accumulation_steps:
            names["gradient_accumulator"] = 0.0
        return names

    def _key(self, var, index):
        path = getattr(var, "path", None) or getattr(var, "name", None)
        return path if path else f"var_{index}"

    def _ensure_slots(self, var):
        vid = id(var)
        slots = self._slots.get(vid)
        if slots is not None:
            return slots
        key = self._key(var, len(self._vars))
        if key in self._keys.values():
            key = f"{key}_{len(self._vars)}"
        d = var.data
        xp = get_xp(d)
        slots = {}
        for name, fill in self._all_slot_names(var).items():
            # a slot is (fill value) shaped like the variable, or (fill value, shape)
            fill, shape = fill if isinstance(fill, tuple) else (fill, d.shape)
            arr = xp.full(shape, fill, dtype=d.dtype)
            pend = self._pending.pop(f"{key}/{name}", None)
            if pend is not None:
                self._assign_state(arr, pend, f"{key}/{name}")
            slots[name] = arr
        self._slots[vid] = slots
        self._vars[vid] = var
        self._keys[vid] = key
        self.built = True
        return slots

    def build(self, var_list):
        """Create the slots of every variable now (otherwise done on the first update)."""
        for v in var_list:
            self._ensure_slots(v)
        self.built = True

    @property
    def variables(self):
        """The optimizer's state as named tensors sharing the slot arrays (iterations first)."""
        from ..ops.base import wrap
        out = []
        it = wrap(np.asarray(self._iterations, dtype=np.int64))
        it.name = "iterations"
        out.append(it)
        for vid, slots in self._slots.items():
            for name, arr in slots.items():
                if name.startswith("_"):
                    continue
                t = wrap(arr)
                t.name = f"{self._keys[vid]}/{name}"
                out.append(t)
        return out

    # How Keras 3 orders this optimizer's slots in its saved variables: blocks of slot names,
    # each block created for every variable in turn (None: all slots of a variable together,
    # variable by variable, which is lamina's own order)
    _keras_slot_blocks = None

    def keras_state_order(self, keys):
        """The keys of ``get_state()`` (``keys``) in the order of Keras 3's saved optimizer
        variables (iterations, learning rate, the slots, then extra scalars such as Nadam's
        u_product); None where Keras's layout holds other state (EMA, gradient accumulation).
        """
        if self.use_ema or self.gradient_accumulation_steps:
            return None
        keys = list(keys)
        head = [k for k in ("iterations", "learning_rate") if k in keys]
        extra = [k for k in keys if "/" not in k and k not in head]
        per_var = {}
        for k in keys:
            if "/" in k:
                var, slot = k.rsplit("/", 1)
                per_var.setdefault(var, []).append(slot)
        blocks = self._keras_slot_blocks
        if blocks is None:
            blocks = [list(dict.fromkeys(s for slots in per_var.values() for s in slots))]
        order = head + [f"{var}/{slot}" for block in blocks for var, slots in per_var.items()
                        for slot in block if slot in slots] + extra
        return order if sorted(order) == sorted(keys) else None

    def get_state(self):
        """{name: numpy array}: iterations, the float learning rate, every slot."""
        state = {"iterations": np.asarray(self._iterations, dtype=np.int64)}
        if isinstance(self._learning_rate, float):
            state["learning_rate"] = np.asarray(self._learning_rate, dtype=np.float64)
        state.update(self._extra_state())
        for vid, slots in self._slots.items():
            for name, arr in slots.items():
                if name.startswith("_"):      # scratch space, not state
                    continue
                state[f"{self._keys[vid]}/{name}"] = np.array(to_device(arr, CPU))
        return state

    def set_state(self, state):
        """Restore ``get_state()``'s dict; slots not created yet get their values when
        their variable first receives a gradient."""
        state = dict(state)
        if "iterations" in state:
            self._iterations = int(to_host(state.pop("iterations")))
        if "learning_rate" in state:
            lr = float(to_host(state.pop("learning_rate")))
            if not isinstance(self._learning_rate, _schedules.LearningRateSchedule):
                self._learning_rate = lr
        self._load_extra_state(state)
        by_key = {}
        for vid, key in self._keys.items():
            for name, arr in self._slots[vid].items():
                by_key[f"{key}/{name}"] = arr
        for k, v in state.items():
            if k in by_key:
                self._assign_state(by_key[k], v, k)
            else:
                self._pending[k] = to_host(v)

    def _assign_state(self, arr, value, key):
        value = to_device(_raw(value), device_of(arr))   # saved on the host or another device
        if tuple(value.shape) != tuple(arr.shape):
            raise ValueError(f"{type(self).__name__}.set_state: {key!r} has shape "
                             f"{tuple(value.shape)}, expected {tuple(arr.shape)}")
        arr[...] = get_xp(arr).asarray(value, dtype=arr.dtype)

    def _extra_state(self):
        return {}

    def _load_extra_state(self, state):
        pass

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exempt these variables (or those whose name matches one of ``var_names``) from
        weight decay."""
        self._exclude_wd_ids = {id(v) for v in (var_list or [])}
        self._exclude_wd_pattern = re.compile("|".join(map(re.escape, var_names))) \
            if var_names else None

    def _weight_decay_of(self, var):
        """The decoupled weight decay rate for ``var`` (None or 0: none)."""
        return self.weight_decay

    def _use_weight_decay(self, var):
        if id(var) in self._exclude_wd_ids:
            return False
        if self._exclude_wd_pattern is not None:
            name = getattr(var, "path", None) or getattr(var, "name", None) or ""
            if self._exclude_wd_pattern.search(name):
                return False
        return True

    # ---------------------------------------------------------------- applying
    def scale_loss(self, loss):
        """``loss`` times ``loss_scale_factor`` when it is set (else ``loss``): training steps
        take gradients of the scaled loss, and :meth:`apply` divides them by the factor
        again, as in Keras 3."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    def apply_gradients(self, grads_and_vars):
        """Apply ``(gradient, variable)`` pairs; returns ``iterations``."""
        pairs = list(grads_and_vars)
        if not pairs:
            return self.iterations
        grads, variables = zip(*pairs)
        self.apply(list(grads), list(variables))
        return self.iterations

    def apply(self, grads, trainable_variables=None):
        """One update step of ``trainable_variables`` with ``grads`` (Tensors or arrays,
        None to skip a variable)."""
        grads = list(grads)
        if trainable_variables is None:
            if not self._vars:
                raise ValueError(f"{type(self).__name__}.apply: pass the variables with the "
                                 "gradients (the optimizer has not been built yet)")
            trainable_variables = list(self._vars.values())
        variables = list(trainable_variables)
        if len(grads) != len(variables):
            raise ValueError(f"{type(self).__name__}.apply: got {len(grads)} gradients for "
                             f"{len(variables)} variables")
        if not grads:
            return
        pairs = []
        for g, v in zip(grads, variables):
            if g is None:
                continue
            if not isinstance(v, Tensor):
                raise TypeError(f"{type(self).__name__}.apply: variables must be lamina "
                                f"Variables/Tensors, got {type(v).__name__}")
            ga = g.data if isinstance(g, Tensor) else g
            w = v.data
            if type(ga) is not type(w):
                # a host gradient for a GPU variable (Keras accepts those), or the reverse:
                # the update runs in the variable's array module
                ga = to_device(ga, device_of(w))
            if ga.shape != w.shape:     # tuples, for NumPy and CuPy arrays alike
                raise ValueError(f"{type(self).__name__}.apply: gradient of shape "
                                 f"{tuple(ga.shape)} for variable "
                                 f"{getattr(v, 'path', None) or v.name or ''} of shape "
                                 f"{tuple(w.shape)}")
            if ga.dtype != w.dtype:
                ga = ga.astype(w.dtype)
            pairs.append((ga, v))
        if not pairs:
            raise ValueError(f"{type(self).__name__}.apply: no gradients provided for any "
                             "variable")
        if self.loss_scale_factor is not None:
            pairs = [(g / self.loss_scale_factor, v) for g, v in pairs]
        if self.gradient_accumulation_steps:
            steps = self.gradient_accumulation_steps
            for g, v in pairs:
                # a slot, so that a saved state holds a half-accumulated step too
                self._ensure_slots(v)["gradient_accumulator"] += g
            if (self._iterations + 1) % steps != 0:
                self._iterations += 1
                return
            averaged = []
            for _, v in pairs:
                acc = self._slots[id(v)]["gradient_accumulator"]
                averaged.append((acc / steps, v))
                acc[...] = 0
            pairs = averaged
        pairs = self._clip(pairs)
        lr = self._learning_rate
        if type(lr) is not float:      # a schedule, or a callable
            lr = float(self.learning_rate)
        if self.weight_decay or self._decay_per_variable:
            for _, v in pairs:
                wd = self._weight_decay_of(v)
                if wd and self._use_weight_decay(v):
                    v.data *= v.data.dtype.type(1.0 - wd * lr)
        self._before_step()
        step = self._steps_done() + 1
        # the loop runs once per variable and step: its lookups are kept few
        slots_of = self._slots.get
        blockwise = self._elementwise
        for g, v in pairs:
            slots = slots_of(id(v))
            if slots is None:
                slots = self._ensure_slots(v)
            w = v.data
            if blockwise and w.size >= 2 * _CHUNK and type(w) is np.ndarray and \
                    w.flags.c_contiguous:
                self._update_chunked(w, g, slots, lr, step)
            else:
                self._update(w, g, slots, lr, step)
            v._version += 1
            c = getattr(v, "constraint", None)
            if c is not None:
                v.data[...] = _raw(c(v))
        if self.use_ema:
            self._update_ema(pairs)
        self._iterations += 1

    def _update_ema(self, pairs):
        # Keras: the average starts as the variable after the first update
        m = self.ema_momentum if self._steps_done() else 0.0
        for _, v in pairs:
            avg = self._slots[id(v)]["average"]
            t = avg.dtype.type
            avg *= t(m)
            avg += v.data * t(1.0 - m)
        freq = self.ema_overwrite_frequency
        if freq and (self._steps_done() + 1) % freq == 0:
            for _, v in pairs:
                v.data[...] = self._slots[id(v)]["average"]
                v._version += 1

    def finalize_variable_values(self, var_list):
        """With ``use_ema``, set each variable to its moving average (Keras calls this at
        the end of ``fit``); otherwise nothing."""
        if not self.use_ema:
            return
        for v in var_list:
            slots = self._slots.get(id(v))
            if slots is not None:
                v.data[...] = slots["average"]
                v._version += 1

    def _before_step(self):
        pass

    def _update_chunked(self, w, g, slots, lr, step):
        # The update makes several passes over each array; on the CPU, running all of them
        # on one cache-sized block before the next is ~25% faster for large weights than
        # whole-array passes (the formulas are elementwise, so blocks are independent).
        # A large weight's blocks are also shared out over lamina's threads, each with its
        # own scratch block (NumPy drops the GIL in its loops).
        fw, fg = w.reshape(-1), g.reshape(-1)
        flat = {k: a.reshape(-1) for k, a in slots.items() if not k.startswith("_")}
        n = fw.size
        parts = _threads.row_parts(n, 1)

        def run(p, lo, hi):
            scratch = self._chunk_scratch.get((w.dtype, p))
            if scratch is None:
                scratch = self._chunk_scratch[(w.dtype, p)] = np.empty(_CHUNK, dtype=w.dtype)
            for i in range(lo, hi, _CHUNK):
                j = min(i + _CHUNK, hi)
                part = {k: a[i:j] for k, a in flat.items()}
                part["_scratch"] = scratch[:j - i]
                self._update(fw[i:j], fg[i:j], part, lr, step)
        _threads.run_parallel([lambda p=p, lo=lo, hi=hi: run(p, lo, hi)
                               for p, (lo, hi) in enumerate(parts)])

    def _clip(self, pairs):
        if self.clipnorm:
            out = []
            for g, v in pairs:
                xp = get_xp(g)
                n = float(xp.sqrt((g.astype(np.float64) ** 2).sum()))
                out.append((g * g.dtype.type(self.clipnorm / max(n, self.clipnorm)), v))
            return out
        if self.global_clipnorm:
            total = 0.0
            for g, _ in pairs:
                total += float((g.astype(np.float64) ** 2).sum())
            norm = math.sqrt(total)
            if not math.isfinite(norm):
                scale = float("nan")
            else:
                scale = self.global_clipnorm * min(1.0 / norm if norm else math.inf,
                                                   1.0 / self.global_clipnorm)
            return [(g * g.dtype.type(scale), v) for g, v in pairs]
        if self.clipvalue:
            c = self.clipvalue
            return [(get_xp(g).clip(g, -c, c), v) for g, v in pairs]
        return pairs

    def _update(self, w, g, slots, lr, step):
        raise NotImplementedError(f"{type(self).__name__} must implement _update")

    def minimize(self, loss_fn, var_list):
        """Compute gradients of ``loss_fn()`` for ``var_list`` and apply them."""
        from ..autograd import gradients
        loss = loss_fn() if callable(loss_fn) else loss_fn
        grads = gradients(loss, list(var_list))
        self.apply(grads, var_list)
        return loss

    # ------------------------------------------------------------------ config
    def get_config(self):
        """Constructor arguments (a schedule is serialized to its config dict)."""
        lr = self._learning_rate
        if isinstance(lr, _schedules.LearningRateSchedule):
            lr = _schedules.serialize(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps,
                **{k: getattr(self, k) for k in self._config_keys}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new optimizer (without state) from ``get_config()``'s dict."""
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = _schedules.deserialize(lr, custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate!r}>"


def _buf(slots, w):
    """A scratch array like ``w``, kept with the slots so steps allocate nothing."""
    b = slots.get("_scratch")
    if b is None:
        b = get_xp(w).empty_like(w)
        slots["_scratch"] = b
    return b


def _move_toward(xp, avg, x, frac, buf):
    """avg += (x - avg) * frac, in place: Keras's form of a moving average (the moments of
    Adam, Adamax, Nadam).  ``buf`` is scratch shaped like ``avg``; it may be ``x`` itself."""
    xp.subtract(x, avg, out=buf)
    buf *= frac
    avg += buf


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, as Keras 3:
    m = momentum * m - lr * g; w += m (Nesterov: w += momentum * m - lr * g)."""

    _config_keys = ("momentum", "nesterov")
    _default_lr = 0.01

    def __init__(self, learning_rate=None, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or \
                not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be a float in [0, 1], got {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _slot_names(self, var):
        return {"momentum": 0.0} if self.momentum else {}

    def _update(self, w, g, slots, lr, step):
        t = w.dtype.type
        buf = slots.get("_scratch")
        if buf is None:
            buf = _buf(slots, w)
        (np.multiply if type(w) is np.ndarray else get_xp(w).multiply)(g, t(lr), out=buf)
        if not self.momentum:
            w -= buf
            return
        m = slots["momentum"]
        m *= t(self.momentum)
        m -= buf
        if self.nesterov:
            w -= buf
            buf[...] = m
            buf *= t(self.momentum)
            w += buf
        else:
            w += m


class Adam(Optimizer):
    """Adam (Kingma & Ba) in Keras 3's form: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps); ``amsgrad`` uses max(v)."""

    _config_keys = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    # Keras 3 creates momentums and velocities per variable, then (amsgrad) all velocity_hats
    _keras_slot_blocks = (("momentum", "velocity"), ("velocity_hat",))

    def _slot_names(self, var):
        s = {"momentum": 0.0, "velocity": 0.0}
        if self.amsgrad:
            s["velocity_hat"] = 0.0
        return s

    def _update(self, w, g, slots, lr, step):
        xp = get_xp(w)
        t = w.dtype.type
        m, v = slots["momentum"], slots["velocity"]
        alpha = lr * math.sqrt(1.0 - self.beta_2 ** step) / (1.0 - self.beta_1 ** step)
        if xp is not np and not self.amsgrad:
            # on a GPU the ten calls below are ten kernel launches: one fused kernel instead
            fused = _cuda_kernels.elementwise("adam", xp, w.dtype)
            if fused is not None and g.dtype == w.dtype:
                fused(g, t(1.0 - self.beta_1), t(1.0 - self.beta_2), t(self.epsilon),
                      t(alpha), w, m, v)
                return
        buf = _buf(slots, w)
        _move_toward(xp, m, g, t(1.0 - self.beta_1), buf)
        xp.multiply(g, g, out=buf)
        _move_toward(xp, v, buf, t(1.0 - self.beta_2), buf)
        if self.amsgrad:
            vh = slots["velocity_hat"]
            xp.maximum(vh, v, out=vh)
            v = vh
        xp.sqrt(v, out=buf)
        buf += t(self.epsilon)
        xp.divide(m, buf, out=buf)
        buf *= t(alpha)
        w -= buf


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004): w -= w * weight_decay * lr first."""

    def __init__(self, learning_rate=None, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a float, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay,
                         clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)


class RMSprop(Optimizer):
    """RMSprop as Keras 3: v = rho v + (1 - rho) g^2; (centered: a = rho a + (1 - rho) g,
    denominator v - a^2 + eps, else v + eps); step = lr g / sqrt(denominator), through a
    momentum accumulator when ``momentum`` > 0."""

    _config_keys = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate=None, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    # Keras 3 creates all velocities, then all momentums, then all average gradients
    _keras_slot_blocks = (("velocity",), ("momentum",), ("average_gradient",))

    def _slot_names(self, var):
        s = {"velocity": 0.0}
        if self.momentum > 0:
            s["momentum"] = 0.0
        if self.centered:
            s["average_gradient"] = 0.0
        return s

    def _update(self, w, g, slots, lr, step):
        xp = get_xp(w)
        t = w.dtype.type
        rho = self.rho
        vel = slots["velocity"]
        buf = _buf(slots, w)
        vel *= t(rho)
        xp.multiply(g, g, out=buf)
        buf *= t(1.0 - rho)
        vel += buf
        if self.centered:
            a = slots["average_gradient"]
            a *= t(rho)
            xp.multiply(g, t(1.0 - rho), out=buf)
            a += buf
            xp.multiply(a, a, out=buf)
            xp.subtract(vel, buf, out=buf)
        else:
            buf[...] = vel
        buf += t(self.epsilon)
        xp.sqrt(buf, out=buf)
        xp.divide(g, buf, out=buf)
        buf *= t(lr)
        if self.momentum > 0:
            mom = slots["momentum"]
            mom *= t(self.momentum)
            mom += buf
            w -= mom
        else:
            w -= buf


class Adagrad(Optimizer):
    """Adagrad as Keras 3: acc (starts at ``initial_accumulator_value``) += g^2;
    w -= lr g / sqrt(acc + eps)."""

    _config_keys = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate=None, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _slot_names(self, var):
        return {"accumulator": self.initial_accumulator_value}

    def _update(self, w, g, slots, lr, step):
        xp = get_xp(w)
        t = w.dtype.type
        acc = slots["accumulator"]
        buf = _buf(slots, w)
        xp.multiply(g, g, out=buf)
        acc += buf
        xp.add(acc, t(self.epsilon), out=buf)
        xp.sqrt(buf, out=buf)
        xp.divide(g, buf, out=buf)
        buf *= t(lr)
        w -= buf


class Adadelta(Optimizer):
    """Adadelta as Keras 3: Eg = rho Eg + (1 - rho) g^2; d = -sqrt(Ed + eps) g / sqrt(Eg + eps);
    Ed = rho Ed + (1 - rho) d^2; w += lr d."""

    _config_keys = ("rho", "epsilon")

    def __init__(self, learning_rate=None, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def _slot_names(self, var):
        return {"accumulated_grad": 0.0, "accumulated_delta_var": 0.0}

    def _update(self, w, g, slots, lr, step):
        xp = get_xp(w)
        t = w.dtype.type
        rho, eps = self.rho, t(self.epsilon)
        eg, ed = slots["accumulated_grad"], slots["accumulated_delta_var"]
        buf = _buf(slots, w)
        eg *= t(rho)
        xp.multiply(g, g, out=buf)
        buf *= t(1.0 - rho)
        eg += buf
        # d = -sqrt(ed + eps) * g / sqrt(eg + eps), built in buf
        xp.add(eg, eps, out=buf)
        xp.sqrt(buf, out=buf)
        xp.divide(g, buf, out=buf)
        d2 = xp.add(ed, eps)
        xp.sqrt(d2, out=d2)
        buf *= d2
        buf *= t(-1.0)
        ed *= t(rho)
        xp.multiply(buf, buf, out=d2)
        d2 *= t(1.0 - rho)
        ed += d2
        buf *= t(lr)
        w += buf


class Adamax(Optimizer):
    """Adamax as Keras 3: m += (g - m)(1 - b1); u = max(b2 u, |g|);
    w -= lr m / ((1 - b1^t)(u + eps))."""

    _config_keys = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _slot_names(self, var):
        return {"momentum": 0.0, "norm": 0.0}

    def _update(self, w, g, slots, lr, step):
        xp = get_xp(w)
        t = w.dtype.type
        m, u = slots["momentum"], slots["norm"]
        buf = _buf(slots, w)
        _move_toward(xp, m, g, t(1.0 - self.beta_1), buf)
        u *= t(self.beta_2)
        xp.abs(g, out=buf)
        xp.maximum(u, buf, out=u)
        xp.add(u, t(self.epsilon), out=buf)
        xp.divide(m, buf, out=buf)
        buf *= t(lr / (1.0 - self.beta_1 ** step))
        w -= buf


class Nadam(Optimizer):
    """Nadam as Keras 3 (Dozat's momentum schedule u_t = b1 (1 - 0.5 * 0.96^t))."""

    _config_keys = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self._u_product = 1.0

    def _slot_names(self, var):
        return {"momentum": 0.0, "velocity": 0.0}

    def _before_step(self):
        self._u_product *= self.beta_1 * (1.0 - 0.5 * 0.96 ** (self._steps_done() + 1))

    def _extra_state(self):
        return {"u_product": np.asarray(self._u_product, dtype=np.float64)}

    def _load_extra_state(self, state):
        if "u_product" in state:
            self._u_product = float(to_host(state.pop("u_product")))

    def _update(self, w, g, slots, lr, step):
        xp = get_xp(w)
        t = w.dtype.type
        b1, b2 = self.beta_1, self.beta_2
        u_t = b1 * (1.0 - 0.5 * 0.96 ** step)
        u_t1 = b1 * (1.0 - 0.5 * 0.96 ** (step + 1))
        up_t = self._u_product
        up_t1 = up_t * u_t1
        m, v = slots["momentum"], slots["velocity"]
        buf = _buf(slots, w)
        _move_toward(xp, m, g, t(1.0 - b1), buf)
        xp.multiply(g, g, out=buf)
        _move_toward(xp, v, buf, t(1.0 - b2), buf)
        # denominator sqrt(v / (1 - b2^t)) + eps
        xp.multiply(v, t(1.0 / (1.0 - b2 ** step)), out=buf)
        xp.sqrt(buf, out=buf)
        buf += t(self.epsilon)
        num = xp.multiply(m, t(u_t1 / (1.0 - up_t1)))
        num += g * t((1.0 - u_t) / (1.0 - up_t))
        xp.divide(num, buf, out=buf)
        buf *= t(lr)
        w -= buf


class Lion(Optimizer):
    """Lion (Chen et al. 2023) as Keras 3: w -= lr * sign(b1 m + (1 - b1) g);
    m = b2 m + (1 - b2) g."""

    _config_keys = ("beta_1", "beta_2")

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        if not 0 < beta_1 <= 1:
            raise ValueError(f"Lion: beta_1 must be in (0, 1], got {beta_1}")
        self.beta_1, self.beta_2 = beta_1, beta_2

    def _slot_names(self, var):
        return {"momentum": 0.0}

    def _update(self, w, g, slots, lr, step):
        xp = get_xp(w)
        t = w.dtype.type
        m = slots["momentum"]
        buf = _buf(slots, w)
        xp.multiply(g, t(1.0 - self.beta_1), out=buf)
        buf += m * t(self.beta_1)
        xp.sign(buf, out=buf)
        buf *= t(lr)
        w -= buf
        m *= t(self.beta_2)
        xp.multiply(g, t(1.0 - self.beta_2), out=buf)
        m += buf


class Ftrl(Optimizer):
    """FTRL-proximal (McMahan et al. 2013) as Keras 3, with L1/L2 and L2-shrinkage
    regularization strengths and ``beta``."""

    _config_keys = ("learning_rate_power", "initial_accumulator_value",
                    "l1_regularization_strength", "l2_regularization_strength",
                    "l2_shrinkage_regularization_strength", "beta")

    def __init__(self, learning_rate=None, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        for arg, v in (("initial_accumulator_value", initial_accumulator_value),
                       ("l1_regularization_strength", l1_regularization_strength),
                       ("l2_regularization_strength", l2_regularization_strength),
                       ("l2_shrinkage_regularization_strength",
                        l2_shrinkage_regularization_strength)):
            if v < 0:
                raise ValueError(f"Ftrl: {arg} must be >= 0, got {v}")
        if learning_rate_power > 0:
            raise ValueError(f"Ftrl: learning_rate_power must be <= 0, got {learning_rate_power}")
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def _slot_names(self, var):
        return {"accumulator": self.initial_accumulator_value, "linear": 0.0}

    def _update(self, w, g, slots, lr, step):
        xp = get_xp(w)
        t = w.dtype.type
        acc, lin = slots["accumulator"], slots["linear"]
        p = t(-self.learning_rate_power)
        l1 = t(self.l1_regularization_strength)
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        new_acc = acc + g * g
        new_pow = xp.power(new_acc, p)
        grad = g + t(2 * self.l2_shrinkage_regularization_strength) * w if \
            self.l2_shrinkage_regularization_strength else g
        lin += grad - (new_pow - xp.power(acc, p)) * t(1.0 / lr) * w
        quadratic = new_pow * t(1.0 / lr) + t(2 * l2)
        w[...] = (xp.clip(lin, -l1, l1) - lin) / quadratic
        acc[...] = new_acc


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern 2018) as Keras 3: factored second moments (row and column
    means) for weights of rank >= 2, relative step sizes, update clipping."""

    _config_keys = ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step")

    # rms(w) and the row/column means need whole arrays
    _elementwise = False

    def __init__(self, learning_rate=None, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                 clip_threshold=1.0, relative_step=True, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        self.beta_2_decay, self.epsilon_1, self.epsilon_2 = beta_2_decay, epsilon_1, epsilon_2
        self.clip_threshold, self.relative_step = clip_threshold, relative_step

    def _slot_names(self, var):
        shape = tuple(var.data.shape)
        if len(shape) < 2:
            return {"r": (0.0, ()), "c": (0.0, ()), "velocity": 0.0}
        return {"r": (0.0, shape[:-1]), "c": (0.0, shape[:-2] + (shape[-1],)),
                "velocity": 0.0}

    def _update(self, w, g, slots, lr, step):
        xp = get_xp(w)
        t = w.dtype.type
        r, c, v = slots["r"], slots["c"], slots["velocity"]
        if self.relative_step and not callable(self._learning_rate):
            lr = min(lr, 1.0 / math.sqrt(step))
        rho = min(lr, 1.0 / math.sqrt(step))
        alpha = max(self.epsilon_2, float(xp.sqrt(xp.mean(w * w)))) * rho
        sq = g * g + t(self.epsilon_1)
        b2 = t(1.0 - step ** self.beta_2_decay)
        if w.ndim >= 2:
            r[...] = b2 * r + (1 - b2) * sq.mean(axis=-1)
            c[...] = b2 * c + (1 - b2) * sq.mean(axis=-2)
            v[...] = (r / r.mean(axis=-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v[...] = b2 * v + (1 - b2) * sq
        u = g / xp.sqrt(v)
        u /= t(max(1.0, float(xp.sqrt(xp.mean(u * u))) / self.clip_threshold))
        w -= t(alpha) * u


class Lamb(Optimizer):
    """LAMB (You et al. 2019) as Keras 3: Adam's bias-corrected step
    u = m_hat / (sqrt(v_hat) + eps), scaled per weight by the trust ratio ||w|| / ||u||
    (1 where either norm is 0): w -= ratio * lr * u."""

    _config_keys = ("beta_1", "beta_2", "epsilon")

    # the trust ratio needs whole-array norms
    _elementwise = False

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
                 **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _slot_names(self, var):
        return {"momentum": 0.0, "velocity": 0.0}

    def _update(self, w, g, slots, lr, step):
        xp = get_xp(w)
        t = w.dtype.type
        m, v = slots["momentum"], slots["velocity"]
        buf = _buf(slots, w)
        _move_toward(xp, m, g, t(1.0 - self.beta_1), buf)
        xp.multiply(g, g, out=buf)
        _move_toward(xp, v, buf, t(1.0 - self.beta_2), buf)
        xp.divide(v, t(1.0 - self.beta_2 ** step), out=buf)
        xp.sqrt(buf, out=buf)
        buf += t(self.epsilon)
        xp.divide(m, buf, out=buf)
        buf *= t(1.0 / (1.0 - self.beta_1 ** step))         # the update u
        w_norm = float(xp.sqrt(xp.sum(w * w)))
        u_norm = float(xp.sqrt(xp.sum(buf * buf)))
        ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
        buf *= t(ratio * lr)
        w -= buf


class Muon(Optimizer):
    """Muon (Jordan et al. 2024) as Keras 3: 2-D weights follow momentum (Nesterov by default)
    orthogonalized by ``ns_steps`` quintic Newton-Schulz iterations (coefficients muon_a,
    muon_b, muon_c), scaled by sqrt(max(rows, cols)) * rms_rate; every other weight (and
    embeddings, and paths matching ``exclude_layers``) takes an AdamW step at
    lr * adam_lr_ratio with ``adam_weight_decay``."""

    _config_keys = ("adam_beta_1", "adam_beta_2", "epsilon", "exclude_layers", "muon_a",
                    "muon_b", "muon_c", "adam_lr_ratio", "momentum", "ns_steps", "nesterov",
                    "exclude_embeddings", "adam_weight_decay", "rms_rate")

    # the Newton-Schulz iteration needs whole matrices
    _elementwise = False

    def __init__(self, learning_rate=None, adam_beta_1=0.9, adam_beta_2=0.999,
                 adam_weight_decay=0.004, epsilon=1e-7, weight_decay=0.004, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, exclude_layers=None,
                 exclude_embeddings=True, muon_a=3.4445, muon_b=-4.7750, muon_c=2.0315,
                 adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2,
                 **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        self.adam_beta_1, self.adam_beta_2, self.epsilon = adam_beta_1, adam_beta_2, epsilon
        self.muon_a, self.muon_b, self.muon_c = muon_a, muon_b, muon_c
        self.adam_lr_ratio, self.momentum, self.ns_steps = adam_lr_ratio, momentum, ns_steps
        self.nesterov, self.rms_rate = nesterov, rms_rate
        self.exclude_embeddings = exclude_embeddings
        self.exclude_layers = list(exclude_layers or [])
        self.adam_weight_decay = adam_weight_decay

    def _uses_adamw(self, var):
        """Keras's rule: AdamW for weights that are not 2-D, for embeddings (by path) and for
        paths matching ``exclude_layers``; Muon for the other 2-D weights."""
        if var.data.ndim != 2:
            return True
        path = getattr(var, "path", None) or getattr(var, "name", None) or ""
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(k, path) for k in self.exclude_layers)

    _decay_per_variable = True

    def _weight_decay_of(self, var):
        return self.adam_weight_decay if self._uses_adamw(var) else self.weight_decay

    def _slot_names(self, var):
        if self._uses_adamw(var):
            return {"momentum": 0.0, "velocity": 0.0}
        return {"momentum": 0.0}

    def _update(self, w, g, slots, lr, step):
        xp = get_xp(w)
        t = w.dtype.type
        m = slots["momentum"]
        if "velocity" in slots:                    # the AdamW branch
            v = slots["velocity"]
            lr = lr * self.adam_lr_ratio
            alpha = lr * math.sqrt(1.0 - self.adam_beta_2 ** step) / (
                1.0 - self.adam_beta_1 ** step)
            m += (g - m) * t(1.0 - self.adam_beta_1)
            v += (g * g - v) * t(1.0 - self.adam_beta_2)
            w -= (m * t(alpha)) / (xp.sqrt(v) + t(self.epsilon))
            return
        m *= t(self.momentum)                      # m = momentum * m + g
        m += g
        u = g + t(self.momentum) * m if self.nesterov else m
        u = self._orthogonalize(xp, u)
        scale = lr if self.rms_rate is None else \
            lr * math.sqrt(max(w.shape[0], w.shape[1])) * self.rms_rate
        w -= u * t(scale)

    def _orthogonalize(self, xp, x):
        """The quintic Newton-Schulz approximation of U V^T for x = U S V^T (2-D)."""
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        tall = x.shape[0] > x.shape[1]
        if tall:
            x = x.T
        x = x / (xp.sqrt(xp.sum(x * x)) + x.dtype.type(1e-7))
        for _ in range(self.ns_steps):
            A = x @ x.T
            B = b * A + c * (A @ A)
            x = a * x + B @ x
        x = x.astype(x.dtype, copy=False)
        return x.T if tall else x


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around ``inner_optimizer`` (Keras 3's semantics), for training
    under the 'mixed_float16' policy, where small float16 gradients would underflow.

    ``scale_loss(loss)`` multiplies the loss by ``dynamic_scale``; ``apply(grads, vars)``
    divides the gradients by it and, when all are finite, applies the inner optimizer and
    counts a good step (after ``dynamic_growth_steps`` good steps in a row the scale
    doubles); when any is inf or NaN it skips the update and halves the scale.
    ``iterations`` and ``learning_rate`` are the inner optimizer's."""

    _skips_overflow = True

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000,
                 name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer: argument `dynamic` is only supported with "
                             "value True (fixed loss scaling: use an optimizer's "
                             "loss_scale_factor)")
        if isinstance(inner_optimizer, (str, dict)):
            inner_optimizer = get(inner_optimizer)
        if not isinstance(inner_optimizer, Optimizer):
            raise TypeError("LossScaleOptimizer: `inner_optimizer` must be an Optimizer, got "
                            f"{inner_optimizer!r} (of type {type(inner_optimizer).__name__})")
        initial_scale = _check_positive(initial_scale, "initial_scale", "LossScaleOptimizer",
                                        allow_none=False)
        if not isinstance(dynamic_growth_steps, (int, np.integer)) or dynamic_growth_steps < 1:
            raise ValueError("LossScaleOptimizer: dynamic_growth_steps must be an int >= 1, got "
                             f"{dynamic_growth_steps!r}")
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = initial_scale
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        # Keras keeps these in float32/int variables; host numbers suffice here: apply()
        # reads the finiteness of the gradients on the host anyway
        self._scale = float(np.float32(initial_scale))
        self._step_counter = 0

    @property
    def dynamic_scale(self):
        """The current loss scale."""
        return _HostFloat(self._scale)

    @property
    def step_counter(self):
        """Good steps since the scale last changed."""
        return _Iterations(self._step_counter)

    @property
    def learning_rate(self):
        """The inner optimizer's learning rate (settable)."""
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    lr = learning_rate

    @property
    def iterations(self):
        """The inner optimizer's step count (skipped steps do not count)."""
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value):
        self.inner_optimizer.iterations = value

    def build(self, var_list):
        """Build the inner optimizer's slots."""
        self.inner_optimizer.build(var_list)
        self.built = True

    @property
    def variables(self):
        """The inner optimizer's variables."""
        return self.inner_optimizer.variables

    def scale_loss(self, loss):
        """``loss`` times the current ``dynamic_scale`` (the inner optimizer's own
        ``loss_scale_factor`` applies too)."""
        return self.inner_optimizer.scale_loss(loss * self._scale)

    def check_finite(self, grads):
        """Whether every gradient is finite (one device->host read for GPU arrays)."""
        flags = []
        for g in grads:
            if g is None:
                continue
            a = _raw(g)
            if type(a) is np.ndarray or not hasattr(a, "shape"):
                if not np.isfinite(a).all():
                    return False
            else:
                flags.append(get_xp(a).isfinite(a).all())
        if not flags:
            return True
        xp = get_xp(flags[0])
        # the one synchronizing read of the step: all device flags combined first
        return bool(xp.stack(flags).all()) if len(flags) > 1 else bool(flags[0])

    def apply(self, grads, trainable_variables=None):
        """Unscale ``grads``; apply them with the inner optimizer if all are finite (and
        grow the scale after ``dynamic_growth_steps`` good steps), else skip the step and
        halve the scale."""
        grads = list(grads)
        if not self.check_finite(grads):
            self._step_counter = 0
            self._scale = float(np.float32(self._scale * 0.5))
            return
        scale = self._scale
        unscaled = []
        for g in grads:
            if g is None:
                unscaled.append(None)
                continue
            a = _raw(g)
            t = a.dtype.type if hasattr(a, "dtype") and a.dtype.kind == "f" else float
            unscaled.append(a / t(scale))
        self.inner_optimizer.apply(unscaled, trainable_variables)
        if self._step_counter == self.dynamic_growth_steps - 1:
            self._step_counter = 0
            self._scale = float(np.float32(scale * 2.0))
        else:
            self._step_counter += 1

    def finalize_variable_values(self, var_list):
        """The inner optimizer's (EMA weights)."""
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_state(self):
        """The inner optimizer's state plus ``dynamic_scale`` and ``step_counter``."""
        state = self.inner_optimizer.get_state()
        state["dynamic_scale"] = np.asarray(self._scale, dtype=np.float32)
        state["step_counter"] = np.asarray(self._step_counter, dtype=np.int64)
        return state

    def set_state(self, state):
        """Restore :meth:`get_state`'s dict (a plain inner state is accepted too)."""
        state = dict(state)
        if "dynamic_scale" in state:
            self._scale = float(to_host(state.pop("dynamic_scale")))
        if "step_counter" in state:
            self._step_counter = int(to_host(state.pop("step_counter")))
        self.inner_optimizer.set_state(state)

    def keras_state_order(self, keys):
        """None: Keras's saved layout of this optimizer is not reproduced (the state goes
        to lamina's own file)."""
        return None

    def get_config(self):
        """Keras's config: the base options without learning_rate, the serialized
        ``inner_optimizer``, ``initial_scale`` and ``dynamic_growth_steps``."""
        cfg = super().get_config()
        del cfg["learning_rate"]
        cfg.update({"inner_optimizer": serialize(self.inner_optimizer),
                    "initial_scale": self.initial_scale,
                    "dynamic_growth_steps": self.dynamic_growth_steps})
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new LossScaleOptimizer (and inner optimizer) from :meth:`get_config`'s dict."""
        config = dict(config)
        inner = deserialize(config.pop("inner_optimizer"), custom_objects)
        return cls(inner, **config)

    def __repr__(self):
        return (f"<LossScaleOptimizer name={self.name!r} inner={self.inner_optimizer!r} "
                f"dynamic_scale={self._scale}>")


_CLASSES = {c.__name__.lower(): c for c in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta,
                                             Adamax, Nadam, Lion, Ftrl, Adafactor, Lamb, Muon,
                                             LossScaleOptimizer)}
_KIND = Kind("optimizers", "optimizer", names=_CLASSES, key=str.lower, none=None,
             instances=Optimizer, subclasses=Optimizer, wrap=None,
             expected="a string, dict or Optimizer", keras_module="keras.optimizers")


def get(identifier):
    """An Optimizer from a name ('sgd', 'adam', 'Adam', ...), a config dict, a class or an
    instance (returned unchanged)."""
    return _KIND.get(identifier)


def serialize(optimizer):
    """``{"class_name", "config"}`` of an optimizer (its state is ``get_state()``)."""
    return _KIND.serialize(optimizer)


def deserialize(config, custom_objects=None):
    """An Optimizer from ``serialize``'s dict."""
    return _KIND.deserialize(config, custom_objects)
