"""Run under ``mpiexec -n N`` by tests/distributed/test_mpi.py (and importable by it, to
train the single-process reference in the test process itself).

    python train_mlp.py OUTDIR [fit|batchnorm|earlystop|stop|loop|raise|hang|resume1|resume2|
                                  backup1|backup2]

Each rank writes ``OUTDIR/rank<r>.npz`` (final weights) and ``OUTDIR/rank<r>.json``
(history, world size).
"""
import json
import os
import sys

import numpy as np

N, D, C = 96, 5, 3
BATCH = 12          # global batch: divisible by 2 and 3 ranks
EPOCHS = 3


def data():
    rng = np.random.default_rng(42)
    x = rng.normal(size=(N, D)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 0.8)
    return x, y


def build(seed=0, batchnorm=False):
    """Dense(8, tanh) [-> BatchNormalization] -> Dense(3, softmax), Adam, accuracy.  (Batch
    normalization uses each rank's local batch statistics, so only a model without it
    trains exactly like one process on the global batch.)"""
    from lamina import keras
    keras.utils.set_random_seed(seed)
    layers = [keras.Input(shape=(D,)), keras.layers.Dense(8, activation="tanh")]
    if batchnorm:
        layers.append(keras.layers.BatchNormalization())
    model = keras.Sequential(layers + [keras.layers.Dense(C, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train(epochs=EPOCHS, seed=0, callbacks=None, verbose=0, batchnorm=False):
    """The same training, with or without an active DataParallel scope."""
    model = build(seed, batchnorm)
    x, y = data()
    hist = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=verbose,
                     callbacks=callbacks, validation_data=(x[:30], y[:30]))
    return model, hist.history


class Crash(Exception):
    pass


def backup_run(outdir, crash):
    """4 epochs with BackupAndRestore in OUTDIR/backup; with ``crash``, rank 0 raises at
    the end of epoch 2 (after the backup of that epoch was written)."""
    import lamina.distributed as dist
    from lamina import keras

    def boom(epoch, logs=None):
        if crash and epoch == 1 and dist.rank() == 0:
            raise Crash("crash at the end of epoch 2")
    model = build()
    x, y = data()
    hist = model.fit(x, y, batch_size=BATCH, epochs=4, verbose=0, callbacks=[
        keras.callbacks.BackupAndRestore(os.path.join(outdir, "backup")),
        keras.callbacks.LambdaCallback(on_epoch_end=boom)])
    return model, hist.history


def weights(model):
    """``{"<index>:<name>": array}`` (layer names depend on how many layers a process made)."""
    return {f"{i}:{v.name}": v.numpy() for i, v in enumerate(model.weights)}


def custom_loop(steps=6, seed=0):
    """A hand-written loop: shard, backward, all_reduce_gradients, SGD update."""
    import lamina as lm
    import lamina.distributed as dist
    from lamina import keras
    model = build(seed)
    dist.broadcast_variables(model.weights)
    x, y = data()
    tw = model.trainable_weights
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    for s in range(steps):
        lo = (s * BATCH) % N
        bx, by = dist.shard(x[lo:lo + BATCH]), dist.shard(y[lo:lo + BATCH])
        for v in tw:
            v.grad = None
        loss = loss_fn(by, model(lm.tensor(bx), training=True))
        loss.backward()
        dist.all_reduce_gradients(tw, weight=len(bx))
        with lm.no_grad():
            for v in tw:
                v.data -= np.float32(0.1) * v.grad.data
    return model


def _out(outdir, model, history):
    import lamina.distributed as dist
    r = dist.rank()
    np.savez(os.path.join(outdir, f"rank{r}.npz"), **weights(model))
    with open(os.path.join(outdir, f"rank{r}.json"), "w") as f:
        json.dump({"history": history, "world": dist.world_size()}, f)


def main(argv):
    import lamina.distributed as dist
    from lamina import keras
    outdir, mode = argv[0], (argv[1] if len(argv) > 1 else "fit")
    if mode == "hang":
        dist.init(timeout=2)
        if dist.rank() == 1:
            import time
            time.sleep(60)          # never reaches the collective in time
        dist.all_reduce(np.ones(3, np.float32))
        return
    strategy = dist.DataParallel()
    if mode == "raise":
        class Boom(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if dist.rank() == 1 and batch == 2:
                    raise RuntimeError("boom on rank 1")
        with strategy:
            train(epochs=50, callbacks=[Boom()])
        return
    if mode in ("backup1", "backup2"):
        with strategy:
            model, history = backup_run(outdir, crash=mode == "backup1")
        _out(outdir, model, history)
        return
    if mode in ("earlystop", "stop"):
        if mode == "earlystop":     # val_loss never improves by 10: stops after epoch 2
            cb = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=10, patience=1)
        else:                       # a callback on rank 1 only stops in epoch 2, batch 3
            cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs=None: (
                dist.rank() == 1 and len(model.history.epoch) == 1 and b == 2 and
                setattr(model, "stop_training", True)))
        with strategy:
            model = build()
        x, y = data()
        model.fit(x, y, batch_size=BATCH, epochs=6, verbose=0, callbacks=[cb],
                  validation_data=(x[:30], y[:30]))
        _out(outdir, model, model.history.history)
        return
    if mode == "loop":
        _out(outdir, custom_loop(), {})
        return
    if mode == "resume1":
        ckpt = keras.callbacks.ModelCheckpoint(os.path.join(outdir, "ckpt.keras"))
        with strategy:
            model, history = train(epochs=2, callbacks=[ckpt])
        _out(outdir, model, history)
        return
    if mode == "resume2":
        keras.utils.set_random_seed(1)
        with strategy:
            model = keras.saving.load_model(os.path.join(outdir, "ckpt.keras"))
        x, y = data()
        history = model.fit(x, y, batch_size=BATCH, epochs=3, initial_epoch=2, verbose=0).history
        _out(outdir, model, history)
        return
    with strategy:
        model, history = train(verbose=2, batchnorm=mode == "batchnorm")
    _out(outdir, model, history)


if __name__ == "__main__":
    main(sys.argv[1:])
