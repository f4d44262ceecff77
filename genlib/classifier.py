"""The judge: a small CNN digit classifier behind every evaluation figure.

Trained with Keras by ``python -m genlib.train classifier`` on the *training* split of the
data in use (never on the held-out digits it is evaluated against), then run in plain numpy
over the saved weights, so pages can judge samples without importing TensorFlow.

Architecture (channels last, "valid" convolutions)::

    28x28x1 -> conv 3x3x16 relu -> maxpool 2 -> conv 3x3x32 relu -> maxpool 2
            -> flatten (800) -> dense 128 relu (the features) -> dense 10 (logits)

Weights are an ``.npz`` (no pickle) beside a JSON manifest with the held-out accuracy, the
data source, epochs, seed, date and the weights' SHA-256.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import time
import zipfile
from pathlib import Path

import numpy as np

__all__ = [
    "Classifier",
    "load_classifier",
    "judge_for",
    "shipped_weights_path",
    "user_weights_path",
    "build_keras_model",
    "train",
    "save_weights",
    "cli",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
N_FILTERS = (16, 32)
N_FEATURES = 128
# name -> shape of every array in the weights file, in forward order.
SHAPES = {
    "conv1/kernel": (3, 3, 1, N_FILTERS[0]), "conv1/bias": (N_FILTERS[0],),
    "conv2/kernel": (3, 3, N_FILTERS[0], N_FILTERS[1]), "conv2/bias": (N_FILTERS[1],),
    "dense1/kernel": (25 * N_FILTERS[1], N_FEATURES), "dense1/bias": (N_FEATURES,),
    "logits/kernel": (N_FEATURES, 10), "logits/bias": (10,),
}
_CHUNK = 500  # images per forward pass: bounds the im2col buffer to ~70 MB


def shipped_weights_path() -> Path:
    """The judge shipped with GenLab, trained on the embedded sample's 4,000 training digits."""
    return WEIGHTS_DIR / "classifier.npz"


def user_weights_path(kind: str) -> Path:
    """Where ``genlib.train classifier`` saves a judge trained on another dataset kind."""
    from genlib.data import cache_dir

    return cache_dir() / "weights" / f"classifier_{kind}.npz"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- numpy inference


