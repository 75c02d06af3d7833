"""Augmentation policies built from lamina's augmentation layers, as Keras 3's:
``RandAugment`` (a few ops picked at random, applied in turn) and ``AugMix`` (several
random chains of ops mixed with Dirichlet weights, then blended with the original).

Both hold their ops as sublayers under Keras's attribute names (``random_shear``,
``solarization``, ...) made with Keras's arguments from ``factor``, ``value_range``,
``interpolation`` and ``seed``, and apply them through those layers' own transforms:
nothing is re-implemented here.  As in Keras, ``training=False`` returns the images
unchanged, the ops picked are shared by the whole batch while each op draws its own
per-image parameters, and with a ``seed`` every op has its own generator seeded alike.
"""
from __future__ import annotations

import numpy as np

from ...ops.base import wrap, xp_of
from .augmentation import (AutoContrast, Equalization, RandomColorDegeneration,
                           RandomPosterization, RandomSharpness, RandomShear, Solarization,
                           _factor, _ImageLayer, _value_range)
from .preprocessing import RandomBrightness, RandomContrast, RandomRotation, RandomTranslation

__all__ = ["RandAugment", "AugMix"]

_F32 = np.float32


class _Policy(_ImageLayer):
    """Shared: ``factor`` in [0, 1] (a number f means (0, f)), ``value_range``,
    ``interpolation``, and the op sublayers named in ``_ops``."""

    def __init__(self, value_range, factor, interpolation, seed, data_format, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, self._who, sort=False)
        self.factor = _factor(factor, self._who, bounds=(0.0, 1.0))
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"{self._who}: `interpolation` must be 'nearest' or 'bilinear', "
                             f"got {interpolation!r}")
        self.interpolation = interpolation

    def _int_arg(self, value, name, low):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{self._who}: `{name}` must be an integer >= {low}, got "
                             f"{value!r}")
        return int(value)

    def _make_ops(self, names):
        """One sublayer per name, with the arguments Keras gives it (its attribute name is
        the op's name).  They work on channels-last batches, which ``_run`` hands over."""
        f, vr, seed, interp = self.factor, tuple(self.value_range), self.seed, \
            self.interpolation
        last = {"data_format": "channels_last"}
        makers = {
            "random_shear": lambda: RandomShear(x_factor=f, y_factor=f, interpolation=interp,
                                                seed=seed, **last),
            "random_translation": lambda: RandomTranslation(
                height_factor=f, width_factor=f, interpolation=interp, seed=seed, **last),
            "random_rotation": lambda: RandomRotation(factor=f, interpolation=interp,
                                                      seed=seed, **last),
            "random_brightness": lambda: RandomBrightness(factor=f, value_range=vr, seed=seed,
                                                          **last),
            "random_color_degeneration": lambda: RandomColorDegeneration(
                factor=f, value_range=vr, seed=seed, **last),
            "random_contrast": lambda: RandomContrast(factor=f, value_range=vr, seed=seed,
                                                      **last),
            "random_sharpness": lambda: RandomSharpness(factor=f, value_range=vr, seed=seed,
                                                        **last),
            # as Keras: at most int(8 * upper factor) bits kept, at least 1
            "random_posterization": lambda: RandomPosterization(
                factor=max(1, int(8 * f[1])), value_range=vr, seed=seed, **last),
            "solarization": lambda: Solarization(addition_factor=f, threshold_factor=f,
                                                 value_range=vr, seed=seed, **last),
            "auto_contrast": lambda: AutoContrast(value_range=vr, **last),
            "equalization": lambda: Equalization(value_range=vr, **last),
        }
        for name in names:
            setattr(self, name, makers[name]())

    def _draw_op(self, name, d):
        """The random parameters of op ``name`` for the batch ``d``: drawn now for the
        augmentation layers that separate drawing from applying, else None (the
        preprocessing layers draw as they apply)."""
        layer = getattr(self, name)
        return layer._draw(d) if isinstance(layer, _ImageLayer) else None

    def _apply_op(self, name, d, params):
        """Op ``name`` applied to the channels-last batch ``d`` (a raw array) with
        ``params`` (None: drawn now)."""
        layer = getattr(self, name)
        if isinstance(layer, _ImageLayer):
            if params is None:
                params = layer._draw(d)
            return layer._transform(d, params).astype(d.dtype, copy=False)
        return layer._augment(wrap(d)).data.astype(d.dtype, copy=False)

    def _config(self, extra):
        cfg = super().get_config()
        seed = cfg.pop("seed")
        cfg.update({"value_range": self.value_range, **extra, "seed": seed})
        return cfg


