"""Lab 4: a functional mini-Inception and a subclassed mini-ResNet (residual blocks with
BatchNormalization), each summarized, checked and trained briefly on generated digits.

    python examples/04_mini_resnet.py            # 3 epochs each on 3,000 28x28 images
    python examples/04_mini_resnet.py --quick    # a few seconds: 8 epochs on 800 14x14 images

The images come from ``lamina.data.synthetic_digits`` (28x28 renders of the shipped 8x8
digits), so the script runs offline.  Quick mode halves their resolution (2x2 means): a
quarter of the work per image buys the ~200 steps these models need to learn.
"""
import argparse

import numpy as np

from lamina import keras
from lamina.data import synthetic_digits

layers = keras.layers


def inception_block(x, f1, f3, f5, fp):
    """Four parallel branches (1x1, 1x1->3x3, 1x1->5x5, 3x3 max-pool->1x1) concatenated
    along the channels."""
    b1 = layers.Conv2D(f1, 1, padding="same", activation="relu")(x)
    b3 = layers.Conv2D(f3, 1, padding="same", activation="relu")(x)
    b3 = layers.Conv2D(f3, 3, padding="same", activation="relu")(b3)
    b5 = layers.Conv2D(f5, 1, padding="same", activation="relu")(x)
    b5 = layers.Conv2D(f5, 5, padding="same", activation="relu")(b5)
    bp = layers.MaxPooling2D(3, strides=1, padding="same")(x)
    bp = layers.Conv2D(fp, 1, padding="same", activation="relu")(bp)
    return layers.Concatenate()([b1, b3, b5, bp])


def mini_inception(input_shape=(28, 28, 1), classes=10):
    """Functional model: stem conv -> 2 inception blocks with pooling -> global pool -> dense."""
    inp = keras.Input(shape=input_shape)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = layers.MaxPooling2D()(x)
    x = inception_block(x, 8, 12, 4, 4)
    x = layers.MaxPooling2D()(x)
    x = inception_block(x, 16, 16, 8, 8)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out, name="mini_inception")


class ResidualBlock(keras.layers.Layer):
    """conv-BN-relu-conv-BN plus a shortcut (a strided 1x1 conv + BN when the shape
    changes), then relu."""

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides = filters, strides
        self.conv1 = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)
        # momentum 0.9 (Keras's default is 0.99): the moving statistics used at test time
        # must settle within the few hundred steps of this lab
        self.bn1 = layers.BatchNormalization(momentum=0.9)
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization(momentum=0.9)
        self.proj = None
        self.proj_bn = None

    def build(self, input_shape):
        if self.strides != 1 or input_shape[-1] != self.filters:
            self.proj = layers.Conv2D(self.filters, 1, strides=self.strides, use_bias=False)
            self.proj_bn = layers.BatchNormalization(momentum=0.9)
        self.built = True

    def call(self, x, training=None):
        h = keras.activations.relu(self.bn1(self.conv1(x), training=training))
        h = self.bn2(self.conv2(h), training=training)
        s = x if self.proj is None else self.proj_bn(self.proj(x), training=training)
        return keras.activations.relu(h + s)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        s = self.strides
        return (n, None if h is None else -(-h // s), None if w is None else -(-w // s),
                self.filters)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"filters": self.filters, "strides": self.strides})
        return cfg


class MiniResNet(keras.Model):
    """Subclassed model: stem -> residual stages (16, 32 strided, 64 strided) -> pool ->
    dense softmax."""

    def __init__(self, classes=10, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Conv2D(16, 3, padding="same", use_bias=False)
        self.stem_bn = layers.BatchNormalization(momentum=0.9)
        self.blocks = [ResidualBlock(16), ResidualBlock(32, strides=2),
                       ResidualBlock(64, strides=2)]
        self.pool = layers.GlobalAveragePooling2D()
        self.head = layers.Dense(classes, activation="softmax")

    def call(self, x, training=None):
        x = keras.activations.relu(self.stem_bn(self.stem(x), training=training))
        for block in self.blocks:
            x = block(x, training=training)
        return self.head(self.pool(x))


def load(n_train, n_test):
    """Generated digits (n, 28, 28, 1), standardized with the training mean and std."""
    (xtr, ytr), (xte, yte) = synthetic_digits(n_train, n_test, seed=0)
    xtr = xtr[..., None].astype("float32") / 255.0
    xte = xte[..., None].astype("float32") / 255.0
    mu, sd = xtr.mean(), xtr.std()
    return ((xtr - mu) / sd, ytr.astype("int64")), ((xte - mu) / sd, yte.astype("int64"))


def half_resolution(data):
    """Each (n, 28, 28, 1) image as (n, 14, 14, 1): the mean of each 2x2 block."""
    def shrink(x):
        n, h, w, c = x.shape
        return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
    return tuple((shrink(x), y) for x, y in data)


def fit_and_report(model, data, epochs, name, batch_size=64):
    (xtr, ytr), (xte, yte) = data
    model.compile(optimizer=keras.optimizers.Adam(5e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=epochs, batch_size=batch_size, verbose=2)
    loss, acc = model.evaluate(xte, yte, verbose=0)
    print(f"{name}: test loss {loss:.4f}, test accuracy {acc:.4f}")
    return acc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="8 epochs on 800 images at 14x14, batches of 32")
    args = ap.parse_args(argv)
    keras.utils.set_random_seed(0)
    n_train, n_test, epochs, batch = (800, 300, 8, 32) if args.quick else (3000, 500, 3, 64)
    data = load(n_train, n_test)
    if args.quick:
        data = half_resolution(data)

    inception = mini_inception(input_shape=data[0][0].shape[1:])
    inception.summary()
    fit_and_report(inception, data, epochs, "mini-Inception (functional)", batch)

    resnet = MiniResNet(name="mini_resnet")
    resnet(data[0][0][:2])                        # build the subclassed model's weights
    resnet.summary()
    bn_moving = sum(int(np.prod(w.shape)) for w in resnet.non_trainable_weights)
    print(f"non-trainable (BatchNormalization moving statistics): {bn_moving}")
    fit_and_report(resnet, data, epochs, "mini-ResNet (subclassed)", batch)


if __name__ == "__main__":
    main()