def _conv3x3(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'valid' 3x3 convolution (Keras' cross-correlation) via im2col and one float32 matmul."""
    n, h, w, c = x.shape
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
    # (n, h-2, w-2, c, 3, 3) -> (n, h-2, w-2, 3, 3, c): the order of kernel.reshape(9c, cout)
    cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 9 * c)
    return (cols @ kernel.reshape(9 * c, -1)).reshape(n, h - 2, w - 2, -1)


def _maxpool2(x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    return x[:, : 2 * h2, : 2 * w2].reshape(n, h2, 2, w2, 2, c).max(axis=(2, 4))


def _conv_relu_pool(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """maxpool(relu(conv(x) + b)), computed as relu(maxpool(conv(x)) + b): the same numbers
    (bias and ReLU are monotone per channel) with 4x less work after the matmul."""
    out = _maxpool2(_conv3x3(x, kernel))
    out += bias
    return np.maximum(out, 0, out=out)


def _softmax(z: np.ndarray) -> np.ndarray:
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


class Classifier:
    """Numpy forward pass of the judge CNN over saved weights.

    Parameters
    ----------
    weights : dict of name -> float32 array, with the names and shapes of ``SHAPES``
    manifest : dict, what the JSON manifest says (accuracy, data source, ...)
    """

    def __init__(self, weights: dict, manifest: dict | None = None):
        for name, shape in SHAPES.items():
            if name not in weights:
                raise ValueError(f"classifier weights are missing {name!r}")
            if tuple(np.shape(weights[name])) != shape:
                raise ValueError(
                    f"classifier weight {name!r} has shape {np.shape(weights[name])}, "
                    f"expected {shape}"
                )
        self.weights = {k: np.ascontiguousarray(weights[k], dtype=np.float32) for k in SHAPES}
        if not all(np.all(np.isfinite(v)) for v in self.weights.values()):
            raise ValueError("classifier weights contain NaN or infinite values")
        self.manifest = dict(manifest or {})

    @property
    def accuracy(self) -> float | None:
        """Held-out accuracy recorded when the judge was trained (None if unknown)."""
        acc = self.manifest.get("test_accuracy")
        return None if acc is None else float(acc)

    @staticmethod
    def _check(images) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32)
        if x.ndim == 2 and x.shape[1] == 784:
            x = x.reshape(-1, 28, 28)
        if x.ndim == 2 and x.shape == (28, 28):
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"the classifier needs images of shape (n, 28, 28), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("images contain NaN or infinite values")
        return x

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = self.weights
        feats, logits = [], []
        for start in range(0, len(x), _CHUNK):
            h = x[start: start + _CHUNK, :, :, None]
            h = _conv_relu_pool(h, w["conv1/kernel"], w["conv1/bias"])
            h = _conv_relu_pool(h, w["conv2/kernel"], w["conv2/bias"])
            h = h.reshape(len(h), -1) @ w["dense1/kernel"]
            h += w["dense1/bias"]
            np.maximum(h, 0, out=h)
            feats.append(h)
            logits.append(h @ w["logits/kernel"] + w["logits/bias"])
        if not feats:
            return np.zeros((0, N_FEATURES), np.float32), np.zeros((0, 10), np.float32)
        return np.concatenate(feats), np.concatenate(logits)

    def features(self, images) -> np.ndarray:
        """Penultimate-layer activations, float32 (n, 128): the space of the Frechet distance."""
        return self._forward(self._check(images))[0]

    def logits(self, images) -> np.ndarray:
        """Unnormalised class scores, float32 (n, 10)."""
        return self._forward(self._check(images))[1]

    def predict_proba(self, images) -> np.ndarray:
        """Class probabilities, float32 (n, 10), rows summing to 1."""
        return _softmax(self.logits(images))

    def predict(self, images) -> np.ndarray:
        """Most likely digit per image, int64 (n,)."""
        return self.logits(images).argmax(axis=1).astype(np.int64)

    def predict_all(self, images) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels (n,), probabilities (n, 10) and features (n, 128) from one forward pass."""
        feats, logits = self._forward(self._check(images))
        return logits.argmax(axis=1).astype(np.int64), _softmax(logits), feats

    def score(self, images, labels) -> float:
        """Accuracy on labelled digits."""
        return float(np.mean(self.predict(images) == np.asarray(labels)))


def _manifest_path(path: Path) -> Path:
    return path.with_suffix(".json")


def load_classifier(path=None) -> Classifier:
    """Load a judge from ``path`` (default: the shipped one) and its manifest.

    Raises
    ------
    ValueError
        Missing, unreadable, truncated or tampered weights (the message names the file).
    """
    path = Path(path) if path is not None else shipped_weights_path()
    if not path.exists():
        raise ValueError(
            f"{path}: no classifier weights; train them with `python -m genlib.train classifier`"
        )
    manifest = {}
    mpath = _manifest_path(path)
    if mpath.exists():
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"{mpath}: not a readable JSON manifest ({e})") from e
        if not isinstance(manifest, dict):
            raise ValueError(f"{mpath}: the manifest must be a JSON object")
        digest = manifest.get("sha256")
        if digest and digest != _sha256(path):
            raise ValueError(f"{path}: the weights do not match their manifest (SHA-256 differs)")
    try:
        with np.load(path, allow_pickle=False) as f:
            weights = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable classifier weights file ({e})") from e
    try:
        return Classifier(weights, manifest)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e


def judge_for(kind: str) -> tuple[Classifier, Path]:
    """The judge to use for a dataset kind: one trained on it if present, else the shipped one."""
    if kind != "sample":
        path = user_weights_path(kind)
        if path.exists():
            try:
                return load_classifier(path), path
            except ValueError:
                pass  # a broken user judge falls back to the shipped one
    path = shipped_weights_path()
    return load_classifier(path), path


# ----------------------------------------------------------------------------- Keras (training)


def build_keras_model(weights: dict | None = None, dropout: bool = True):
    """The judge as a Keras model (logits out); optionally with numpy ``weights`` set."""
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(N_FILTERS[0], 3, activation="relu", name="conv1"),
        layers.MaxPooling2D(2),
        layers.Conv2D(N_FILTERS[1], 3, activation="relu", name="conv2"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.25 if dropout else 0.0),
        layers.Dense(N_FEATURES, activation="relu", name="dense1"),
        layers.Dropout(0.4 if dropout else 0.0),
        layers.Dense(10, name="logits"),
    ], name="judge")
    if weights is not None:
        for name in ("conv1", "conv2", "dense1", "logits"):
            model.get_layer(name).set_weights([weights[f"{name}/kernel"], weights[f"{name}/bias"]])
    return model


def _keras_weights(model) -> dict:
    out = {}
    for name in ("conv1", "conv2", "dense1", "logits"):
        kernel, bias = model.get_layer(name).get_weights()
        out[f"{name}/kernel"], out[f"{name}/bias"] = kernel, bias
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


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
    import keras
    import tensorflow as tf

    x = np.asarray(train_images, np.float32).reshape(-1, 28, 28)
    y = np.asarray(train_labels, np.int64)
    if len(x) != len(y) or len(x) < batch_size:
        raise ValueError(f"need at least {batch_size} labelled training digits, got {len(x)}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
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
    return Classifier(_keras_weights(model))


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    from genlib.data import atomic_write  # the project's one temp-then-rename writer

    atomic_write(Path(path), data)


def save_weights(clf: Classifier, path, manifest: dict) -> None:
    """Write ``path`` (.npz, no pickle) and its ``.json`` manifest, each atomically."""
    import io

    path = Path(path)
    buf = io.BytesIO()
    np.savez_compressed(buf, **clf.weights)
    data = buf.getvalue()
    manifest = {**manifest, "sha256": hashlib.sha256(data).hexdigest()}
    _atomic_write_bytes(path, data)
    _atomic_write_bytes(_manifest_path(path),
                        (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))


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
    manifest = {
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
    }
    save_weights(clf, out, manifest)
    print(f"held-out accuracy {acc:.2%} on {len(mnist.test):,} digits; saved {out}")


if __name__ == "__main__":  # pragma: no cover
    import sys

    cli(sys.argv[1:])
