"""The shared Keras-object resolver (lamina/nn/_registry.py): names and aliases, config
dicts with Keras 3's module/registered_name keys, classes, callables, None,
custom_objects, custom_object_scope and register_serializable, the same way in all seven
modules that use it."""
import json
import os

import numpy as np
import pytest

import lamina as lm
from lamina.nn import (activations as A, initializers as I, losses as L, metrics as M,
                       optimizers as O, regularizers as R, schedules as S)
from lamina.nn._registry import (ConfigObject, Kind, bind_options, function_name,
                                 registered_name, registered_object)
from lamina.nn.serialization import custom_object_scope, register_serializable

MODULES = [A, I, R, S, L, M, O]


def _json(obj):
    return json.loads(json.dumps(obj))


# ------------------------------------------------------------ registered custom objects
@register_serializable(package="test_registry")
def reg_twice(x):
    """A custom activation, registered."""
    return x * 2.0


@register_serializable(package="test_registry")
def reg_abs_error(y_true, y_pred):
    """A custom per-sample loss/metric function, registered."""
    return lm.mean(lm.abs(lm.tensor(y_true) - lm.tensor(y_pred)), axis=-1)


@register_serializable(package="test_registry")
class RegFill(I.Initializer):
    def __init__(self, value=3.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype=dtype or "float32")

    def get_config(self):
        return {"value": self.value}


@register_serializable(package="test_registry")
class RegSumSquares(R.Regularizer):
    def __init__(self, k=0.5):
        self.k = k

    def __call__(self, x):
        return lm.sum(x * x) * self.k

    def get_config(self):
        return {"k": self.k}


@register_serializable(package="test_registry")
class RegHalving(S.LearningRateSchedule):
    def __init__(self, lr0=1.0):
        self.lr0 = lr0

    def __call__(self, step):
        return self.lr0 / 2 ** step

    def get_config(self):
        return {"lr0": self.lr0}


@register_serializable(package="test_registry")
class RegSGD(O.SGD):
    pass


# one registered object per module, and an instance check for what get returns
CUSTOM = [(A, reg_twice, lambda o: o is reg_twice),
          (I, RegFill, lambda o: isinstance(o, RegFill)),
          (R, RegSumSquares, lambda o: isinstance(o, RegSumSquares)),
          (L, reg_abs_error, lambda o: isinstance(o, L.LossFunctionWrapper) and
           o.fn is reg_abs_error),
          (M, reg_abs_error, lambda o: isinstance(o, M.MeanMetricWrapper) and
           o._fn is reg_abs_error),
          (O, RegSGD, lambda o: type(o) is RegSGD)]


@pytest.mark.parametrize("mod,obj,check", CUSTOM, ids=lambda v: getattr(v, "__name__", ""))
def test_registered_objects_resolve_by_bare_and_registered_name(mod, obj, check):
    for name in (obj.__name__, f"test_registry>{obj.__name__}"):
        assert check(mod.get(name)), name
        assert check(mod.deserialize(name)), name


@pytest.mark.parametrize("mod,obj,check", CUSTOM, ids=lambda v: getattr(v, "__name__", ""))
def test_custom_objects_and_scope_resolve_unregistered_names(mod, obj, check):
    with pytest.raises(ValueError, match=f"{mod.__name__.split('.')[-1]}.get: unknown"):
        mod.get("not_registered_anywhere")
    assert check(mod.deserialize("not_registered_anywhere",
                                 custom_objects={"not_registered_anywhere": obj}))
    with custom_object_scope({"not_registered_anywhere": obj}):
        assert check(mod.get("not_registered_anywhere"))


@pytest.mark.parametrize("cls,mod", [(RegFill, I), (RegSumSquares, R), (RegHalving, S),
                                     (RegSGD, O)])
def test_registered_classes_serialize_with_registered_name_and_round_trip(cls, mod):
    obj = cls()
    cfg = _json(mod.serialize(obj))
    assert cfg["registered_name"] == f"test_registry>{cls.__name__}"
    assert cfg["class_name"] == cls.__name__
    back = mod.deserialize(cfg)
    assert type(back) is cls and back.get_config() == obj.get_config()
    # registered_name is enough when class_name names nothing known (and is tried first)
    cfg["class_name"] = "RenamedSinceSaving"
    assert type(mod.deserialize(cfg)) is cls


