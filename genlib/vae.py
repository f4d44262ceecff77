"""Variational autoencoders on MNIST: Keras to train, numpy to explore.

Two presets:

``"tutorial"``
    The classic beginners' VAE: encoder Dense(128, relu) -> mean (4), log-variance (4);
    decoder Dense(128, relu) -> Dense(784, sigmoid); RMSprop, batch 100.
``"conv"``
    A small convolutional VAE (two stride-2 convolutions in, two stride-2 transposed
    convolutions out), latent size 2..16, Adam. It reaches a better held-out ELBO.

Loss = binary cross-entropy summed over the 784 pixels + ``beta`` * KL(q(z|x) || N(0, I)),
averaged over a batch. ``beta=1`` is the true (negative) ELBO; :data:`TUTORIAL_BETA` is the
tiny KL weight some tutorials use, which gives sharp reconstructions but an encoder that
ignores the prior, so samples from N(0, I) come out poor.

Only :func:`train` (and the :func:`build_keras` it calls) import Keras/TensorFlow. A trained
model is a :class:`VAE`: plain numpy weights whose ``encode``/``decode`` are numpy forward
passes (:mod:`genlib.nn`), so the explorer page never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import io
import json
import os
import threading
import time
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from genlib import nn

__all__ = [
    "PRESETS", "SHIPPED", "TUTORIAL_BETA", "VAE", "Explorer", "load_model", "train", "build_keras",
    "architecture", "shipped_path", "user_weights_path", "latent_grid", "latent_grid_png",
    "grid_cell", "interpolate", "class_means", "spread_strip", "scatter_chart", "scatter_spec",
    "history_chart", "history_spec", "cli",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TUTORIAL_BETA = 1e-3  # the tutorials' "tiny" KL weight, relative to the summed-BCE term
LATENT_RANGE = (2, 16)

PRESETS = {
    "tutorial": {"kind": "dense", "latent_dim": 4, "hidden": 128, "optimizer": "rmsprop",
                 "learning_rate": 1e-3, "batch_size": 100, "epochs": 50, "beta": 1.0},
    "conv": {"kind": "conv", "latent_dim": 16, "hidden": 128, "optimizer": "adam",
             "learning_rate": 1e-3, "batch_size": 100, "epochs": 60, "beta": 1.0},
}

# Shipped weights (genlib/weights/<file>.npz + .json), by the name a user picks.
SHIPPED = {
    "tutorial": "vae_tutorial",
    "tutorial-small-kl": "vae_tutorial_small_kl",
    "conv": "vae_conv",
}


# ----------------------------------------------------------------------------- architecture


def architecture(kind: str, latent_dim: int, hidden: int = 128) -> dict:
    """Layer specs (see :mod:`genlib.nn`) of the encoder trunk, its two heads and the decoder."""
    if kind == "dense":
        trunk = [{"type": "flatten"},
                 {"type": "dense", "name": "enc_hidden", "units": hidden, "activation": "relu"}]
        decoder = [
            {"type": "dense", "name": "dec_hidden", "units": hidden, "activation": "relu"},
            {"type": "dense", "name": "logits", "units": 784, "activation": None},
        ]
    elif kind == "conv":
        trunk = [
            {"type": "reshape", "shape": [28, 28, 1]},
            {"type": "conv", "name": "enc_conv1", "filters": 32, "kernel": 3, "strides": 2,
             "activation": "relu"},
            {"type": "conv", "name": "enc_conv2", "filters": 64, "kernel": 3, "strides": 2,
             "activation": "relu"},
            {"type": "flatten"},
            {"type": "dense", "name": "enc_hidden", "units": hidden, "activation": "relu"},
        ]
        decoder = [
            {"type": "dense", "name": "dec_hidden", "units": hidden, "activation": "relu"},
            {"type": "dense", "name": "dec_project", "units": 7 * 7 * 32, "activation": "relu"},
            {"type": "reshape", "shape": [7, 7, 32]},
            {"type": "conv_transpose", "name": "dec_up1", "filters": 32, "kernel": 4,
             "strides": 2, "activation": "relu"},
            {"type": "conv_transpose", "name": "logits", "filters": 1, "kernel": 4,
             "strides": 2, "activation": None},
        ]
    else:
        raise ValueError(f"unknown VAE kind {kind!r}; use 'dense' or 'conv'")
    heads = [{"type": "dense", "name": "z_mean", "units": latent_dim, "activation": None},
             {"type": "dense", "name": "z_log_var", "units": latent_dim, "activation": None}]
    return {"encoder": trunk, "heads": heads, "decoder": decoder}


def _check_config(config: dict) -> dict:
    try:
        kind, d, hidden = config["kind"], int(config["latent_dim"]), int(config["hidden"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"the model configuration is incomplete ({e})") from None
    if kind not in ("dense", "conv"):
        raise ValueError(f"unknown VAE kind {kind!r}")
    if not LATENT_RANGE[0] <= d <= LATENT_RANGE[1]:
        raise ValueError(f"latent size must be {LATENT_RANGE[0]}..{LATENT_RANGE[1]}, got {d}")
    return {**config, "latent_dim": d, "hidden": hidden}


def _as_images(images) -> np.ndarray:
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 2 and x.shape == (28, 28):
        x = x[None]
    if x.ndim == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 28, 28)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"images must have shape (n, 28, 28), got {x.shape}")
    return x


# ----------------------------------------------------------------------------- numpy model


class VAE:
    """A trained VAE as numpy weights; encode/decode are numpy forward passes.

    Attributes
    ----------
    latent_dim : int
    config : dict (kind, latent_dim, hidden, beta, ...)
    manifest : dict, what :func:`train` recorded (preset, data source, epochs, seed,
        held-out negative ELBO, date, per-epoch history)
    weights : dict of float32 arrays named "<layer>/kernel", "<layer>/bias"
    warning : str or None, set when :func:`load_model` fell back to the shipped weights
    """

    CHUNK = 512  # digits per forward pass: bounds memory for the conv layers
    SMALL = 256  # up to this many digits, BLAS runs single-threaded (see nn.single_threaded)

    def __init__(self, config: dict, weights: dict, manifest: dict | None = None):
        self.config = _check_config(config)
        self.latent_dim = self.config["latent_dim"]
        self.spec = architecture(self.config["kind"], self.latent_dim, self.config["hidden"])
        names = {layer["name"] for part in self.spec.values() for layer in part if "name" in layer}
        wanted = {f"{n}/{p}" for n in names for p in ("kernel", "bias")}
        missing = wanted - set(weights)
        if missing:
            raise ValueError(f"weights missing for {', '.join(sorted(missing)[:4])}")
        self.weights = {k: np.asarray(weights[k], dtype=np.float32) for k in sorted(wanted)}
        for k, v in self.weights.items():
            v.flags.writeable = False
            if not np.all(np.isfinite(v)):
                raise ValueError(f"weights {k} contain NaN or infinite values")
        self.manifest = dict(manifest or {})
        self.warning = None
        self.path = None
        try:  # a forward pass on zeros proves every shape fits the architecture
            self.encode(np.zeros((1, 28, 28), np.float32))
            self.decode(np.zeros((1, self.latent_dim), np.float32))
        except ValueError as e:
            raise ValueError(f"the weights do not fit a {self.describe()} ({e})") from None

    # -- description

    @property
    def history(self) -> list[dict]:
        """Per-epoch training figures: epoch, loss, recon, kl (and val_* on held-out digits)."""
        return list(self.manifest.get("history", []))

    @property
    def beta(self) -> float:
        return float(self.config.get("beta", 1.0))

    def describe(self) -> str:
        kind = "dense (tutorial)" if self.config["kind"] == "dense" else "convolutional"
        beta = "" if self.beta == 1 else f", KL weight {self.beta:g}"
        return f"{kind} VAE, {self.latent_dim}-D latent{beta}"

    # -- forward passes

    def _chunks(self, x):
        for i in range(0, len(x), self.CHUNK):
            yield x[i:i + self.CHUNK]

    def encode(self, images) -> tuple[np.ndarray, np.ndarray]:
        """Images (n, 28, 28) in [0, 1] -> (mean, logvar) of q(z | x), each (n, latent_dim)."""
        x = _as_images(images)
        means, logvars = [], []
        with nn.single_threaded(len(x) <= self.SMALL):
            for part in self._chunks(x):
                h = nn.forward(self.spec["encoder"], self.weights, part)
                means.append(nn.forward(self.spec["heads"][:1], self.weights, h))
                logvars.append(nn.forward(self.spec["heads"][1:], self.weights, h))
        if not means:
            empty = np.zeros((0, self.latent_dim), np.float32)
            return empty, empty.copy()
        return np.concatenate(means), np.concatenate(logvars)

    def decode_logits(self, z) -> np.ndarray:
        """Latent points (n, latent_dim) -> pixel logits (n, 784) of p(x | z)."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (n, {self.latent_dim}), got {z.shape}")
        with nn.single_threaded(len(z) <= self.SMALL):
            if len(z) <= self.CHUNK:  # the slider path: one small pass, no concatenation
                return nn.forward(self.spec["decoder"], self.weights, z).reshape(len(z), 784)
            return np.concatenate([nn.forward(self.spec["decoder"], self.weights, p)
                                   .reshape(len(p), 784) for p in self._chunks(z)])

    def decode(self, z) -> np.ndarray:
        """Latent points (n, latent_dim) -> images (n, 28, 28) float32 in [0, 1]."""
        return nn.sigmoid(self.decode_logits(z)).reshape(-1, 28, 28)

    def reconstruct(self, images) -> np.ndarray:
        """Decode the mean encoding of each image: (n, 28, 28) -> (n, 28, 28)."""
        return self.decode(self.encode(images)[0])

    def sample(self, n_samples: int, rng=None) -> np.ndarray:
        """Decode ``n_samples`` draws of z ~ N(0, I): images (n, 28, 28)."""
        rng = np.random.default_rng(rng)
        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        z = rng.standard_normal((int(n_samples), self.latent_dim)).astype(np.float32)
        return self.decode(z)

    def negative_elbo(self, images, n_samples: int = 1, rng=0) -> dict:
        """Mean negative ELBO in nats per digit: {"total", "recon", "kl"}, total = recon + kl.

        The reconstruction term E_q[-log p(x|z)] (Bernoulli cross-entropy summed over pixels)
        is estimated with ``n_samples`` draws of z per digit; the KL term is exact.
        """
        rng = np.random.default_rng(rng)
        x = _as_images(images).reshape(-1, 784)
        mean, logvar = self.encode(x.reshape(-1, 28, 28))
        kl = 0.5 * np.sum(mean ** 2 + np.exp(logvar) - 1.0 - logvar, axis=1, dtype=np.float64)
        recon = np.zeros(len(x))
        for _ in range(int(n_samples)):
            z = mean + np.exp(0.5 * logvar) * rng.standard_normal(mean.shape).astype(np.float32)
            logits = self.decode_logits(z).astype(np.float64)
            recon += np.sum(nn.softplus(logits) - x * logits, axis=1)
        recon /= int(n_samples)
        return {"total": float(np.mean(recon + kl)), "recon": float(np.mean(recon)),
                "kl": float(np.mean(kl))}

    def importance_weighted_bound(self, images, k: int = 50, rng=0) -> float:
        """Mean negative importance-weighted bound (Burda et al.) with ``k`` samples, in nats.

        Tighter than the negative ELBO as k grows (k = 1 is the ELBO estimate).
        """
        rng = np.random.default_rng(rng)
        x = _as_images(images).reshape(-1, 784).astype(np.float64)
        mean, logvar = (a.astype(np.float64) for a in self.encode(x.reshape(-1, 28, 28)))
        std = np.exp(0.5 * logvar)
        logw = np.empty((int(k), len(x)))
        for i in range(int(k)):
            eps = rng.standard_normal(mean.shape)
            z = mean + std * eps
            logits = self.decode_logits(z.astype(np.float32)).astype(np.float64)
            log_px = -np.sum(nn.softplus(logits) - x * logits, axis=1)
            log_pz = -0.5 * np.sum(z ** 2 + np.log(2 * np.pi), axis=1)
            log_qz = -0.5 * np.sum(eps ** 2 + np.log(2 * np.pi) + logvar, axis=1)
            logw[i] = log_px + log_pz - log_qz
        m = logw.max(axis=0)
        return float(-np.mean(m + np.log(np.mean(np.exp(logw - m), axis=0))))

    # -- files

    def to_bytes(self) -> bytes:
        """The weights as an ``.npz`` archive (no pickled objects)."""
        buf = io.BytesIO()
        np.savez_compressed(buf, **self.weights)
        return buf.getvalue()

    def save(self, path) -> Path:
        """Write ``path`` (.npz weights) and ``path.with_suffix('.json')`` atomically."""
        path = Path(path).expanduser()
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        data = self.to_bytes()
        manifest = {**self.manifest, "config": self.config,
                    "weights_sha256": hashlib.sha256(data).hexdigest()}
        _atomic_write(path, data)
        _atomic_write(path.with_suffix(".json"),
                      (json.dumps(manifest, indent=1) + "\n").encode())
        self.manifest, self.path = manifest, path
        return path


