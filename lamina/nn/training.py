"""The training mixin ``Trainer``: compile, fit, evaluate, predict, the *_on_batch calls,
overridable train/test/predict steps, and saving.  ``Model(Trainer, Layer)`` inherits it.

The epoch loop is kept lean because small models spend most of their time in Python: array
data is shuffled once per epoch and sliced into batches, each step is one forward, the
compiled loss, one backward (``autograd.gradients``) and one optimizer update; metrics are
updated on raw arrays; batch-level callbacks are called only when some callback overrides
them.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..autograd import gradients, no_grad
from ..tensor import Tensor, _wrap
from . import data_adapter as _da
from .callbacks import CallbackList, History

__all__ = ["Trainer", "CompileLoss", "CompileMetrics"]


def _float(v):
    """A Python float from a Tensor, array or number (device arrays are synced here)."""
    if isinstance(v, Tensor):
        v = v.data
    if isinstance(v, (float, int)):
        return float(v)
    if hasattr(v, "result") and callable(v.result):     # a metric object
        return _float(v.result())
    return float(np.asarray(v.get() if hasattr(v, "get") and not isinstance(v, np.ndarray)
                            else v))


def _loss_value(loss):
    """A batch loss for the loss tracker: a Python float on the CPU, the device's 0-d array
    on a GPU (a float there would wait for the GPU at every batch)."""
    d = loss.data if isinstance(loss, Tensor) else loss
    return float(d) if type(d) is np.ndarray or not hasattr(d, "shape") else d


def _keep(v):
    """A metric result as it is (a Tensor), or a float when it is on the host."""
    d = v.data if isinstance(v, Tensor) else v
    return _float(v) if type(d) is np.ndarray or not hasattr(d, "shape") else v


def _to_float_logs(logs):
    out = {}
    for k, v in (logs or {}).items():
        if isinstance(v, dict):
            out.update(_to_float_logs(v))
            continue
        try:
            out[k] = _float(v)
        except (TypeError, ValueError):
            out[k] = v
    return out


def _struct_outputs(y_pred, names):
    """Model outputs as a list aligned with ``names`` (dict outputs are looked up by name)."""
    if isinstance(y_pred, dict):
        return [y_pred[n] for n in names] if all(n in y_pred for n in names) else list(
            y_pred.values())
    if isinstance(y_pred, (list, tuple)):
        return list(y_pred)
    return [y_pred]


def _struct_targets(y, names, who):
    """Targets as a list aligned with the outputs ``names`` (None where absent)."""
    n = len(names)
    if y is None:
        return [None] * n
    if isinstance(y, dict):
        unknown = [k for k in y if k not in names]
        if unknown:
            raise ValueError(f"{who}: target keys {unknown} do not name an output of the model "
                             f"(outputs: {names})")
        return [y.get(k) for k in names]
    if isinstance(y, (list, tuple)) and n > 1:
        if len(y) != n:
            raise ValueError(f"{who}: the model has {n} outputs {names} but {len(y)} targets "
                             "were given")
        return list(y)
    if n > 1:
        raise ValueError(f"{who}: the model has {n} outputs {names}; give the targets as a list "
                         "or a dict keyed by output name")
    return [y]


def _output_names(model, n):
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != n:
        names = [f"output_{i + 1}" for i in range(n)] if n > 1 else (names[:1] or ["output"])
    return names


# ------------------------------------------------------------------ compiled loss
class CompileLoss:
    """The losses given to ``compile`` matched to the model outputs, weighted and summed.

    ``loss`` may be one loss (applied to every output), a list (one per output, None to
    skip) or a dict keyed by output name.  With several outputs it keeps one Mean tracker per
    output, named ``<output>_loss``.
    """

    def __init__(self, loss, loss_weights=None):
        self.loss = loss
        self.loss_weights = loss_weights
        self.built = False
        self.names = None
        self.fns = None
        self.weights = None
        self.metrics = []

    def build(self, y_pred, model):
        from . import losses as _losses
        outs = _struct_outputs(y_pred, _output_names(model, 1))
        names = _output_names(model, len(outs))
        self.names = names
        spec = self.loss
        if isinstance(spec, dict) and not _is_config(spec):
            unknown = [k for k in spec if k not in names]
            if unknown:
                raise ValueError(f"compile: loss keys {unknown} do not name an output of the "
                                 f"model (outputs: {names})")
            specs = [spec.get(n) for n in names]
        elif isinstance(spec, (list, tuple)):
            if len(spec) != len(names):
                raise ValueError(f"compile: {len(spec)} losses were given for a model with "
                                 f"{len(names)} outputs {names}")
            specs = list(spec)
        else:
            specs = [spec] * len(names)
        self.fns = [None if s is None else _losses.get(s) for s in specs]
        lw = self.loss_weights
        if lw is None:
            ws = [1.0] * len(names)
        elif isinstance(lw, dict):
            ws = [float(lw.get(n, 1.0)) for n in names]
        elif isinstance(lw, (list, tuple)):
            if len(lw) != len(names):
                raise ValueError(f"compile: {len(lw)} loss_weights for {len(names)} outputs")
            ws = [float(w) for w in lw]
        else:
            ws = [float(lw)] * len(names)
        self.weights = ws
        self.multi = len(names) > 1
        self.metrics = [_scalar_mean(f"{n}_loss") for n, f in zip(names, self.fns)
                        if f is not None] if self.multi else []
        self.built = True

    def __call__(self, y, y_pred, sample_weight=None, model=None):
        if not self.built:
            self.build(y_pred, model)
        fns = self.fns
        if not self.multi:
            fn = fns[0]
            if fn is None or y is None:
                return None
            yp = y_pred
            if isinstance(yp, (list, tuple)):
                yp = yp[0]
            elif isinstance(yp, dict):
                yp = next(iter(yp.values()))
            yt = y
            if isinstance(yt, (list, tuple)) and len(yt) == 1 and hasattr(yt[0], "shape"):
                yt = yt[0]
            elif isinstance(yt, dict):
                yt = next(iter(yt.values()))
            loss = _call_loss(fn, yt, yp, sample_weight)
            w = self.weights[0]
            return loss if w == 1.0 else loss * w
        outs = _struct_outputs(y_pred, self.names)
        ys = _struct_targets(y, self.names, "fit")
        sws = _struct_targets(sample_weight, self.names, "fit") if isinstance(
            sample_weight, (list, tuple, dict)) else [sample_weight] * len(outs)
        total = None
        trackers = iter(self.metrics)
        for fn, w, yt, yp, sw in zip(fns, self.weights, ys, outs, sws):
            if fn is None:
                continue
            tracker = next(trackers)
            if yt is None:
                continue
            loss = _call_loss(fn, yt, yp, sw)
            tracker.update_state(_loss_value(loss), sample_weight=_batch_size(yp))
            if w != 1.0:
                loss = loss * w
            total = loss if total is None else total + loss
        return total


_SCALAR_MEAN = None
_METRIC_CLASS = None


def _metric_class():
    global _METRIC_CLASS
    if _METRIC_CLASS is None:
        from .metrics import Metric
        _METRIC_CLASS = Metric
    return _METRIC_CLASS


def _scalar_mean(name):
    """A ``metrics.Mean`` whose ``update_state(float, sample_weight=int)`` skips the array
    machinery: the loss trackers are updated once per batch with one number."""
    global _SCALAR_MEAN
    if _SCALAR_MEAN is None:
        from .metrics import Mean

        class LossTracker(Mean):
            def update_state(self, values, sample_weight=None):
                if type(values) is float and (sample_weight is None or
                                              type(sample_weight) is int):
                    w = 1 if sample_weight is None else sample_weight
                    self.total = self.total + values * w
                    self.count = self.count + w
                    return
                super().update_state(values, sample_weight)
        LossTracker.__name__ = LossTracker.__qualname__ = "Mean"
        _SCALAR_MEAN = LossTracker
    return _SCALAR_MEAN(name=name)


def _batch_size(t):
    s = getattr(t, "shape", ())
    return s[0] if len(s) else 1


def _call_loss(fn, y_true, y_pred, sample_weight):
    fast = _fused_softmax_loss(fn, y_pred)
    if fast is not None:
        fn, y_pred = fast
    if sample_weight is None:
        return fn(y_true, y_pred)
    return fn(y_true, y_pred, sample_weight=sample_weight)


_FUSABLE = ("categorical_crossentropy", "sparse_categorical_crossentropy")


def _fused_softmax_loss(fn, y_pred):
    """For a cross-entropy on probabilities that a softmax node just produced, the same
    loss on the softmax's logits with ``from_logits=True``: one fused node whose gradient
    is p - t, instead of softmax's and the clipped log's backward passes (TensorFlow's Keras
    does the same).  Differs from the clipped form only where p < 1e-7."""
    if type(y_pred) is not Tensor or y_pred._op != "softmax" or not y_pred.requires_grad:
        return None
    cache = getattr(fn, "_lamina_logits_variant", False)
    if cache is False:
        cache = None
        kw = getattr(fn, "_fn_kwargs", None)
        name = getattr(getattr(fn, "fn", None), "__name__", None)
        if (name in _FUSABLE and kw is not None and not kw.get("from_logits")
                and not kw.get("label_smoothing") and kw.get("axis", -1) == -1
                and kw.get("ignore_class") is None):
            try:
                cache = type(fn)(**dict(kw, from_logits=True), reduction=fn.reduction,
                                 name=fn.name)
            except TypeError:
                cache = None
        try:
            fn._lamina_logits_variant = cache
        except AttributeError:
            return None
    if cache is None:
        return None
    logits = y_pred._parents[0] if y_pred._parents else None
    if logits is None or logits.shape != y_pred.shape:
        return None
    # the softmax's backward records its axis (reading the output back to check that rows
    # sum to 1 would wait for the GPU at every batch)
    if getattr(y_pred._backward, "softmax_axis", None) != y_pred.data.ndim - 1:
        return None
    return cache, logits


# --------------------------------------------------------------- compiled metrics
_ACC = ("accuracy", "acc")
_CE = ("crossentropy", "ce")


class CompileMetrics:
    """The metrics given to ``compile``, matched to the outputs and resolved on the first
    batch ('accuracy' becomes binary/categorical/sparse accuracy from the shapes and loss)."""

    def __init__(self, metrics, weighted_metrics=None):
        self.spec = metrics
        self.wspec = weighted_metrics
        self.built = False
        self.metrics = []
        self.base_names = []
        self._plan = []          # (output index, metric, weighted)

    def _specs_for(self, spec, names):
        if spec is None:
            return [[] for _ in names]
        if isinstance(spec, dict) and not _is_config(spec):
            unknown = [k for k in spec if k not in names]
            if unknown:
                raise ValueError(f"compile: metrics keys {unknown} do not name an output of the "
                                 f"model (outputs: {names})")
            return [_as_list(spec.get(n)) for n in names]
        spec = list(spec) if isinstance(spec, (list, tuple)) else [spec]
        if len(names) == 1:
            return [spec]
        # Keras 3: a list for a multi-output model has one entry (a metric, a list of
        # metrics or None) per output, in output order
        if len(spec) != len(names):
            raise ValueError(f"compile: the model has {len(names)} outputs {names}, so a "
                             f"metrics list needs one entry per output (a metric, a list or "
                             f"None); got {len(spec)}: {spec}. Use a dict keyed by output "
                             f"name to give metrics to some outputs only")
        return [_as_list(s) for s in spec]

    def build(self, ys, outs, names, loss_fns):
        from . import metrics as _metrics
        multi = len(names) > 1
        plan, used, base_names = [], {}, []
        for weighted, spec in ((False, self.spec), (True, self.wspec)):
            per_out = self._specs_for(spec, names)
            for i, specs in enumerate(per_out):
                prefix = f"{names[i]}_" if multi else ""
                for s in specs:
                    m = _resolve_metric(s, ys[i], outs[i], loss_fns[i] if loss_fns else None,
                                        _metrics)
                    # Keras's naming: output prefix; a clashing weighted metric becomes
                    # weighted_<name>; remaining clashes get _1, _2, ...
                    base_names.append(m.name)
                    name = prefix + m.name
                    if name in used and weighted:
                        name = f"{prefix}weighted_{m.name}"
                    if name in used:
                        used[name] += 1
                        name = f"{name}_{used[name] - 1}"
                    used.setdefault(name, 1)
                    m.name = name
                    plan.append((i, m, weighted))
        self._plan = plan
        self.metrics = [m for _, m, _ in plan]
        self.base_names = base_names      # names before prefixing (Keras orders by these)
        self.built = True

    def update_state(self, y, y_pred, sample_weight, names, loss_fns):
        if not self.built:
            outs = _struct_outputs(y_pred, names)
            ys = _struct_targets(y, names, "fit")
            self.build(ys, outs, names, loss_fns)
        if not self._plan or y is None:
            return
        if len(names) == 1:
            yt = y[0] if isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "shape") \
                else (next(iter(y.values())) if isinstance(y, dict) else y)
            yp = _struct_outputs(y_pred, names)[0]
            ypd = yp.data if isinstance(yp, Tensor) else yp
            ytd = yt.data if isinstance(yt, Tensor) else yt
            for _, m, weighted in self._plan:
                if weighted and sample_weight is not None:
                    m.update_state(ytd, ypd, sample_weight=sample_weight)
                else:
                    m.update_state(ytd, ypd)
            return
        outs = _struct_outputs(y_pred, names)
        ys = _struct_targets(y, names, "fit")
        sws = _struct_targets(sample_weight, names, "fit") if isinstance(
            sample_weight, (list, tuple, dict)) else [sample_weight] * len(outs)
        for i, m, weighted in self._plan:
            if ys[i] is None:
                continue
            yp = outs[i].data if isinstance(outs[i], Tensor) else outs[i]
            yt = ys[i].data if isinstance(ys[i], Tensor) else ys[i]
            if weighted and sws[i] is not None:
                m.update_state(yt, yp, sample_weight=sws[i])
            else:
                m.update_state(yt, yp)

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()


def _as_list(s):
    if s is None:
        return []
    return list(s) if isinstance(s, (list, tuple)) else [s]


def _loss_name(fn):
    if fn is None:
        return ""
    inner = getattr(fn, "fn", None)
    return (getattr(inner, "__name__", "") or getattr(fn, "name", "") or
            getattr(fn, "__name__", "") or type(fn).__name__).lower()


def _resolve_metric(spec, y_true, y_pred, loss_fn, _metrics):
    """A metric object for ``spec``, with Keras's resolution of 'accuracy'/'crossentropy'."""
    if isinstance(spec, str) and spec in _ACC + _CE:
        lname = _loss_name(loss_fn)
        ps = tuple(getattr(y_pred, "shape", ()))
        ts = tuple(getattr(y_true, "shape", ())) if y_true is not None else ()
        binary = ("binary" in lname or "hinge" in lname) or (ps and ps[-1] == 1)
        sparse = "sparse" in lname or (not binary and ps and (
            len(ts) == len(ps) - 1 or (len(ts) == len(ps) and ts[-1] == 1)))
        if spec in _ACC:
            base = "binary_accuracy" if binary else (
                "sparse_categorical_accuracy" if sparse else "categorical_accuracy")
        else:
            base = "binary_crossentropy" if binary else (
                "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy")
        m = _metrics.get(base)
        m.name = spec
        return m
    m = _metrics.get(spec)
    if isinstance(spec, str):
        m.name = spec
    return m