def test_builtin_classes_carry_no_registered_name():
    for mod, obj in ((I, I.GlorotUniform()), (R, R.L2()), (S, S.ExponentialDecay(1.0, 10, 0.5)),
                     (L, L.MeanSquaredError()), (M, M.AUC()), (O, O.Adam())):
        cfg = mod.serialize(obj)
        assert cfg["registered_name"] is None and cfg["class_name"] == type(obj).__name__
        assert cfg["module"].startswith("keras.")
        assert type(mod.deserialize(_json(cfg))) is type(obj)


def test_keras3_function_dicts():
    # what keras.saving.serialize_keras_object writes for a function
    def kdict(name):
        return {"module": "builtins", "class_name": "function", "config": name,
                "registered_name": "function"}
    assert A.deserialize(kdict("relu")) is A.relu
    assert A.get(kdict("reg_twice")) is reg_twice
    assert L.deserialize(kdict("mean_squared_error")).name == "mean_squared_error"
    assert isinstance(M.deserialize(kdict("mse")), M.MeanSquaredError)
    f = M.deserialize(kdict("local_fn"), custom_objects={"local_fn": reg_abs_error})
    assert f._fn is reg_abs_error


def test_keras3_class_dicts_with_module_keys():
    cfg = {"module": "keras.initializers", "class_name": "GlorotUniform",
           "config": {"seed": 3, "input_axes": None, "output_axes": None},
           "registered_name": None}
    init = I.deserialize(cfg)
    assert isinstance(init, I.GlorotUniform) and init.seed == 3
    # the module key is never imported: an unknown class stays unknown
    bad = {"module": "os", "class_name": "system", "config": {}, "registered_name": None}
    for mod in (I, R, S, L, M, O):
        with pytest.raises(ValueError, match="unknown"):
            mod.deserialize(bad)


def test_none_and_wrong_types():
    assert A.get(None) is A.linear and A.serialize(None) == "linear"
    for mod in (I, R, L, M, O):
        assert mod.get(None) is None and mod.serialize(None) is None
    with pytest.raises(TypeError, match="schedules.get: expected a schedule"):
        S.get(None)
    with pytest.raises(TypeError, match="schedules.get"):
        S.get("exponential_decay")          # schedules take no names
    with pytest.raises(TypeError, match="optimizers.get: expected a string, dict or Optimizer"):
        O.get(lambda: 0)                    # optimizers take no plain callables
    for mod in MODULES:
        with pytest.raises(TypeError, match=f"{mod.__name__.split('.')[-1]}.get: expected"):
            mod.get(3.5)


def test_dicts_without_class_name_are_rejected():
    for mod in (I, R, S, L, M, O):
        with pytest.raises(ValueError, match="expected a dict with 'class_name'"):
            mod.deserialize({"config": {}})


def test_classes_and_instances():
    assert isinstance(I.get(I.HeNormal), I.HeNormal)
    assert isinstance(R.get(R.L1), R.L1)
    assert isinstance(L.get(L.Huber), L.Huber) and isinstance(M.get(M.AUC), M.AUC)
    assert isinstance(O.get(O.Adam), O.Adam) and isinstance(O.get("ADAM"), O.Adam)
    sched = S.CosineDecay(0.1, 100)
    assert S.get(sched) is sched
    loss, metric, opt = L.Hinge(), M.Precision(), O.SGD()
    assert L.get(loss) is loss and M.get(metric) is metric and O.get(opt) is opt


def test_serialize_rejects_unknown_plain_functions():
    def local(x):
        return x
    for mod in (A, I, R, L):
        with pytest.raises(ValueError, match="cannot serialize.*register_serializable"):
            mod.serialize(local)
    assert A.serialize(reg_twice) == "test_registry>reg_twice"
    assert L.serialize(reg_abs_error) == "test_registry>reg_abs_error"


