"""The judge: a small CNN digit classifier behind every evaluation figure.

Trained with Keras by ``python -m genlib.train classifier`` (:mod:`genlib.classifier_train`)
on the *training* split of the data in use (never on the held-out digits it is evaluated
against), then run in plain numpy over the saved weights (:mod:`genlib.nn`), so pages can
judge samples without importing TensorFlow.

Architecture (channels last, "valid" convolutions), as a :mod:`genlib.nn` layer spec::

    28x28x1 -> conv 3x3x16 relu -> maxpool 2 -> conv 3x3x32 relu -> maxpool 2
            -> flatten (800) -> dense 128 relu (the features) -> dense 10 (logits)

A checkpoint (:mod:`genlib.checkpoints`, family ``"classifier"``) is an ``.npz`` (no pickle)
beside a JSON manifest with the held-out accuracy, the data source, epochs, seed, date and
the weights' SHA-256.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genlib import checkpoints, nn

__all__ = [
    "Classifier",
    "SPEC",
    "load_classifier",
    "judge_for",
    "shipped_weights_path",
    "user_weights_path",
]

FAMILY = "classifier"
PRESET = "judge"  # the one architecture; what load_pretrained offers
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
N_FILTERS = (16, 32)
N_FEATURES = 128
# The network as genlib.nn layers: numpy inference below and Keras training both read it.
# Dropout acts only while training.
SPEC = [
    {"type": "conv", "name": "conv1", "filters": N_FILTERS[0], "kernel": 3, "padding": "valid",
     "activation": "relu"},
    {"type": "maxpool", "pool": 2},
    {"type": "conv", "name": "conv2", "filters": N_FILTERS[1], "kernel": 3, "padding": "valid",
     "activation": "relu"},
    {"type": "maxpool", "pool": 2},
    {"type": "flatten"},
    {"type": "dropout", "rate": 0.25},
    {"type": "dense", "name": "dense1", "units": N_FEATURES, "activation": "relu"},
    {"type": "dropout", "rate": 0.4},
    {"type": "dense", "name": "logits", "units": 10},
]
# name -> shape of every array in the weights file, in forward order.
SHAPES = {
    "conv1/kernel": (3, 3, 1, N_FILTERS[0]), "conv1/bias": (N_FILTERS[0],),
    "conv2/kernel": (3, 3, N_FILTERS[0], N_FILTERS[1]), "conv2/bias": (N_FILTERS[1],),
    "dense1/kernel": (25 * N_FILTERS[1], N_FEATURES), "dense1/bias": (N_FEATURES,),
    "logits/kernel": (N_FEATURES, 10), "logits/bias": (10,),
}
_CHUNK = 500  # images per forward pass: bounds the im2col buffer to ~70 MB
TRAIN_HINT = "train them with `python -m genlib.train classifier`"


def shipped_weights_path() -> Path:
    """The judge shipped with GenLab, trained on the embedded sample's 4,000 training digits."""
    return WEIGHTS_DIR / "classifier.npz"


def user_weights_path(kind: str) -> Path:
    """Where ``genlib.train classifier`` saves a judge trained on another dataset kind."""
    from genlib.data import cache_dir

    return cache_dir() / "weights" / f"classifier_{kind}.npz"


# ----------------------------------------------------------------------------- numpy inference


def _conv_relu_pool(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """maxpool(relu(conv(x) + b)), computed as relu(maxpool(conv(x)) + b): the same numbers
    (bias and ReLU are monotone per channel) with 4x less work after the matmul."""
    out = nn.maxpool2d(nn.conv2d(x, kernel, None, padding="valid"), 2)
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

    # ------------------------------------------------------------------------- files

    @classmethod
    def load(cls, path) -> Classifier:
        """A judge from a checkpoint (``.npz`` + ``.json``), its hash checked.

        Raises
        ------
        ValueError
            Missing, unreadable, truncated or tampered weights, or weights of the wrong
            shape (the message names the file).
        """
        path = Path(path).expanduser()
        if not path.exists():
            raise ValueError(f"{path}: no classifier weights; {TRAIN_HINT}")
        manifest, weights = checkpoints.read(path, FAMILY)
        try:
            return cls(weights, manifest)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    @classmethod
    def load_pretrained(cls, preset: str = PRESET) -> Classifier:
        """The judge shipped with GenLab (its one preset, ``"judge"``)."""
        if preset != PRESET:
            raise ValueError(f"unknown classifier preset {preset!r}; the one preset is "
                             f"{PRESET!r}")
        return cls.load(shipped_weights_path())

    def save(self, path, manifest: dict | None = None) -> dict:
        """Write a checkpoint at ``path`` (.npz + .json, atomically); return its manifest.

        ``manifest`` adds to (or overrides) this judge's own; the family, preset and hash
        are set here.
        """
        manifest = {**self.manifest, **(manifest or {}), "family": FAMILY, "preset": PRESET}
        manifest.pop("sha256", None)
        self.manifest = checkpoints.write(path, self.weights, manifest)
        return self.manifest

    # ------------------------------------------------------------------------- inference

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
        """SPEC's forward pass (as ``nn.forward(SPEC, weights, x)``), returning the features
        too, in chunks, with each conv's bias and ReLU after its pool."""
        w = self.weights
        feats, logits = [], []
        for start in range(0, len(x), _CHUNK):
            h = x[start: start + _CHUNK, :, :, None]
            h = _conv_relu_pool(h, w["conv1/kernel"], w["conv1/bias"])
            h = _conv_relu_pool(h, w["conv2/kernel"], w["conv2/bias"])
            h = nn.dense(h.reshape(len(h), -1), w["dense1/kernel"], w["dense1/bias"])
            np.maximum(h, 0, out=h)
            feats.append(h)
            logits.append(nn.dense(h, w["logits/kernel"], w["logits/bias"]))
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


def load_classifier(path=None) -> Classifier:
    """``Classifier.load(path)``, or the shipped judge when ``path`` is None."""
    return Classifier.load(path) if path is not None else Classifier.load_pretrained()


def judge_for(kind: str) -> tuple[Classifier, Path]:
    """The judge to use for a dataset kind: one trained on it if present, else the shipped one."""
    if kind != "sample":
        path = user_weights_path(kind)
        if path.exists():
            try:
                return Classifier.load(path), path
            except ValueError:
                pass  # a broken user judge falls back to the shipped one
    path = shipped_weights_path()
    return Classifier.load(path), path