# ------------------------------------------------------------------ the mixin
class Trainer:
    """Mixin giving a Model Keras's training API (compile/fit/evaluate/predict/save)."""

    compiled = False
    optimizer = None
    stop_training = False
    history = None
    _compile_loss = None
    _compile_metrics = None
    _loss_tracker = None
    _compile_config = None
    _initial_epoch = None
    distribute_strategy = None      # a lamina.distributed strategy active at compile time

    # ---------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Configure training: the optimizer, the loss(es) (one, a list or a dict by output
        name; None when the model adds its own with ``add_loss``), ``loss_weights`` and
        ``metrics``.  ``run_eagerly``/``jit_compile`` are accepted and ignored."""
        from . import optimizers as _optimizers
        opt = _optimizers.get(optimizer)
        run_opt = opt
        pol = self.__dict__.get("_policy")
        if auto_scale_loss and pol is not None and pol.name == "mixed_float16" and \
                opt is not None and not isinstance(opt, _optimizers.LossScaleOptimizer):
            # as Keras 3: float16 gradients need loss scaling (the compile config keeps the
            # optimizer as given; compiling again wraps it again)
            run_opt = _optimizers.LossScaleOptimizer(opt, name="loss_scale_optimizer")
        _set(self, "optimizer", run_opt)
        _set(self, "loss", loss)
        _set(self, "_compile_loss", CompileLoss(loss, loss_weights) if loss is not None
             else None)
        _set(self, "_compile_metrics", CompileMetrics(metrics, weighted_metrics)
             if (metrics or weighted_metrics) else None)
        _set(self, "_loss_tracker", _scalar_mean("loss"))
        _set(self, "_compile_config", {
            "optimizer": _serialize(_optimizers, opt),
            "loss": _serialize_loss(loss),
            "loss_weights": loss_weights,
            "metrics": _serialize_metrics(metrics),
            "weighted_metrics": _serialize_metrics(weighted_metrics),
        })
        _set(self, "distribute_strategy", _active_strategy())
        _set(self, "compiled", True)
        _set(self, "stop_training", False)

    def get_compile_config(self):
        """The arguments of the last ``compile`` as plain JSON-able values ({} if none)."""
        return dict(self._compile_config) if self.compiled and self._compile_config else {}

    def compile_from_config(self, config, custom_objects=None):
        """Compile again from :meth:`get_compile_config`'s dict (names of custom functions
        and classes are looked up in ``custom_objects``, then lamina's registries)."""
        from . import optimizers as _optimizers, losses as _losses, metrics as _metrics
        config = dict(config)
        co = custom_objects or {}
        opt = config.get("optimizer")
        if opt is not None:
            config["optimizer"] = _deserialize(opt, _optimizers, co)
        config["loss"] = _deserialize(config.get("loss"), _losses, co)
        for k in ("metrics", "weighted_metrics"):
            config[k] = _deserialize(config.get(k), _metrics, co)
        self.compile(**config)

    @property
    def metrics(self):
        """Metric objects: the loss tracker first, then the compiled metrics, the per-output
        loss trackers, and metrics held as attributes of the model."""
        out = []
        if self.compiled:
            if self._loss_tracker is not None:
                out.append(self._loss_tracker)
            if self._compile_metrics is not None:
                out.extend(self._compile_metrics.metrics)
            if self._compile_loss is not None:
                out.extend(self._compile_loss.metrics)
        attr = self.__dict__.get("_attr_metrics")
        if attr is None:                 # metrics held as attributes (cached, see __setattr__)
            metric_cls = _metric_class()
            attr = tuple(v for v in self.__dict__.values() if isinstance(v, metric_cls))
            self.__dict__["_attr_metrics"] = attr
        for v in attr:
            if v not in out:
                out.append(v)
        return out

    def __setattr__(self, name, value):
        d = self.__dict__
        if "_attr_metrics" in d:
            cls = _metric_class()
            if isinstance(value, cls) or isinstance(d.get(name), cls):
                del d["_attr_metrics"]
        super().__setattr__(name, value)

    def __delattr__(self, name):
        self.__dict__.pop("_attr_metrics", None)
        super().__delattr__(name)

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        """Reset the state of every metric in :attr:`metrics`."""
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self):
        """``{name: float}`` of every metric's current result."""
        # inside fit/evaluate on a GPU, with no callback reading each batch's logs, the
        # results stay device tensors: a float per batch would wait for the GPU each time
        conv = _float if not self.__dict__.get("_lazy_results") else _keep
        out = {}
        for m in self.metrics:
            r = m.result()
            if isinstance(r, dict):
                out.update({k: conv(v) for k, v in r.items()})
            else:
                out[m.name] = conv(r)
        return out

    # ---------------------------------------------------------------- losses
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of ``y_pred`` against ``y`` plus every loss in ``self.losses``
        (``add_loss`` and regularization penalties), as a scalar Tensor."""
        total = None
        cl = self._compile_loss
        if cl is not None:
            total = cl(y, y_pred, sample_weight, model=self)
        for extra in self.losses:
            if extra.ndim:
                from ..ops.reduction import sum as _sum
                extra = _sum(extra)
            total = extra if total is None else total + extra
        if total is None:
            raise ValueError("No loss to compute: provide a `loss` argument in compile() (or add "
                             "losses in the model with add_loss)"
                             + ("; fit received no targets y" if y is None and cl is not None
                                else ""))
        return total

    def _compute_loss(self, x, y, y_pred, sample_weight, training):
        # overrides written before Keras 3.3 have no `training` argument
        cls = type(self)
        has = cls.__dict__.get("_lamina_loss_has_training")
        if has is None:
            import inspect
            params = inspect.signature(self.compute_loss).parameters
            has = "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
            setattr(cls, "_lamina_loss_has_training", has)
        if has:
            return self.compute_loss(x, y, y_pred, sample_weight, training=training)
        return self.compute_loss(x, y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics; returns :meth:`get_metrics_result`."""
        cm = self._compile_metrics
        if cm is not None:
            cl = self._compile_loss
            names = cl.names if cl is not None and cl.built else _output_names(
                self, len(_struct_outputs(y_pred, ["_"])))
            cm.update_state(y, y_pred, sample_weight, names,
                            cl.fns if cl is not None and cl.built else None)
        return self.get_metrics_result()

    # ---------------------------------------------------------------- steps
    def train_step(self, data):
        """One optimization step on a batch ``data`` = (x, y[, sample_weight]); returns the
        logs (``{metric name: value}``)."""
        x, y, sw = _da.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=True)
        loss = self._compute_loss(x, y, y_pred, sw, True)
        self._loss_tracker.update_state(_loss_value(loss), sample_weight=_first_dim(x))
        tw = self.trainable_weights
        if tw:
            # loss_scale_factor: the gradients of the scaled loss, unscaled again by apply()
            if getattr(self.optimizer, "_skips_overflow", False):
                # LossScaleOptimizer: float16 overflow is expected now and then (the step
                # is skipped and the scale lowered), not worth NumPy's warnings
                with np.errstate(over="ignore", invalid="ignore"):
                    grads = gradients(self.optimizer.scale_loss(loss), tw)
            else:
                grads = gradients(self.optimizer.scale_loss(loss), tw)
            strategy = self.distribute_strategy
            if strategy is not None:       # average over data-parallel ranks
                grads = strategy.reduce_gradients(grads, tw, weight=_first_dim(x))
            self.optimizer.apply(grads, tw)
        else:
            warnings.warn("The model does not have any trainable weights.", stacklevel=2)
        return self.compute_metrics(x, y, y_pred, sw)

    def test_step(self, data):
        """Loss and metrics on one batch without updating the weights."""
        x, y, sw = _da.unpack_x_y_sample_weight(data)
        with no_grad():
            y_pred = self(x, training=False)
            loss = self._compute_loss(x, y, y_pred, sw, False)
        self._loss_tracker.update_state(_loss_value(loss), sample_weight=_first_dim(x))
        return self.compute_metrics(x, y, y_pred, sw)

    def predict_step(self, data):
        """The model's output for one batch (inference mode)."""
        x, _, _ = _da.unpack_x_y_sample_weight(data)
        with no_grad():
            return self(x, training=False)

    # ---------------------------------------------------------------- fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns a :class:`History` whose ``history`` dict maps
        'loss', each metric and their 'val_' versions to per-epoch values."""
        self._assert_compiled("fit")
        verbose = _verbose(verbose)
        epochs = _capped(epochs, "epochs")
        steps_per_epoch = _capped(steps_per_epoch, "steps_per_epoch")
        if validation_split and validation_data is None:
            if not _is_arrays(x):
                raise ValueError("fit: validation_split is only supported for array inputs; "
                                 "pass validation_data for generators and datasets")
            xl, unx = _da.flatten(x)
            yl, uny = _da.flatten(y)
            sl, uns = _da.flatten(sample_weight)
            xl = [_da._as_array(a, "fit") for a in xl]
            yl = [_da._as_array(a, "fit") for a in yl]
            sl = [_da._as_array(a, "fit") for a in sl]
            tr, va = _da.train_validation_split(xl + yl + sl, validation_split)
            nx, ny = len(xl), len(yl)

            def pack(ls):
                return (unx(ls[:nx]), uny(ls[nx:nx + ny]) if y is not None else None,
                        uns(ls[nx + ny:]) if sample_weight is not None else None)
            x, y, sample_weight = pack(tr)
            validation_data = pack(va)
        adapter = _da.get_adapter(x, y, sample_weight, batch_size, steps_per_epoch, shuffle,
                                  class_weight, "fit")
        val_adapter = None
        if validation_data is not None:
            val_adapter = _cap(self._eval_adapter(validation_data,
                                                  validation_batch_size or batch_size,
                                                  validation_steps))
        strategy = self.distribute_strategy
        if strategy is not None:
            # each rank trains on its share of every global batch; only rank 0 reports
            adapter = strategy.distribute_data(adapter)
            val_adapter = strategy.distribute_data(val_adapter)
            verbose = strategy.verbose(verbose)
            callbacks = strategy.callbacks(callbacks)
        steps = steps_per_epoch if steps_per_epoch is not None else adapter.steps
        cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=epochs, steps=steps)
        hist = next((c for c in cbs if isinstance(c, History)), None)
        _set(self, "history", hist)
        _set(self, "stop_training", False)
        to_dev = self._device_mover()
        want_begin = cbs.wants("on_train_batch_begin")
        want_end = cbs.wants("on_train_batch_end")
        train_step = self.train_step
        training_logs = None
        logs = {}
        _set(self, "_initial_epoch", None)
        cbs.on_train_begin()
        # a callback (BackupAndRestore) may resume an interrupted run at a later epoch
        initial_epoch = self._initial_epoch if self._initial_epoch is not None else \
            initial_epoch
        stop_each_batch = False
        if strategy is not None:     # rank 0's weights and starting epoch everywhere
            initial_epoch = strategy.on_train_begin(self, initial_epoch, cbs)
            stop_each_batch = strategy.stop_each_batch
        _set(self, "_lazy_results", not want_end)
        try:
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                cbs.on_epoch_begin(epoch)
                step = -1
                batches = adapter.batches(shuffle, steps_per_epoch)
                for step, (bx, by, bsw) in enumerate(batches):
                    if want_begin:
                        cbs.on_train_batch_begin(step)
                    logs = train_step(_pack(to_dev(bx), to_dev(by, False), to_dev(bsw, False)))
                    if want_end:
                        cbs.on_train_batch_end(step, _to_float_logs(logs))
                    if stop_each_batch:         # a stop on any rank stops every rank
                        _set(self, "stop_training", strategy.any(self.stop_training))
                    if self.stop_training:
                        break
                if step < 0:
                    raise ValueError("fit: the data produced no batches for this epoch")
                if strategy is not None:        # global metric states, averaged statistics
                    strategy.on_epoch_end(self)
                epoch_logs = _to_float_logs(self._metrics_or_logs(logs))
                if val_adapter is not None and self._should_eval(epoch, validation_freq):
                    val_logs = self._evaluate_adapter(val_adapter, cbs, verbose=0)
                    epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                training_logs = epoch_logs
                if strategy is not None:
                    _set(self, "stop_training", strategy.any(self.stop_training))
                if self.stop_training:
                    break
            fin = getattr(self.optimizer, "finalize_variable_values", None)
            if fin is not None and epochs > 0:   # EMA weights replace the trained ones (Keras)
                fin(self.trainable_weights)
        finally:
            _set(self, "_lazy_results", False)
        cbs.on_train_end(logs=training_logs)
        return self.history

    @staticmethod
    def _should_eval(epoch, freq):
        if isinstance(freq, int):
            return (epoch + 1) % freq == 0
        return (epoch + 1) in freq

    def _metrics_or_logs(self, logs):
        """The model's metric results when the step returned the same keys (a default or
        Keras-style step), else the step's own logs (custom train_step)."""
        res = self.get_metrics_result()
        if isinstance(logs, dict) and set(logs) == set(res):
            return res
        return logs if isinstance(logs, dict) else res

    def _eval_adapter(self, data, batch_size, steps):
        if _is_arrays_tuple(data):
            vx, vy, vsw = _da.unpack_x_y_sample_weight(tuple(data))
            return _da.get_adapter(vx, vy, vsw, batch_size, steps, False, None, "validation")
        return _da.get_adapter(data, None, None, batch_size, steps, False, None, "validation")

    def _device_mover(self):
        """A function moving a batch's arrays to the model's device (identity on the CPU)."""
        from .. import backend
        dev = self.__dict__.get("_device")            # set by Layer.to() before building
        if dev is None:
            ws = self.weights if getattr(self, "built", False) else []
            dev = backend.device_of(ws[0].data) if ws else backend._default_device
        if dev is None or dev.type == "cpu":
            return _to_tensors

        def move_one(a, as_tensor):
            if a is None or _is_text(a):
                return a            # text stays on the host, as a raw array
            a = backend.to_device(a.data if isinstance(a, Tensor) else a, dev)
            return _wrap(a) if as_tensor else a

        def move(s, as_tensor=True):
            if s is None:
                return None
            leaves, un = _da.flatten(s)
            return un([move_one(a, as_tensor) for a in leaves])
        return move

    # ---------------------------------------------------------------- evaluate
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, **kwargs):
        """Loss and metrics on the data; a scalar when there is only the loss, else a list in
        :attr:`metrics_names` order (or a dict with ``return_dict=True``)."""
        self._assert_compiled("evaluate")
        verbose = _verbose(verbose)
        steps = _capped(steps, "steps_per_epoch")
        adapter = _cap(_da.get_adapter(x, y, sample_weight, batch_size, steps, False, None,
                                       "evaluate"))
        strategy = self.distribute_strategy
        if strategy is not None:
            adapter = strategy.distribute_data(adapter)
            verbose = strategy.verbose(verbose)
            callbacks = strategy.callbacks(callbacks)
        cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
            steps=steps if steps is not None else adapter.steps)
        logs = self._evaluate_adapter(adapter, cbs, verbose)
        if return_dict:
            return logs
        return self._flatten_logs(logs)

    def _evaluate_adapter(self, adapter, cbs, verbose):
        self.reset_metrics()
        to_dev = self._device_mover()
        want_end = cbs.wants("on_test_batch_end")
        want_begin = cbs.wants("on_test_batch_begin")
        cbs.on_test_begin()
        logs = {}
        test_step = self.test_step
        lazy = self.__dict__.get("_lazy_results", False)
        _set(self, "_lazy_results", not want_end)
        try:
            for step, (bx, by, bsw) in enumerate(adapter.batches(False)):
                if want_begin:
                    cbs.on_test_batch_begin(step)
                logs = test_step(_pack(to_dev(bx), to_dev(by, False), to_dev(bsw, False)))
                if want_end:
                    cbs.on_test_batch_end(step, _to_float_logs(logs))
        finally:
            _set(self, "_lazy_results", lazy)
        if self.distribute_strategy is not None:
            self.distribute_strategy.sync_metrics(self)
        logs = _to_float_logs(self._metrics_or_logs(logs))
        cbs.on_test_end(logs)
        return logs

    def _flatten_logs(self, logs):
        """Logs as the list ``evaluate`` returns, in Keras's order: the metrics whose names
        are known in order (loss, compiled metrics' own names, per-output losses), then
        every other key sorted (e.g. the output-prefixed metrics of multi-output models)."""
        order = []
        cm = self._compile_metrics
        compiled = {id(m) for m in cm.metrics} if cm is not None else set()
        for m in self.metrics:
            if id(m) in compiled:
                continue
            order.append(m.name)
            if m is self._loss_tracker and cm is not None:
                order.extend(cm.base_names)
        seen, vals = set(), []
        for k in order:
            if k in logs and k not in seen:
                seen.add(k)
                vals.append(logs[k])
        vals += [logs[k] for k in sorted(logs) if k not in seen]
        return vals[0] if len(vals) == 1 else vals

    # ---------------------------------------------------------------- predict
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for ``x``, computed in batches: a NumPy array (a list, or dict,
        for several outputs)."""
        verbose = _verbose(verbose)
        steps = _capped(steps, "steps_per_epoch")
        adapter = _cap(_da.get_adapter(x, None, None, batch_size, steps, False, None, "predict"))
        cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
            steps=steps if steps is not None else adapter.steps)
        to_dev = self._device_mover()
        cbs.on_predict_begin()
        chunks = []
        unflat = None
        want_end = cbs.wants("on_predict_batch_end")
        want_begin = cbs.wants("on_predict_batch_begin")
        for step, (bx, _, _) in enumerate(adapter.batches(False)):
            if want_begin:
                cbs.on_predict_batch_begin(step)
            out = self.predict_step((to_dev(bx),))
            leaves, unflat = _da.flatten(out)
            chunks.append([_numpy(t) for t in leaves])
            if want_end:
                cbs.on_predict_batch_end(step, {"outputs": out})
        cbs.on_predict_end()
        if not chunks:
            raise ValueError("predict: the data produced no batches")
        cat = [np.concatenate(parts, axis=0) if parts[0].ndim else np.stack(parts)
               for parts in zip(*chunks)]
        return unflat(cat)

    # ---------------------------------------------------------------- on_batch
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One training step on exactly this batch; returns the logs (scalar/list/dict)."""
        self._assert_compiled("train_on_batch")
        ad = _da.ArrayAdapter(x, y, sample_weight, batch_size=1 << 62, who="train_on_batch",
                              class_weight=class_weight)
        bx, by, bsw = next(ad.batches(False))
        to_dev = self._device_mover()
        logs = self.train_step(_pack(to_dev(bx), to_dev(by, False), to_dev(bsw, False)))
        logs = _to_float_logs(self._metrics_or_logs(logs))
        return logs if return_dict else self._flatten_logs(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss and metrics on exactly this batch (metrics are reset first)."""
        self._assert_compiled("test_on_batch")
        self.reset_metrics()
        ad = _da.ArrayAdapter(x, y, sample_weight, batch_size=1 << 62, who="test_on_batch")
        bx, by, bsw = next(ad.batches(False))
        to_dev = self._device_mover()
        logs = self.test_step(_pack(to_dev(bx), to_dev(by, False), to_dev(bsw, False)))
        logs = _to_float_logs(self._metrics_or_logs(logs))
        return logs if return_dict else self._flatten_logs(logs)

    def predict_on_batch(self, x):
        """The outputs for exactly this batch, as NumPy arrays."""
        ad = _da.ArrayAdapter(x, batch_size=1 << 62, who="predict_on_batch")
        bx, _, _ = next(ad.batches(False))
        out = self.predict_step((self._device_mover()(bx),))
        leaves, un = _da.flatten(out)
        return un([_numpy(t) for t in leaves])

    # ---------------------------------------------------------------- saving
    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Save architecture, weights, compile config and optimizer state to one file
        (lamina's ``.keras`` archive; Keras itself cannot read it yet)."""
        from .. import io as _io
        _io.save_model(self, filepath, overwrite=overwrite,
                       include_optimizer=kwargs.get("include_optimizer", True))

    def save_weights(self, filepath, overwrite=True, **kwargs):
        """Save the weights: safetensors (``.weights.safetensors``), or Keras 3's HDF5 layout
        for ``.weights.h5`` (needs h5py)."""
        from .. import io as _io
        _io.save_weights(self, filepath, overwrite=overwrite)

    def to_json(self, **kwargs):
        """The architecture as a JSON string in Keras's format (``kwargs`` go to
        ``json.dumps``); ``keras.models.model_from_json`` rebuilds it."""
        from .cloning import model_to_json
        return model_to_json(self, **kwargs)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Load weights saved by :meth:`save_weights` (strict: names what is missing,
        unexpected or of the wrong shape)."""
        from .. import io as _io
        _io.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    # ---------------------------------------------------------------- helpers
    def _assert_compiled(self, who):
        if not self.compiled:
            raise RuntimeError(f"{who}: you must call compile() on the model "
                               f"{getattr(self, 'name', '')!r} before {who}()")


# ------------------------------------------------------------------ debugging limits
# keras.config.set_max_epochs / set_max_steps_per_epoch (or the KERAS_MAX_EPOCHS and
# KERAS_MAX_STEPS_PER_EPOCH environment variables) cap every fit's epochs and the steps of
# every fit/evaluate/predict epoch, as in Keras; None means no limit.
def _env_limit(name):
    import os
    v = os.environ.get(name)
    return int(v) if v else None


_LIMITS = {"epochs": _env_limit("KERAS_MAX_EPOCHS"),
           "steps_per_epoch": _env_limit("KERAS_MAX_STEPS_PER_EPOCH")}


def _check_limit(value, who):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or
                              value < 1):
        raise ValueError(f"{who}: expected a positive int or None, got {value!r}")
    return value


def set_max_epochs(max_epochs):
    """Cap the epochs of every ``fit`` call at ``max_epochs`` (None: no cap); for debugging."""
    _LIMITS["epochs"] = _check_limit(max_epochs, "set_max_epochs")


def max_epochs():
    """The cap set by :func:`set_max_epochs` (or ``KERAS_MAX_EPOCHS``), or None."""
    return _LIMITS["epochs"]


def set_max_steps_per_epoch(max_steps_per_epoch):
    """Cap the steps of every fit/evaluate/predict epoch (None: no cap); for debugging."""
    _LIMITS["steps_per_epoch"] = _check_limit(max_steps_per_epoch, "set_max_steps_per_epoch")


def max_steps_per_epoch():
    """The cap set by :func:`set_max_steps_per_epoch` (or ``KERAS_MAX_STEPS_PER_EPOCH``),
    or None."""
    return _LIMITS["steps_per_epoch"]


def _capped(n, which):
    """``n`` (epochs or steps, None = all) limited by the cap, warning as Keras does."""
    cap = _LIMITS[which]
    if cap and (n is None or cap < n):
        warnings.warn(f"Limiting {which} to {cap}", stacklevel=3)
        return cap
    return n


class _CappedAdapter:
    """An adapter yielding at most ``max_steps_per_epoch()`` batches per pass."""

    def __init__(self, adapter, cap):
        self._adapter = adapter
        self._cap = cap
        self.steps = min(adapter.steps, cap) if adapter.steps else cap

    def batches(self, shuffle=False, steps=None):
        return self._adapter.batches(shuffle, self._cap if steps is None else
                                     min(steps, self._cap))

    def __getattr__(self, name):
        return getattr(self._adapter, name)


def _cap(adapter):
    cap = _LIMITS["steps_per_epoch"]
    return adapter if adapter is None or not cap else _CappedAdapter(adapter, cap)


# ------------------------------------------------------------------ helpers
def _set(obj, name, value):
    # bypass Layer.__setattr__'s tracking (training state is not made of layers)
    object.__setattr__(obj, name, value)


def _active_strategy():
    """The lamina.distributed strategy whose scope is active (None if the package is not
    even imported: then no scope can be open)."""
    import sys
    mod = sys.modules.get("lamina.distributed.strategy")
    return mod.current_strategy() if mod is not None else None


def _pack(x, y, sw):
    if y is None:
        return (x,) if sw is None else (x, None, sw)
    return (x, y) if sw is None else (x, y, sw)


def _is_text(a):
    """Whether ``a`` is an array of text (a "string" input: str, bytes or object dtype; the
    data adapter refuses object arrays of anything but text)."""
    dt = getattr(a, "dtype", None)
    return dt is not None and dt.kind in "USO"


def _to_tensors(s, as_tensor=True):
    """Wrap the arrays of a batch as Tensors (targets stay raw arrays)."""
    if not as_tensor or s is None:
        return s
    t = type(s)
    if t is np.ndarray:
        # text ("string" inputs) stays a raw array for the layers that read it
        return s if _is_text(s) else _wrap(s)
    if t is list or t is tuple:
        return t(_to_tensors(v) for v in s)
    if t is dict:
        return {k: _to_tensors(v) for k, v in s.items()}
    return s


def _first_dim(x):
    while isinstance(x, (list, tuple, dict)):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    s = getattr(x, "shape", ())
    return int(s[0]) if len(s) else 1


def _numpy(t):
    if isinstance(t, Tensor):
        return t.numpy()
    if isinstance(t, np.ndarray):
        return t
    if hasattr(t, "get"):
        return t.get()
    return np.asarray(t)


def _verbose(v):
    if v == "auto":
        return 1
    if v not in (0, 1, 2, True, False):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {v!r}")
    return int(v)


def _is_arrays(x):
    leaves, _ = _da.flatten(x)
    return all(isinstance(a, (np.ndarray, Tensor, list, tuple, float, int)) or hasattr(
        a, "__array__") for a in leaves) and not isinstance(x, _da.PyDataset)


def _is_arrays_tuple(d):
    return isinstance(d, (tuple, list)) and 1 <= len(d) <= 3 and _is_arrays(d[0])


def _serialize(module, obj):
    """What ``module.get`` accepts back: the module's serialization, or the name of a
    plain function (resolved from ``custom_objects`` or the registry on load)."""
    if obj is None or isinstance(obj, str):
        return obj
    ser = getattr(module, "serialize", None)
    try:
        out = ser(obj) if ser is not None else None
    except Exception:       # e.g. a user function the module cannot describe
        out = None
    if out is None:
        name = getattr(obj, "__name__", None) or getattr(obj, "name", None)
        out = name if isinstance(name, str) else None
    return out


def _serialize_loss(loss):
    from . import losses as _losses
    if isinstance(loss, (list, tuple)):
        return [_serialize_loss(l) for l in loss]
    if isinstance(loss, dict) and not _is_config(loss):
        return {k: _serialize_loss(v) for k, v in loss.items()}
    return _serialize(_losses, loss)


def _serialize_metrics(m):
    from . import metrics as _metrics
    if isinstance(m, (list, tuple)):
        return [_serialize_metrics(v) for v in m]
    if isinstance(m, dict) and not _is_config(m):
        return {k: _serialize_metrics(v) for k, v in m.items()}
    return _serialize(_metrics, m)


def _is_config(d):
    return isinstance(d, dict) and "class_name" in d


def _deserialize(spec, module, custom_objects):
    """Objects back from :func:`_serialize`'s output, keeping list/dict-by-output nesting."""
    if spec is None:
        return None
    if isinstance(spec, list):
        return [_deserialize(s, module, custom_objects) for s in spec]
    if isinstance(spec, dict) and not _is_config(spec):
        return {k: _deserialize(v, module, custom_objects) for k, v in spec.items()}
    if isinstance(spec, str):
        return custom_objects.get(spec, spec)
    cls = custom_objects.get(spec.get("class_name")) or custom_objects.get(
        spec.get("registered_name"))
    if cls is not None:
        cfg = spec.get("config") or {}
        return cls.from_config(cfg) if hasattr(cls, "from_config") else cls(**cfg)
    from .serialization import custom_object_scope
    with custom_object_scope(custom_objects):
        return module.get(spec)