class RandAugment(_Policy):
    """RandAugment: ``num_ops`` ops picked uniformly (with repetition) among Keras's 11
    (shear, translation, rotation, brightness, color degeneration, contrast, sharpness,
    posterization, solarization, auto contrast, equalization) and applied in turn to the
    batch (N, H, W, C) (or one image), each with strength ``factor`` in [0, 1] (a number
    f means (0, f)).  Shape-preserving; the identity when ``training=False``.

    An op picked twice reuses its parameters when it is one of the augmentation layers
    (as Keras), and draws new ones when it is one of the preprocessing layers
    (translation, rotation, brightness, contrast)."""

    _AUGMENT_LAYERS = ("random_shear", "random_translation", "random_rotation",
                       "random_brightness", "random_color_degeneration", "random_contrast",
                       "random_sharpness", "random_posterization", "solarization",
                       "auto_contrast", "equalization")

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear",
                 seed=None, data_format=None, **kwargs):
        super().__init__(value_range, factor, interpolation, seed, data_format, **kwargs)
        self.num_ops = self._int_arg(num_ops, "num_ops", 0)
        self._make_ops(self._AUGMENT_LAYERS)

    def _draw(self, d):
        ops = self._AUGMENT_LAYERS
        # the picks steer Python, so they are drawn on the host
        idx = self._g().integers_array(0, len(ops), (self.num_ops,), np)
        transforms = {}
        for i in idx.tolist():
            if ops[i] not in transforms:
                transforms[ops[i]] = self._draw_op(ops[i], d)
        return {"layer_idxes": idx, "transforms": transforms}

    def _transform(self, d, p):
        for i in np.asarray(p["layer_idxes"]).reshape(-1).tolist():
            name = self._AUGMENT_LAYERS[i]
            d = self._apply_op(name, d, p["transforms"].get(name))
        return d

    def get_config(self):
        return self._config({"num_ops": self.num_ops, "factor": self.factor,
                             "interpolation": self.interpolation})


class AugMix(_Policy):
    """AugMix: ``num_chains`` chains each of up to ``chain_depth`` ops (each step picks one
    of the ops or none, uniformly), every chain applied to the batch (N, H, W, C) (or one
    image); the chains are mixed with weights w ~ Dirichlet(alpha) and blended with the
    input: ``m x + (1 - m) sum_k w_k chain_k(x)``, m ~ Beta(alpha, alpha), clipped to
    ``value_range``.  The ops are Keras's 11 with ``all_ops`` (else the 7 without
    brightness, color degeneration, contrast and sharpness), of strength ``factor``.
    The weights and picks are shared by the batch; the identity when ``training=False``."""

    _ALL_OPS = ("random_shear", "random_translation", "random_rotation",
                "random_posterization", "solarization", "auto_contrast", "equalization",
                "random_brightness", "random_color_degeneration", "random_contrast",
                "random_sharpness")
    _BASIC_OPS = _ALL_OPS[:7]

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3,
                 alpha=1.0, all_ops=True, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        super().__init__(value_range, factor, interpolation, seed, data_format, **kwargs)
        self.num_chains = self._int_arg(num_chains, "num_chains", 1)
        self.chain_depth = self._int_arg(chain_depth, "chain_depth", 0)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(f"{self._who}: `alpha` must be a positive number, got {alpha!r}")
        self.alpha = alpha
        self.all_ops = bool(all_ops)
        self._augment_layers = self._ALL_OPS if self.all_ops else self._BASIC_OPS
        self._make_ops(self._augment_layers)

    def _draw(self, d):
        xp, g, ops = xp_of(d), self._g(), self._augment_layers
        gam = g.gamma_array((self.num_chains,), self.alpha, xp, dtype=_F32)
        weights = gam / gam.sum()                   # Dirichlet(alpha) by normalized gammas
        blend = g.beta_array((1,), self.alpha, self.alpha, xp, dtype=_F32)[0]
        # index len(ops) is Keras's None: that step applies no op
        picks = g.integers_array(0, len(ops) + 1, (self.num_chains, self.chain_depth), np)
        chains = [[{"layer_name": ops[j], "transformation": self._draw_op(ops[j], d)}
                   for j in row if j < len(ops)] for row in picks.tolist()]
        return {"chain_mixing_weights": weights, "weight_sample": blend,
                "chain_transforms": chains}

    def _transform(self, d, p):
        xp = xp_of(d)
        w = xp.asarray(p["chain_mixing_weights"], dtype=d.dtype)
        m = xp.asarray(p["weight_sample"], dtype=d.dtype)
        mixed = xp.zeros_like(d)
        for k, chain in enumerate(p["chain_transforms"]):
            y = d
            for step in chain:
                y = self._apply_op(step["layer_name"], y, step["transformation"])
            mixed = mixed + y * w[k]
        out = m * d + (d.dtype.type(1) - m) * mixed
        return xp.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        return self._config({"num_chains": self.num_chains, "chain_depth": self.chain_depth,
                             "factor": self.factor, "alpha": self.alpha,
                             "all_ops": self.all_ops, "interpolation": self.interpolation})
