"""One checkpoint format for every model family: ``NAME.npz`` arrays + ``NAME.json`` manifest.

The arrays file is a plain ``.npz`` read with ``allow_pickle=False``; the manifest is a JSON
object with one set of keys for every family:

``family``        "vae", "gan", "classifier", ... (checked on read when the caller names one)
``preset``        the preset the model was built from
``sha256``        hash of the ``.npz`` bytes: a damaged or replaced file is refused by name
``data_source``   the dataset it was trained on, as the user saw it; ``data_kind`` its kind
``train_seconds`` and ``date``: how long the project's own command trained it, and when

plus whatever the family needs (a VAE's ``config``, a GAN's ``settings`` and ``step``). Both
files are written under a temporary name, then renamed: never half-written. Nothing here
imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from genlib.data import atomic_write

__all__ = ["write", "read", "manifest_path", "sha256_of"]

COMMON_KEYS = ("family", "preset", "sha256", "data_source", "data_kind", "train_seconds",
               "date")


def manifest_path(path) -> Path:
    """The ``.json`` manifest beside a checkpoint's ``.npz``."""
    return Path(path).with_suffix(".json")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path, arrays: dict, manifest: dict, compress: bool = True) -> dict:
    """Write ``path`` (.npz) and its manifest atomically; return the manifest written.

    The manifest gets the arrays file's ``sha256``; arrays must be numeric (no pickles).
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: a checkpoint's arrays file must end in .npz")
    for key, value in arrays.items():
        if np.asarray(value).dtype.hasobject:
            raise ValueError(f"{path}: array {key!r} holds Python objects; only numbers are saved")
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    data = buf.getvalue()
    manifest = {**manifest, "sha256": sha256_of(data)}
    text = json.dumps(manifest, indent=1) + "\n"
    atomic_write(path, data)
    atomic_write(manifest_path(path), text.encode("utf-8"))
    return manifest


def read(path, family: str | None = None) -> tuple[dict, dict]:
    """``(manifest, arrays)`` of a checkpoint, its hash checked.

    Raises
    ------
    ValueError
        A missing file, an unreadable or foreign manifest, arrays that do not match their
        manifest's hash (damaged or replaced), an unreadable archive. The message names the
        file and says which of these it is.
    """
    path = Path(path).expanduser()
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    mpath = manifest_path(path)
    for p in (path, mpath):
        if not p.is_file():
            raise ValueError(f"{p}: file not found (a checkpoint is {path.name} + {mpath.name})")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{mpath}: not a readable JSON manifest ({e})") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{mpath}: the manifest must be a JSON object")
    if family is not None and manifest.get("family", family) != family:
        raise ValueError(f"{mpath}: a {manifest.get('family')!r} checkpoint, not a {family!r} one")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from None
    digest = manifest.get("sha256") or manifest.get("weights_sha256")  # the VAE's older key
    if not digest:
        raise ValueError(f"{mpath}: the manifest has no sha256 of the weights")
    if sha256_of(data) != digest:
        raise ValueError(f"{path}: damaged or replaced: the file does not match the SHA-256 in "
                         f"{mpath.name}")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable weights archive ({e})") from None
    return manifest, arrays
