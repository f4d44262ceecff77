"""Variational autoencoders on MNIST: the numpy model (Keras trains it, in :mod:`genlib.vae_train`).

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

A trained model is a :class:`VAE`: plain numpy weights whose ``encode``/``decode`` are numpy
forward passes (:mod:`genlib.nn`), so nothing here imports TensorFlow. It follows the model
protocol (:mod:`genlib`): ``sample(n_samples, rng=None) -> Samples``, ``save(path)``,
``VAE.load(path)``, ``VAE.load_pretrained(preset)``; checkpoints are :mod:`genlib.checkpoints`
files of family ``"vae"``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genlib import checkpoints, nn
from genlib.protocol import Samples, check_n_samples
from genlib.vae_prior import PRIOR_KEYS, StandardNormal, gaussian_log_prob, prior_from_weights

__all__ = [
    "PRESETS", "SHIPPED", "TUTORIAL_BETA", "LATENT_RANGE", "VAE", "architecture", "load_model",
    "shipped_path", "user_weights_path", "latent_grid", "grid_cell", "interpolate",
    "class_means",
]

FAMILY = "vae"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TUTORIAL_BETA = 1e-3  # the tutorials' "tiny" KL weight, relative to the summed-BCE term
LATENT_RANGE = (2, 16)

PRESETS = {
    "tutorial": {"kind": "dense", "latent_dim": 4, "hidden": 128, "optimizer": "rmsprop",
                 "learning_rate": 1e-3, "batch_size": 100, "epochs": 50, "beta": 1.0},
    "conv": {"kind": "conv", "latent_dim": 16, "hidden": 128, "optimizer": "adam",
             "learning_rate": 1e-3, "batch_size": 100, "epochs": 60, "beta": 1.0},
    # the best the family does here (trained by genlib.vae_best_train): a wider decoder, a
    # learned mixture prior inside the ELBO, KL warm-up, 1-pixel shifts of the training
    # digits, early stopping on a validation split of the training digits
    "conv_best": {"kind": "conv_wide", "latent_dim": 16, "hidden": 256, "optimizer": "adam",
                  "learning_rate": 1e-3, "batch_size": 100, "epochs": 400, "beta": 1.0,
                  "prior": "mixture", "prior_components": 32, "warmup_epochs": 10,
                  "shift": 1, "val_fraction": 0.1, "patience": 40},
}

# Shipped weights (genlib/weights/<file>.npz + .json), by the name a user picks.
SHIPPED = {
    "tutorial": "vae_tutorial",
    "tutorial-small-kl": "vae_tutorial_small_kl",
    "conv": "vae_conv",
    "conv_best": "vae_conv_best",
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
    elif kind in ("conv", "conv_wide"):
        trunk = [
            {"type": "reshape", "shape": [28, 28, 1]},
            {"type": "conv", "name": "enc_conv1", "filters": 32, "kernel": 3, "strides": 2,
             "activation": "relu"},
            {"type": "conv", "name": "enc_conv2", "filters": 64, "kernel": 3, "strides": 2,
             "activation": "relu"},
            {"type": "flatten"},
            {"type": "dense", "name": "enc_hidden", "units": hidden, "activation": "relu"},
        ]
        if kind == "conv_wide":  # twice the channels, and a last 3 x 3 convolution at 28 x 28
            decoder = [
                {"type": "dense", "name": "dec_hidden", "units": hidden, "activation": "relu"},
                {"type": "dense", "name": "dec_project", "units": 7 * 7 * 64,
                 "activation": "relu"},
                {"type": "reshape", "shape": [7, 7, 64]},
                {"type": "conv_transpose", "name": "dec_up1", "filters": 64, "kernel": 4,
                 "strides": 2, "activation": "relu"},
                {"type": "conv_transpose", "name": "dec_up2", "filters": 32, "kernel": 4,
                 "strides": 2, "activation": "relu"},
                {"type": "conv", "name": "logits", "filters": 1, "kernel": 3, "strides": 1,
                 "activation": None},
            ]
        else:
            decoder = [
                {"type": "dense", "name": "dec_hidden", "units": hidden, "activation": "relu"},
                {"type": "dense", "name": "dec_project", "units": 7 * 7 * 32,
                 "activation": "relu"},
                {"type": "reshape", "shape": [7, 7, 32]},
                {"type": "conv_transpose", "name": "dec_up1", "filters": 32, "kernel": 4,
                 "strides": 2, "activation": "relu"},
                {"type": "conv_transpose", "name": "logits", "filters": 1, "kernel": 4,
                 "strides": 2, "activation": None},
            ]
    else:
        raise ValueError(f"unknown VAE kind {kind!r}; use 'dense', 'conv' or 'conv_wide'")
    heads = [{"type": "dense", "name": "z_mean", "units": latent_dim, "activation": None},
             {"type": "dense", "name": "z_log_var", "units": latent_dim, "activation": None}]
    return {"encoder": trunk, "heads": heads, "decoder": decoder}


def _check_config(config: dict) -> dict:
    try:
        kind, d, hidden = config["kind"], int(config["latent_dim"]), int(config["hidden"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"the model configuration is incomplete ({e})") from None
    if kind not in ("dense", "conv", "conv_wide"):
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
    manifest : dict, what training recorded (:func:`genlib.vae_train.train`: family, preset,
        data source and kind, epochs, seed, train_seconds, held-out negative ELBO, date,
        per-epoch history)
    weights : dict of float32 arrays named "<layer>/kernel", "<layer>/bias"
    warning : str or None, set when :func:`load_model` fell back to the shipped weights
    path : the .npz it was loaded from or saved to (None for a model only in memory)
    """

    CHUNK = 512  # digits per forward pass: bounds memory for the conv layers
    SMALL = 256  # up to this many digits, BLAS runs single-threaded (see nn.single_threaded)

    def __init__(self, config: dict, weights: dict, manifest: dict | None = None):
        self.config = _check_config(config)
        self.latent_dim = self.config["latent_dim"]
        self.spec = architecture(self.config["kind"], self.latent_dim, self.config["hidden"])
        names = {layer["name"] for part in self.spec.values() for layer in part if "name" in layer}
        wanted = {f"{n}/{p}" for n in names for p in ("kernel", "bias")}
        if self.config.get("prior", "standard") == "mixture":
            wanted |= set(PRIOR_KEYS)
        missing = wanted - set(weights)
        if missing:
            raise ValueError(f"weights missing for {', '.join(sorted(missing)[:4])}")
        self.weights = {k: np.asarray(weights[k], dtype=np.float32) for k in sorted(wanted)}
        for k, v in self.weights.items():
            v.flags.writeable = False
            if not np.all(np.isfinite(v)):
                raise ValueError(f"weights {k} contain NaN or infinite values")
        # p(z): N(0, I), or the mixture learned inside the ELBO (genlib.vae_prior)
        self.prior = prior_from_weights(self.config, self.weights)
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
        kind = {"conv_wide": "wide convolutional"}.get(self.config["kind"], kind)
        beta = "" if self.beta == 1 else f", KL weight {self.beta:g}"
        prior = "" if self.learned_prior is None else f", {self.prior.name} prior"
        return f"{kind} VAE, {self.latent_dim}-D latent{beta}{prior}"

    @property
    def learned_prior(self):
        """The prior learned inside the ELBO (a mixture), or None when p(z) is N(0, I)."""
        return None if isinstance(self.prior, StandardNormal) else self.prior

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

    def sample_latent(self, n_samples: int, rng=None, prior: str = "model") -> np.ndarray:
        """``n_samples`` draws of z (n, latent_dim) float32 from the model's own prior
        (``prior="model"``: the learned mixture if it has one) or from N(0, I) ("standard")."""
        if prior not in ("model", "standard"):
            raise ValueError(f"prior must be 'model' or 'standard', got {prior!r}")
        n = check_n_samples(n_samples)
        if prior == "standard":
            return StandardNormal(self.latent_dim).sample(n, rng)
        return self.prior.sample(n, rng)

    def sample(self, n_samples: int, rng=None, prior: str = "model") -> Samples:
        """Decode ``n_samples`` draws of z from the prior (see :meth:`sample_latent`):
        ``Samples(images (n, 28, 28), None)``."""
        z = self.sample_latent(n_samples, np.random.default_rng(rng), prior)
        return Samples(self.decode(z), None)  # decode is float32 in [0, 1] already

    def negative_elbo(self, images, n_samples: int = 1, rng=0) -> dict:
        """Mean negative ELBO in nats per digit: {"total", "recon", "kl"}, total = recon + kl.

        The reconstruction term E_q[-log p(x|z)] (Bernoulli cross-entropy summed over pixels)
        is estimated with ``n_samples`` draws of z per digit; the KL term is exact for the
        N(0, I) prior, and estimated from the same draws, E_q[log q(z|x) - log p(z)], for a
        learned mixture prior (it has no closed form).
        """
        rng = np.random.default_rng(rng)
        x = _as_images(images).reshape(-1, 784)
        mean, logvar = self.encode(x.reshape(-1, 28, 28))
        exact = self.learned_prior is None
        kl = (0.5 * np.sum(mean ** 2 + np.exp(logvar) - 1.0 - logvar, axis=1, dtype=np.float64)
              if exact else np.zeros(len(x)))
        recon = np.zeros(len(x))
        for _ in range(int(n_samples)):
            z = mean + np.exp(0.5 * logvar) * rng.standard_normal(mean.shape).astype(np.float32)
            logits = self.decode_logits(z).astype(np.float64)
            recon += np.sum(nn.softplus(logits) - x * logits, axis=1)
            if not exact:
                kl += gaussian_log_prob(z, mean, logvar) - self.prior.log_prob(z)
        recon /= int(n_samples)
        if not exact:
            kl /= int(n_samples)
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
            log_pz = self.prior.log_prob(z)
            log_qz = -0.5 * np.sum(eps ** 2 + np.log(2 * np.pi) + logvar, axis=1)
            logw[i] = log_px + log_pz - log_qz
        m = logw.max(axis=0)
        return float(-np.mean(m + np.log(np.mean(np.exp(logw - m), axis=0))))

    # -- files

    def save(self, path) -> Path:
        """Write ``path`` (.npz weights) and its .json manifest, atomically (:mod:`checkpoints
        <genlib.checkpoints>`); the manifest gets the family, the config and the sha256."""
        path = Path(path).expanduser()
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        manifest = {k: v for k, v in self.manifest.items() if k not in ("sha256", "weights_sha256")}
        manifest = {"family": FAMILY, **manifest, "config": self.config}
        self.manifest = checkpoints.write(path, self.weights, manifest)
        self.path = path
        return path

    @classmethod
    def load(cls, path) -> VAE:
        """The VAE saved at ``path`` (.npz + .json), its hash checked.

        Raises ValueError naming the file: missing, damaged (hash mismatch), unreadable, not a
        VAE, or weights that do not fit the recorded architecture.
        """
        path = Path(path).expanduser()
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        manifest, weights = checkpoints.read(path, FAMILY)
        if not isinstance(manifest.get("config"), dict):
            raise ValueError(f"{checkpoints.manifest_path(path)}: not a valid VAE manifest "
                             "(no model configuration in it)")
        try:
            model = cls(manifest["config"], weights, manifest)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        model.path = path
        return model

    @classmethod
    def load_pretrained(cls, preset: str = "tutorial") -> VAE:
        """The shipped weights of ``preset`` (a name in :data:`SHIPPED`)."""
        return cls.load(shipped_path(preset))


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


def load_model(preset: str = "tutorial", path=None, fallback: bool = True) -> VAE:
    """Load a VAE: the shipped weights for ``preset`` or the file at ``path``.

    Parameters
    ----------
    preset : a name in :data:`SHIPPED` ("tutorial", "tutorial-small-kl", "conv")
    path : optional .npz (with its .json manifest beside it), e.g. a retrained model
    fallback : if ``path`` is missing or damaged, load the shipped weights instead and
        explain why in ``model.warning``; with ``fallback=False`` raise ValueError.
        (Damaged shipped weights always raise: there is nothing to fall back to.)
    """
    shipped = shipped_path(preset)
    if path is None:
        return VAE.load(shipped)
    try:
        return VAE.load(path)
    except ValueError as e:
        if not fallback:
            raise
        model = VAE.load(shipped)
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


def interpolate(model: VAE, z_a, z_b, n_steps: int = 10) -> np.ndarray:
    """Decode ``n_steps`` points on the straight line from z_a to z_b: (n_steps, 28, 28)."""
    t = np.linspace(0.0, 1.0, int(n_steps), dtype=np.float32)[:, None]
    return model.decode((1 - t) * np.asarray(z_a, np.float32) + t * np.asarray(z_b, np.float32))