def test_wrapped_registered_function_saves_its_registered_name():
    for mod, wrapped in ((L, L.get(reg_abs_error)), (M, M.get(reg_abs_error))):
        cfg = _json(mod.serialize(wrapped))
        assert cfg["config"]["fn"] == "test_registry>reg_abs_error"
        back = mod.deserialize(cfg)
        assert getattr(back, "fn", getattr(back, "_fn", None)) is reg_abs_error
    # a metric config may name a loss function (Keras's metric functions include them)
    m = M.MeanMetricWrapper.from_config({"fn": "mean_absolute_error", "name": "m"})
    assert m._fn is L.mean_absolute_error


def test_registry_helpers():
    assert registered_object("test_registry>RegFill") is RegFill
    assert registered_object("RegFill") is RegFill
    assert registered_object(["unhashable"]) is None
    assert registered_name(RegFill) == "test_registry>RegFill"
    assert registered_name(I.GlorotUniform) is None
    assert function_name(reg_twice) == "test_registry>reg_twice"
    assert function_name(A.relu) == "relu"


def test_bind_options():
    defaults = {"alpha": 1, "beta": 2, "gamma": 3}
    assert bind_options("X", defaults, (10,), {"gamma": 30}) == {"alpha": 10, "beta": 2,
                                                                  "gamma": 30}
    assert defaults == {"alpha": 1, "beta": 2, "gamma": 3}      # not modified
    with pytest.raises(TypeError, match="X: too many positional"):
        bind_options("X", defaults, (1, 2, 3, 4), {})
    with pytest.raises(TypeError, match="X: unexpected argument 'delta'"):
        bind_options("X", defaults, (), {"delta": 1})
    # the wrapper classes bind their options with it
    assert L.Huber(2.5).get_config()["delta"] == 2.5
    assert M.TopKCategoricalAccuracy(3).get_config()["k"] == 3
    with pytest.raises(TypeError, match="BinaryAccuracy: unexpected argument 'k'"):
        M.BinaryAccuracy(k=2)


def test_a_kind_of_its_own():
    class Thing(ConfigObject):
        def __init__(self, size=1):
            self.size = size

        def get_config(self):
            return {"size": self.size}

    def helper():
        return "helper"

    kind = Kind("things", "thing", names={"thing": Thing, "Thing": Thing}, key=str.title,
                functions={"helper": helper}, none="nothing", subclasses=Thing,
                wrap=None, other=lambda v: Thing(int(v)) if isinstance(v, float) else None,
                expected="a thing", keras_module="things")
    assert kind.get(None) == "nothing"
    assert isinstance(kind.get("THING"), Thing)                  # key folds the name
    assert kind.get(2.0).size == 2                               # the `other` hook
    assert kind.serialize(helper) == "helper"
    cfg = kind.serialize(Thing(5))
    assert cfg == {"module": "things", "class_name": "Thing", "config": {"size": 5},
                   "registered_name": None}
    assert kind.deserialize(_json(cfg)).size == 5
    assert repr(Thing(4)) == "Thing(size=4)"
    with pytest.raises(TypeError, match="things.get: expected a thing, got function"):
        kind.get(helper)                                         # wrap=None rejects
    with pytest.raises(ValueError, match="things.get: unknown thing 'gizmo'; known: Thing"):
        kind.get("gizmo")
    with pytest.raises(ValueError, match="custom_objects"):
        kind.function("gizmo")


@pytest.mark.parametrize("base", [L.Loss, M.Metric, O.Optimizer], ids=lambda c: c.__name__)
def test_default_names_use_the_layers_snake_case(base):
    from lamina.nn.layers.base import to_snake_case
    for cls_name in ("MyMSELoss", "HTTPErrorRate", "FBetaLike", "Conv2DLike"):
        cls = type(cls_name, (base,), {})
        assert cls().name == to_snake_case(cls_name), cls_name


@pytest.mark.slow          # imports Keras (several seconds)
def test_default_loss_names_follow_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    for cls_name in ("MyMSELoss", "HTTPErrorRate", "Conv2DLike"):
        ours = type(cls_name, (L.Loss,), {"call": lambda self, t, p: p})
        theirs = type(cls_name, (keras.losses.Loss,), {"call": lambda self, t, p: p})
        assert ours().name == theirs().name, cls_name
