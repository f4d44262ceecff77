"""Training the judge CNN with Keras: ``python -m genlib.train classifier [options]``.

The network is :data:`genlib.classifier.SPEC`, built by :func:`genlib.nn.build_keras`;
training ends in a :class:`genlib.classifier.Classifier` (numpy) and a checkpoint. Only this
module imports TensorFlow.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import time
from pathlib import Path

import numpy as np

from genlib import nn
from genlib.classifier import (
    N_FEATURES,
    N_FILTERS,
    SPEC,
    Classifier,
    shipped_weights_path,
    user_weights_path,
)

__all__ = ["build_keras_model", "shift_images", "train", "cli"]


def build_keras_model(weights: dict | None = None, dropout: bool = True):
    """The judge as a Keras model (logits out); optionally with numpy ``weights`` set.

    ``dropout=False`` leaves the dropout layers out (they only act while training anyway).
    """
    spec = SPEC if dropout else [layer for layer in SPEC if layer["type"] != "dropout"]
    model = nn.build_keras(spec, (28, 28, 1), "judge")
    if weights is not None:
        nn.set_keras_weights(model, spec, weights)
    return model


def shift_images(images: np.ndarray, rng, max_shift: int = 2) -> np.ndarray:
    """Each image moved by a random whole-pixel offset in [-max_shift, max_shift], zero-filled."""
    rng = np.random.default_rng(rng)
    n = len(images)
    pad = max_shift
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    dy, dx = rng.integers(-max_shift, max_shift + 1, size=(2, n)) + pad
    rows = dy[:, None] + np.arange(28)[None, :]          # (n, 28)
    cols = dx[:, None] + np.arange(28)[None, :]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def train(train_images, train_labels, epochs: int = 20, batch_size: int = 64, seed: int = 0,
          max_shift: int = 2, learning_rate: float = 1e-3, log=print) -> Classifier:
    """Fit the judge with Keras on training digits (random shifts as augmentation)."""
    x = np.asarray(train_images, np.float32).reshape(-1, 28, 28)
    y = np.asarray(train_labels, np.int64)
    if len(x) != len(y) or len(x) < batch_size:
        raise ValueError(f"need at least {batch_size} labelled training digits, got {len(x)}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    keras = nn.keras()
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_keras_model()
    opt = keras.optimizers.Adam(learning_rate)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    n_batches = len(x) // batch_size
    for epoch in range(epochs):
        t0 = time.perf_counter()
        xs = shift_images(x, rng, max_shift) if max_shift else x
        order = rng.permutation(len(x))
        total = 0.0
        for b in range(n_batches):
            idx = order[b * batch_size: (b + 1) * batch_size]
            total += float(step(tf.constant(xs[idx, :, :, None]), tf.constant(y[idx])))
        log(f"epoch {epoch + 1}/{epochs}: loss {total / n_batches:.4f} "
            f"({time.perf_counter() - t0:.1f} s)")
    return Classifier(nn.keras_weights(model, SPEC))


def cli(argv: list[str]) -> None:
    """``python -m genlib.train classifier [--source S] [--epochs N] [--seed K] [--out PATH]``."""
    from genlib.data import load_mnist

    p = argparse.ArgumentParser(
        prog="python -m genlib.train classifier",
        description="Train the judge CNN on the training split of an MNIST source "
                    "(the held-out split is only used to report accuracy).")
    p.add_argument("--source", default="sample",
                   help="sample (default), keras, auto, or a path to an MNIST file")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-shift", type=int, default=2,
                   help="random shift augmentation in pixels (0 disables)")
    p.add_argument("--out", default=None,
                   help="weights file (.npz); default: genlib/weights/classifier.npz for the "
                        "sample, else the user cache")
    args = p.parse_args(argv)
    mnist = load_mnist(args.source)
    out = Path(args.out) if args.out else (
        shipped_weights_path() if mnist.kind == "sample" else user_weights_path(mnist.kind))
    print(f"training the judge on {len(mnist.train):,} digits of {mnist.source}")
    t0 = time.perf_counter()
    clf = train(mnist.train.images, mnist.train.labels, epochs=args.epochs, seed=args.seed,
                batch_size=args.batch_size, max_shift=args.max_shift)
    seconds = time.perf_counter() - t0
    acc = clf.score(mnist.test.images, mnist.test.labels)
    clf.save(out, {
        "model": f"judge CNN (conv{N_FILTERS[0]}-pool-conv{N_FILTERS[1]}-pool-"
                 f"dense{N_FEATURES}-dense10)",
        "test_accuracy": round(acc, 4),
        "n_test": len(mnist.test),
        "n_train": len(mnist.train),
        "data_source": mnist.source,
        "data_kind": mnist.kind,
        "epochs": args.epochs,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "max_shift": args.max_shift,
        "train_seconds": round(seconds, 1),
        "date": _dt.date.today().isoformat(),
    })
    print(f"held-out accuracy {acc:.2%} on {len(mnist.test):,} digits; saved {out}")


if __name__ == "__main__":  # pragma: no cover
    import sys

    cli(sys.argv[1:])
