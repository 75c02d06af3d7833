"""``Pipeline``: a plain layer applying a list of layers in turn (Keras 3's preprocessing
pipelines, e.g. a chain of augmentation layers).  Unlike a Sequential model it is not a
Model, and, as in Keras, its ``training`` argument defaults to True, so augmentations run
when the pipeline is called directly (say, inside a data-loading function)."""
from __future__ import annotations

from .base import Layer

__all__ = ["Pipeline"]


class Pipeline(Layer):
    """Apply ``layers`` one after the other: ``layers[-1](...layers[0](inputs))``."""

    # Keras saves a Pipeline's sublayers under "layers" (its public property), as it does
    # for models: lamina's .weights.h5 walk follows that (lamina/io.py)
    _keras_walks_layers = True

    def __init__(self, layers, name=None):
        super().__init__(name=name)
        if not isinstance(layers, (list, tuple)) or not all(isinstance(la, Layer)
                                                            for la in layers):
            raise TypeError(f"Pipeline '{self.name}': layers must be a list of layers, got "
                            f"{layers!r}")
        self._pipeline_layers = list(layers)

    @property
    def layers(self):
        return list(self._pipeline_layers)

    def call(self, inputs, training=True, mask=None):
        for layer in self._pipeline_layers:
            kwargs = {}
            if layer._call_has_training and training is not None:
                kwargs["training"] = training
            if layer._call_has_mask and mask is not None:
                kwargs["mask"] = mask
            inputs = layer(inputs, **kwargs)
            mask = None
        return inputs

    def compute_output_shape(self, input_shape):
        for layer in self._pipeline_layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def get_config(self):
        from ..serialization import serialize_layer
        # Keras writes only these two keys for a Pipeline
        return {"layers": [serialize_layer(la) for la in self._pipeline_layers],
                "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..serialization import deserialize_layer
        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError(f"Pipeline config must hold a list of serialized layers under "
                             f"'layers', got {layers!r}")
        return cls([deserialize_layer(c, custom_objects) for c in layers],
                   name=config.get("name"))