def _atomic_write(path: Path, data: bytes) -> None:
    from genlib.data import atomic_write  # the project's one temp-then-rename writer

    atomic_write(Path(path), data)


# ----------------------------------------------------------------------------- loading


def shipped_path(name: str = "tutorial") -> Path:
    """The shipped weights file for a name in :data:`SHIPPED`."""
    if name not in SHIPPED:
        raise ValueError(f"unknown VAE preset {name!r}; choose one of {', '.join(SHIPPED)}")
    return WEIGHTS_DIR / f"{SHIPPED[name]}.npz"


def user_weights_path(name: str = "tutorial") -> Path:
    """Where the page saves a user's retrained weights: the cache dir, never the shipped files."""
    from genlib.data import cache_dir

    shipped_path(name)  # validates the name
    return cache_dir() / "weights" / f"{SHIPPED[name]}.npz"


def _read(path: Path) -> VAE:
    path = Path(path).expanduser()
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    meta = path.with_suffix(".json")
    for p in (path, meta):
        if not p.is_file():
            raise ValueError(f"{p}: file not found")
    try:
        manifest = json.loads(meta.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
            raise ValueError("no model configuration in it")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{meta}: not a valid VAE manifest ({e})") from None
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from None
    sha = manifest.get("weights_sha256")
    if sha and hashlib.sha256(data).hexdigest() != sha:
        raise ValueError(f"{path}: the weights do not match their manifest (corrupt or replaced)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            weights = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable weights archive ({e})") from None
    try:
        model = VAE(manifest["config"], weights, manifest)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    model.path = path
    return model


def load_model(preset: str = "tutorial", path=None, fallback: bool = True) -> VAE:
    """Load a VAE: the shipped weights for ``preset`` or the file at ``path``.

    Parameters
    ----------
    preset : a name in :data:`SHIPPED` ("tutorial", "tutorial-small-kl", "conv")
    path : optional .npz (with its .json manifest beside it), e.g. a retrained model
    fallback : if ``path`` is missing or corrupt, load the shipped weights instead and
        explain why in ``model.warning``; with ``fallback=False`` raise ValueError.
    """
    shipped = shipped_path(preset)
    if path is None:
        return _read(shipped)
    try:
        return _read(Path(path))
    except ValueError as e:
        if not fallback:
            raise
        model = _read(shipped)
        model.warning = f"Could not load {e}. Using the shipped {preset!r} weights instead."
        return model


# ----------------------------------------------------------------------------- exploring


def class_means(mean: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The mean encoding of each digit class: (n, d), (n,) -> (10, d) (NaN for absent classes)."""
    mean, labels = np.asarray(mean), np.asarray(labels)
    out = np.full((10, mean.shape[1]), np.nan, np.float32)
    for k in range(10):
        if np.any(labels == k):
            out[k] = mean[labels == k].mean(axis=0)
    return out


def latent_grid(model: VAE, z, dims=(0, 1), n: int = 15, span: float = 3.0):
    """Decode an n x n grid over two latent dims, the other dims held at ``z``.

    Returns (images (n*n, 28, 28) row-major with dims[1] decreasing downwards,
    values (n,) along each axis).
    """
    i, j = (int(d) for d in dims)
    if i == j or not (0 <= i < model.latent_dim and 0 <= j < model.latent_dim):
        raise ValueError(f"choose two different dimensions in 0..{model.latent_dim - 1}")
    values = np.linspace(-span, span, int(n), dtype=np.float32)
    zz = np.tile(np.asarray(z, np.float32).reshape(1, -1), (int(n) ** 2, 1))
    gy, gx = np.meshgrid(values[::-1], values, indexing="ij")
    zz[:, i], zz[:, j] = gx.ravel(), gy.ravel()
    return model.decode(zz), values


def grid_cell(values, z, dims) -> tuple[int, int]:
    """(row, col) of the :func:`latent_grid` cell nearest to ``z`` (rows: dims[1] downwards)."""
    values = np.asarray(values)
    z = np.asarray(z, np.float32).ravel()
    col = int(np.argmin(np.abs(values - z[int(dims[0])])))
    row = int(np.argmin(np.abs(values[::-1] - z[int(dims[1])])))
    return row, col


def latent_grid_png(model: VAE, z, dims=(0, 1), n: int = 13, span: float = 3.0,
                    scale: int = 2, mark=(209, 73, 91), grid=None, cell=None) -> bytes:
    """:func:`latent_grid` as a PNG with the cell nearest to ``z`` outlined in ``mark`` (RGB).

    ``grid``: an (images, values) pair from :func:`latent_grid` to reuse (it does not depend
    on z along ``dims``, so moving one of those two sliders only moves the outline).
    ``cell``: the (row, col) to outline instead of the one nearest to ``z``.

    A palette PNG (255 grey levels and the mark's colour): one byte per pixel instead of
    three, so encoding takes about a third of the time of an RGB image.
    """
    from PIL import Image

    from genlib.images import tile, upscale

    images, values = grid if grid is not None else latent_grid(model, z, dims, n, span)
    pad = 2
    # grey level g in [0, 1] -> palette index 0..254 (index 255 is the mark)
    index = (np.clip(tile(images, n, pad=pad, pad_value=1.0), 0.0, 1.0) * 254.0 + 0.5
             ).astype(np.uint8)
    row, col = grid_cell(values, z, dims) if cell is None else cell
    top, left = row * (28 + pad), col * (28 + pad)
    y0, y1 = max(top - pad, 0), min(top + 28 + pad, index.shape[0])
    x0, x1 = max(left - pad, 0), min(left + 28 + pad, index.shape[1])
    inner = index[y0 + pad:y1 - pad, x0 + pad:x1 - pad].copy()
    index[y0:y1, x0:x1] = 255  # a frame in the padding around the cell
    index[y0 + pad:y1 - pad, x0 + pad:x1 - pad] = inner
    image = Image.fromarray(upscale(index, scale), mode="P")
    image.putpalette(_GRID_PALETTE + bytes(int(c) for c in mark))
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


_GRID_PALETTE = bytes(np.repeat(np.round(np.arange(255) * 255 / 254), 3).astype(np.uint8))


def interpolate(model: VAE, z_a, z_b, n_steps: int = 10) -> np.ndarray:
    """Decode ``n_steps`` points on the straight line from z_a to z_b: (n_steps, 28, 28)."""
    t = np.linspace(0.0, 1.0, int(n_steps), dtype=np.float32)[:, None]
    return model.decode((1 - t) * np.asarray(z_a, np.float32) + t * np.asarray(z_b, np.float32))


def spread_strip(values, lo: float = -3.0, hi: float = 3.0, width: int = 300,
                 height: int = 10) -> np.ndarray:
    """A (height, width) strip in [0, 1], darker where ``values`` are dense along [lo, hi]."""
    counts, _ = np.histogram(np.clip(values, lo, hi), bins=width, range=(lo, hi))
    kernel = np.exp(-0.5 * (np.arange(-12, 13) / 4.0) ** 2)
    density = np.convolve(counts, kernel, mode="same")
    density = density / density.max() if density.max() > 0 else density
    return np.tile(1.0 - 0.85 * density, (height, 1)).astype(np.float32)


# Chart specs: plain Vega-Lite dicts with inline data (Altair's schema validation costs
# ~0.5 s per chart per rerun here; a dict costs nothing and any Vega-Lite renderer takes it).

_CHART_CONFIG = {"axis": {"labelFontSize": 15, "titleFontSize": 17},
                 "legend": {"labelFontSize": 16, "titleFontSize": 16, "symbolStrokeWidth": 3}}


def scatter_chart(z: np.ndarray, labels: np.ndarray, dims=(0, 1),
                  height: int = 560) -> tuple[dict, dict]:
    """Vega-Lite scatter of latent points ``z`` (n, d) in two dims, coloured by digit class.

    Returns (spec without data, columns: numeric arrays, strings as lists): give the columns
    to the renderer as a table (Streamlit: ``st.vega_lite_chart(pyarrow.table(columns),
    spec)``); turning a list of per-point dicts into a table costs it ~5 ms for 2,000 points.
    """
    i, j = (int(k) for k in dims)
    z = np.asarray(z)
    columns = {"x": np.asarray(z[:, i], np.float32), "y": np.asarray(z[:, j], np.float32),
               "digit": [str(k) for k in np.asarray(labels).astype(int).tolist()]}
    axis = {"type": "quantitative", "scale": {"domain": [-4, 4]}}
    spec = {"height": height,
            "mark": {"type": "circle", "size": 45, "opacity": 0.75},
            "encoding": {"x": {"field": "x", "title": f"z{i + 1}", **axis},
                         "y": {"field": "y", "title": f"z{j + 1}", **axis},
                         "color": {"field": "digit", "type": "nominal", "title": "Digit",
                                   "scale": {"scheme": "category10"}},
                         "tooltip": [{"field": "digit", "type": "nominal"}]},
            "config": _CHART_CONFIG}
    return spec, columns


def scatter_spec(z: np.ndarray, labels: np.ndarray, dims=(0, 1), height: int = 560) -> dict:
    """:func:`scatter_chart` as one spec with its data inline (any Vega-Lite renderer)."""
    spec, columns = scatter_chart(z, labels, dims, height)
    return {"data": {"values": _records(columns, x=4, y=4)}, **spec}


def _records(columns: dict, **decimals) -> list[dict]:
    """Columns -> a list of per-row dicts of plain Python values (rounded where asked)."""
    names = list(columns)
    rows = zip(*(list(np.asarray(columns[k]).tolist()) for k in names))
    return [{k: round(v, decimals[k]) if k in decimals else v for k, v in zip(names, row)}
            for row in rows]


def history_chart(history: list[dict], height: int = 360) -> tuple[dict, dict]:
    """Vega-Lite lines of the per-epoch reconstruction and KL terms (held-out ones dashed).

    Returns (spec without data, columns), as :func:`scatter_chart`.
    """
    parts = {"recon": ("reconstruction", "training"), "kl": ("KL", "training"),
             "val_recon": ("reconstruction", "held-out"), "val_kl": ("KL", "held-out")}
    rows = [(row["epoch"], float(row[k]), term, split, k)
            for row in history for k, (term, split) in parts.items() if k in row]
    columns = {"epoch": np.array([r[0] for r in rows], np.int64),
               "nats": np.array([r[1] for r in rows], np.float64),
               **{name: [r[c] for r in rows] for c, name in enumerate(("term", "split", "series"),
                                                                      start=2)}}
    spec = {"height": height,
            "mark": {"type": "line", "strokeWidth": 3},
            "encoding": {"x": {"field": "epoch", "type": "quantitative"},
                         "y": {"field": "nats", "type": "quantitative",
                               "title": "nats per digit", "scale": {"type": "log"}},
                         "color": {"field": "term", "type": "nominal", "title": None,
                                   "scale": {"range": ["#d1495b", "#1f4e9c"]}},
                         "strokeDash": {"field": "split", "type": "nominal", "title": None,
                                        "sort": ["training", "held-out"]},
                         "detail": {"field": "series"}},
            "config": {**_CHART_CONFIG, "legend": {**_CHART_CONFIG["legend"],
                                                   "orient": "bottom", "symbolSize": 400}}}
    return spec, columns


def history_spec(history: list[dict], height: int = 360) -> dict:
    """:func:`history_chart` as one spec with its data inline."""
    spec, columns = history_chart(history, height)
    return {"data": {"values": _records(columns)}, **spec}


# ----------------------------------------------------------------------------- explorer


class _LRU:
    """A small thread-safe least-recently-used memo: ``get(key, make)``."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = int(size), OrderedDict(), threading.Lock()
        self.misses = 0

    def get(self, key, make):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            self.misses += 1
        value = make()  # outside the lock: two threads may both compute, both get a value
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def _frozen(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays[0] if len(arrays) == 1 else arrays


class Explorer:
    """What the latent-space explorer shows of one model on one dataset, each picture made once.

    Pure numpy and PIL. The page keeps one Explorer per (model, dataset) (Streamlit's
    cache_resource) and asks it for pictures by small keys: nothing is hashed or copied per
    rerun, and a slider move only computes what it changed. Shared between sessions, so
    every array it returns is read-only; the memos are bounded and thread-safe.

    Attributes (from the mean encodings of up to ``max_train`` training and ``max_test``
    held-out digits, a seeded subset)
    ----------
    model : the :class:`VAE`
    train_z, test_z : (n, latent_dim) mean encodings; test_labels : (n,) their classes
    means : (10, latent_dim) class means of the training encodings
    order : dims by the variance of the training encodings, largest first
    active, unused : dims whose variance is above / at most 0.01 (Burda et al.'s "active
        units"); ``active`` is ``order`` if none is
    outside : share of training digits encoded outside the sliders' +/-3 box
    strips : one :func:`spread_strip` PNG per dim
    """

    GRID_N = 11

    def __init__(self, model: VAE, data, max_train: int = 10_000, max_test: int = 2_000):
        from genlib.images import tile, to_png

        self._tile, self._png = tile, to_png
        self.model, self.data = model, data
        rng = np.random.default_rng(0)
        tr = np.sort(rng.permutation(len(data.train))[:max_train])
        te = np.sort(rng.permutation(len(data.test))[:max_test])
        self.train_z = _frozen(model.encode(data.train.images[tr])[0])
        self.test_z = _frozen(model.encode(data.test.images[te])[0])
        self.test_labels = _frozen(np.array(data.test.labels[te]))
        self.means = _frozen(class_means(self.train_z, data.train.labels[tr]))
        activity = self.train_z.var(axis=0)
        self.order = [int(i) for i in np.argsort(-activity, kind="stable")]
        self.active = [i for i in self.order if activity[i] > 0.01] or list(self.order)
        self.unused = [i for i in self.order if i not in self.active]
        self.outside = float(np.mean(np.any(np.abs(self.train_z) > 3, axis=1)))
        self.strips = [to_png(spread_strip(self.train_z[:, i])) for i in range(model.latent_dim)]
        self._grids, self._grid_pngs = _LRU(4), _LRU(32)
        self._pictures, self._extras = _LRU(32), _LRU(32)

    # -- the latent grid

    @property
    def grid_decodes(self) -> int:
        """How many grids were decoded so far (each costs 121 decoder passes)."""
        return self._grids.misses

    def grid(self, dims, z) -> tuple[np.ndarray, np.ndarray]:
        """:func:`latent_grid` (n = 11) over ``dims``, the other dims at ``z``.

        The grid does not depend on z along ``dims``: moving one of those two sliders
        reuses it.
        """
        dims, rest = self._grid_key(dims, z)
        return self._grids.get((dims, rest), lambda: _frozen(*latent_grid(
            self.model, np.array(rest, np.float32), dims, n=self.GRID_N)))

    def grid_png(self, dims, z, scale: int = 2) -> bytes:
        """:func:`latent_grid_png` of :meth:`grid` with the cell nearest to ``z`` outlined.

        A move along the grid's own dims within a cell costs nothing; to another cell, one
        PNG encoding and no decoding.
        """
        dims, rest = self._grid_key(dims, z)
        images, values = self.grid(dims, z)
        cell = grid_cell(values, z, dims)
        return self._grid_pngs.get((dims, rest, cell, scale), lambda: latent_grid_png(
            self.model, z, dims, n=self.GRID_N, scale=scale, grid=(images, values), cell=cell))

    def _grid_key(self, dims, z) -> tuple[tuple[int, int], tuple]:
        i, j = (int(k) for k in dims)
        z = np.asarray(z, np.float32).ravel()
        if z.shape != (self.model.latent_dim,):
            raise ValueError(f"z must have {self.model.latent_dim} values, got {z.shape}")
        rest = z.copy()
        rest[[i, j]] = 0
        return (i, j), tuple(rest.tolist())

    # -- the other pictures (PNG bytes, seeded: the same inputs give the same picture)

    def samples(self, seed: int) -> tuple[np.ndarray, bytes]:
        """100 draws from the prior with ``seed`` and their 10 x 10 grid PNG (scale 3)."""
        def make():
            x = _frozen(self.model.sample(100, rng=seed))
            return x, self._png(self._tile(x, 10), scale=3)
        return self._pictures.get(("samples", int(seed)), make)

    def held_out_digits(self, seed: int) -> list[int]:
        """Indices of one seeded held-out digit per class, 0 to 9."""
        def make():
            rng, labels, idx = np.random.default_rng(seed), self.data.test.labels, []
            for k in range(10):
                if not np.any(labels == k):
                    raise ValueError(f"the held-out digits have no {k}s")
                idx.append(int(rng.choice(np.flatnonzero(labels == k))))
            return tuple(idx)
        return list(self._pictures.get(("held_out", int(seed)), make))

    def reconstructions_png(self, seed: int) -> bytes:
        """:meth:`held_out_digits` (top row) over their reconstructions (bottom), scale 4."""
        def make():
            x = self.data.test.images[self.held_out_digits(seed)]
            return self._png(self._tile(np.concatenate([x, self.model.reconstruct(x)]), 10),
                             scale=4)
        return self._pictures.get(("reconstructions", int(seed)), make)

    def interpolation_png(self, start: int, end: int, endpoints: str = "class means",
                          seed: int = 0, steps: int = 12) -> bytes:
        """:func:`interpolate` from class ``start`` to ``end`` as a strip PNG (scale 4).

        ``endpoints``: "class means", or anything else for the two classes' digits in
        :meth:`held_out_digits` (``seed``).
        """
        means = endpoints == "class means"

        def make():
            if means:
                za, zb = self.means[start], self.means[end]
            else:
                idx = self.held_out_digits(seed)
                za, zb = self.model.encode(self.data.test.images[[idx[start], idx[end]]])[0]
            return self._png(self._tile(interpolate(self.model, za, zb, steps), steps), scale=4)
        key = ("interpolation", int(start), int(end), means, None if means else int(seed), steps)
        return self._pictures.get(key, make)

    def your_digit(self, key, data: bytes) -> tuple[np.ndarray, np.ndarray, bytes]:
        """An uploaded image (``key`` names it, e.g. its upload id) as MNIST: the 28 x 28
        digit, its mean encoding, and the PNG of it over its reconstruction (scale 4).
        Raises ValueError (a message for a user) for a file that is not a usable image."""
        def make():
            from genlib.digit_upload import prepare_digit

            digit = prepare_digit(data)
            mean = self.model.encode(digit)[0][0]
            pair = np.stack([digit, self.model.decode(mean)[0]])
            return _frozen(digit), _frozen(mean), self._png(self._tile(pair, 1), scale=4)
        return self._pictures.get(("upload", key), make)

    # -- charts and files

    def scatter_chart(self, dims) -> tuple[dict, dict]:
        """:func:`scatter_chart` of the held-out encodings in ``dims``."""
        i, j = (int(k) for k in dims)
        return self._pictures.get(("scatter", i, j), lambda: scatter_chart(
            self.test_z, self.test_labels, (i, j)))

    def history_chart(self) -> tuple[dict, dict]:
        """:func:`history_chart` of the model's training history."""
        return self._pictures.get(("history",), lambda: history_chart(self.model.history))

    def weights_file(self) -> bytes:
        """The model's weights file as it is on disk (for a download button)."""
        return self._pictures.get(("weights",), lambda: Path(self.model.path).read_bytes())

    def memo(self, key, make):
        """Keep anything else derived from this model and dataset (e.g. a UI's conversion of
        a chart's columns): ``make()`` runs once per ``key`` (32 kept)."""
        return self._extras.get(key, make)


# ----------------------------------------------------------------------------- training


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def _keras_stack(spec, x):
    keras = _keras()
    L = keras.layers
    for layer in spec:
        kind, name = layer["type"], layer.get("name")
        if kind == "flatten":
            x = L.Flatten()(x)
        elif kind == "reshape":
            x = L.Reshape(tuple(layer["shape"]))(x)
        elif kind == "dense":
            x = L.Dense(layer["units"], activation=layer["activation"], name=name)(x)
        elif kind == "conv":
            x = L.Conv2D(layer["filters"], layer["kernel"], strides=layer["strides"],
                         padding="same", activation=layer["activation"], name=name)(x)
        elif kind == "conv_transpose":
            x = L.Conv2DTranspose(layer["filters"], layer["kernel"], strides=layer["strides"],
                                  padding="same", activation=layer["activation"], name=name)(x)
        else:
            raise ValueError(f"unknown layer type {kind!r}")
    return x


def build_keras(config: dict):
    """Keras models for a config: (encoder: x -> [mean, logvar], decoder: z -> logits (n, 784)).

    The decoder outputs logits so the loss is a stable sigmoid cross-entropy; the image is
    ``sigmoid(logits)``, as in the tutorial's Dense(784, sigmoid).
    """
    keras = _keras()
    config = _check_config(config)
    spec = architecture(config["kind"], config["latent_dim"], config["hidden"])
    x_in = keras.Input((28, 28), name="image")
    h = _keras_stack(spec["encoder"], x_in)
    mean = _keras_stack(spec["heads"][:1], h)
    logvar = _keras_stack(spec["heads"][1:], h)
    encoder = keras.Model(x_in, [mean, logvar], name="encoder")
    z_in = keras.Input((config["latent_dim"],), name="z")
    logits = keras.layers.Flatten()(_keras_stack(spec["decoder"], z_in))
    decoder = keras.Model(z_in, logits, name="decoder")
    return encoder, decoder


def keras_weights(encoder, decoder, config: dict) -> dict:
    """The Keras models' weights as the numpy dict a :class:`VAE` uses."""
    spec = architecture(config["kind"], config["latent_dim"], config["hidden"])
    out = {}
    for part, model in (("encoder", encoder), ("heads", encoder), ("decoder", decoder)):
        for layer in spec[part]:
            if "name" in layer:
                k, b = model.get_layer(layer["name"]).get_weights()
                out[layer["name"] + "/kernel"], out[layer["name"] + "/bias"] = k, b
    return out


def _digits(data):
    """(train images, test images or None, source) from an MNIST, a Digits or an array."""
    if hasattr(data, "train") and hasattr(data, "test"):
        return data.train.images, data.test.images, getattr(data, "source", "")
    if hasattr(data, "images"):
        return data.images, None, ""
    return _as_images(data), None, ""


def resolve_beta(beta) -> float:
    """A KL weight from a number or the word "tutorial" (:data:`TUTORIAL_BETA`)."""
    if isinstance(beta, str) and beta.strip().lower() in ("tutorial", "small", "tiny"):
        return TUTORIAL_BETA
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a number or 'tutorial', got {beta!r}") from None
    if not 0 <= beta <= 100 or not np.isfinite(beta):
        raise ValueError(f"beta must lie in [0, 100], got {beta}")
    return beta


def train(data, preset: str = "tutorial", epochs: int | None = None,
          latent_dim: int | None = None, beta=None, seed: int = 0, callback=None,
          max_steps: int | None = None, eval_samples: int = 5) -> VAE:
    """Train a VAE with Keras under ``tf.function``; return it as a numpy :class:`VAE`.

    Parameters
    ----------
    data : an :class:`~genlib.data.MNIST` (trains on ``.train``, reports the held-out
        ELBO on ``.test``), a :class:`~genlib.data.Digits`, or images (n, 28, 28)
    preset : "tutorial" or "conv" (see :data:`PRESETS`)
    epochs, latent_dim, beta : override the preset (beta may be "tutorial")
    callback : called after every step with a dict: epoch, epochs, step, steps (per epoch),
        recon, kl, beta, loss (running means over the epoch; loss = recon + beta * kl).
        Return False to stop early (the model trained so far is returned).
    max_steps : stop after this many optimisation steps in total (for quick tests)
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown VAE preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = dict(PRESETS[preset])
    if latent_dim is not None:
        config["latent_dim"] = int(latent_dim)
    if beta is not None:
        config["beta"] = resolve_beta(beta)
    epochs = int(config.pop("epochs") if epochs is None else epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    config = _check_config(config)
    x_train, x_test, source = _digits(data)
    x_train = np.ascontiguousarray(_as_images(x_train))
    if len(x_train) < config["batch_size"]:
        raise ValueError(f"need at least {config['batch_size']} training digits, "
                         f"got {len(x_train)}")

    keras = _keras()
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    encoder, decoder = build_keras(config)
    opt_cls = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}
    optimizer = opt_cls[config["optimizer"]](learning_rate=config["learning_rate"])
    variables = encoder.trainable_variables + decoder.trainable_variables
    beta_t = tf.constant(config["beta"], tf.float32)

    def terms(x, eps, training):
        mean, logvar = encoder(x, training=training)
        z = mean + tf.exp(0.5 * logvar) * eps
        logits = decoder(z, training=training)
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.reshape(x, (-1, 784)),
                                                      logits=logits)
        recon = tf.reduce_mean(tf.reduce_sum(bce, axis=1))
        kl = tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(logvar) - 1.0 - logvar,
                                                axis=1))
        return recon, kl

    bs, n, d = config["batch_size"], len(x_train), config["latent_dim"]
    image_sig = tf.TensorSpec((None, bs, 28, 28), tf.float32)
    eps_sig = tf.TensorSpec((None, bs, d), tf.float32)

    # Several steps per call: the Python round trip per step would cost more than the step.
    # autograph=False with an explicit while_loop: AutoGraph re-reads this file's source at
    # trace time and gives up if the file changed since import (e.g. an upgrade under a
    # running server).
    @tf.function(input_signature=[image_sig, eps_sig], autograph=False)
    def train_steps(xs, eps):
        def body(i, sums):
            with tf.GradientTape() as tape:
                recon, kl = terms(xs[i], eps[i], True)
                loss = recon + beta_t * kl
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return i + 1, sums + tf.stack([recon, kl])

        _, sums = tf.while_loop(lambda i, _: i < tf.shape(xs)[0], body,
                                (tf.constant(0), tf.zeros(2)))
        return sums

    @tf.function(reduce_retracing=True, autograph=False)
    def eval_step(x, eps):
        return terms(x, eps, False)

    rng = np.random.default_rng(seed)
    steps = n // bs
    chunk = max(1, min(steps, 10))
    budget = steps * epochs if max_steps is None else min(int(max_steps), steps * epochs)
    history, done, stopped = [], 0, False
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)[:steps * bs].reshape(steps, bs)
        eps_all = rng.standard_normal((steps, bs, d)).astype(np.float32)
        sums = np.zeros(2)
        step = 0
        while step < steps and done < budget and not stopped:
            c = min(chunk, steps - step, budget - done)
            xs = x_train[order[step:step + c]]
            sums += train_steps(tf.constant(xs), tf.constant(eps_all[step:step + c])).numpy()
            step += c
            done += c
            r, k = sums / step
            if callback is not None and callback({
                    "epoch": epoch, "epochs": epochs, "step": step, "steps": steps,
                    "recon": r, "kl": k, "beta": config["beta"],
                    "loss": r + config["beta"] * k}) is False:
                stopped = True
        r, k = sums / max(step, 1)
        row = {"epoch": epoch, "loss": r + config["beta"] * k, "recon": r, "kl": k}
        if x_test is not None and len(x_test):
            erng = np.random.default_rng(seed + 1)
            vals = np.zeros(2)
            for i in range(0, len(x_test), 500):
                xb = np.ascontiguousarray(x_test[i:i + 500])
                eps = erng.standard_normal((len(xb), d)).astype(np.float32)
                vals += np.array([float(v) for v in eval_step(tf.constant(xb),
                                                                 tf.constant(eps))]) * len(xb)
            vr, vk = vals / len(x_test)
            row.update(val_recon=vr, val_kl=vk, val_loss=vr + vk)
        history.append(row)
        if stopped or done >= budget:
            break
    seconds = time.perf_counter() - t0

    manifest = {
        "preset": preset, "data_source": source, "epochs": len(history),
        "steps": done, "seed": int(seed), "beta": config["beta"],
        "train_digits": int(n), "seconds": round(seconds, 2),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "stopped_early": bool(stopped), "history": history,
    }
    model = VAE(config, keras_weights(encoder, decoder, config), manifest)
    if x_test is not None and len(x_test):
        elbo = model.negative_elbo(x_test, n_samples=eval_samples, rng=seed)
        model.manifest.update(test_negative_elbo=round(elbo["total"], 3),
                              test_recon=round(elbo["recon"], 3), test_kl=round(elbo["kl"], 3),
                              test_digits=int(len(x_test)))
    return model


# ----------------------------------------------------------------------------- CLI


def cli(argv: list[str]) -> None:
    """``python -m genlib.train vae --preset tutorial [--epochs N] [--output PATH] ...``"""
    ap = argparse.ArgumentParser(prog="python -m genlib.train vae",
                                 description="Train a VAE preset and save .npz weights + "
                                             ".json manifest (atomically).")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tutorial")
    ap.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    ap.add_argument("--latent-dim", type=int, default=None,
                    help=f"latent size {LATENT_RANGE[0]}..{LATENT_RANGE[1]} (default: preset's)")
    ap.add_argument("--beta", default=None,
                    help=f"KL weight, a number or 'tutorial' (= {TUTORIAL_BETA:g}); default 1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source", default="sample",
                    help="MNIST source: sample, keras, auto or a file path (default: sample)")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after N steps (tests)")
    ap.add_argument("--output", default=None,
                    help="weights .npz path (default: the shipped genlib/weights/vae_<preset>.npz)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    from genlib.data import load_mnist

    mnist = load_mnist(args.source)
    output = Path(args.output) if args.output else shipped_path(args.preset)
    last = {"epoch": 0}

    def report(p):
        if not args.quiet and p["step"] == p["steps"] and p["epoch"] != last["epoch"]:
            last["epoch"] = p["epoch"]
            print(f"epoch {p['epoch']:3d}/{p['epochs']}  loss {p['loss']:8.3f} = "
                  f"recon {p['recon']:8.3f} + {p['beta']:g} x KL {p['kl']:7.3f}", flush=True)

    model = train(mnist, preset=args.preset, epochs=args.epochs, latent_dim=args.latent_dim,
                  beta=args.beta, seed=args.seed, callback=report, max_steps=args.max_steps)
    path = model.save(output)
    elbo = model.manifest.get("test_negative_elbo")
    print(f"saved {path} (+ .json): {model.describe()}, {model.manifest['epochs']} epochs in "
          f"{model.manifest['seconds']:.1f} s" + (f", held-out -ELBO {elbo:.2f} nats"
                                                   if elbo is not None else ""))
