"""A GAN that trains live: a generator and a discriminator playing their game, step by step.

Two presets, both described as JSON-friendly layer specs (the ``genlib.nn`` format), so the
same description builds the Keras models that train and the numpy forward pass that shows a
saved generator without TensorFlow:

- ``"mlp"``: G: z -> dense 256 (LeakyReLU) -> dense 784 (sigmoid or tanh);
  D: 784 -> dense 256 (LeakyReLU) -> 1 logit. Lively on a laptop CPU.
- ``"dcgan"``: G: z -> dense 7x7x128 -> conv-transpose 64 (14x14) -> conv-transpose 1 (28x28);
  D: conv 32 (14x14) -> conv 64 (7x7) -> 1 logit. Slower, sharper digits.

:class:`GANTrainer` (Keras 3 on TensorFlow, imported when a trainer is made) runs a chunk of
steps per ``tf.function`` call (XLA-compiled). :class:`GANCheckpoint` is the numpy-only view of
a saved generator. Checkpoints are an ``.npz`` (no pickle) and a JSON manifest, written
atomically. Importing this module never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np

__all__ = [
    "PRESETS",
    "LOSSES",
    "GANTrainer",
    "GANCheckpoint",
    "load_checkpoint",
    "shipped_checkpoint_path",
    "user_checkpoint_path",
    "validate_settings",
    "NearestMeanJudge",
    "digit_shares",
    "rare_digits",
    "metrics_csv",
    "history_gif",
    "cli",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FORMAT = "genlab-gan"
FORMAT_VERSION = 1
N_FIXED = 64  # the 8 x 8 fixed-noise grid
CHUNK = 32  # steps per compiled call: amortises Python overhead, keeps a call under ~0.1 s
HISTORY_POINTS = 2000  # metric rows kept (older ones are averaged pairwise)
MAX_FRAMES = 40  # fixed-noise grids kept for the history scrubber
LEAK = 0.2
LOSSES = ("non-saturating", "least-squares")
OUTPUTS = ("sigmoid", "tanh")
METRICS = ("d_loss", "g_loss", "d_real", "d_fake")

PRESETS = {
    # tanh output and one-sided label smoothing: on 4,000 digits a plain sigmoid MLP GAN
    # collapsed onto 3s and 8s (smallest digit share 0.1% after 17k steps). Packing pairs
    # (PacGAN) lifted the rarest digit (a 1) from 3.4% to 4.6-5.9% at 30-35k steps.
    "mlp": {"lr_g": 2e-4, "lr_d": 2e-4, "batch_size": 64, "latent_dim": 64, "d_steps": 1,
            "loss": "non-saturating", "label_smoothing": 0.1, "output": "tanh", "pack": 2},
    "dcgan": {"lr_g": 2e-4, "lr_d": 2e-4, "batch_size": 64, "latent_dim": 64, "d_steps": 1,
              "loss": "non-saturating", "label_smoothing": 0.0, "output": "sigmoid",
              "pack": 1},
}
# name -> (low, high) for numbers, a tuple of choices for strings
RANGES = {
    "lr_g": (1e-5, 1e-2),
    "lr_d": (1e-5, 1e-2),
    "batch_size": (8, 512),
    "latent_dim": (2, 256),
    "d_steps": (1, 10),
    "label_smoothing": (0.0, 0.5),
    "loss": LOSSES,
    "output": OUTPUTS,
    "pack": (1, 4),
}
INTS = ("batch_size", "latent_dim", "d_steps", "pack")
ARCHITECTURE = ("latent_dim", "output", "pack")  # fixed once the networks exist: at reset


# ----------------------------------------------------------------------------- settings


def validate_settings(preset: str = "mlp", **settings) -> dict:
    """The preset's defaults updated by ``settings``, checked; raises ValueError if out of range."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    unknown = set(settings) - set(RANGES)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(RANGES)}")
    out = dict(PRESETS[preset])
    for name, value in settings.items():
        allowed = RANGES[name]
        if isinstance(allowed[0], str):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
            out[name] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if name in INTS and float(value) != int(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        lo, hi = allowed
        if not (lo <= value <= hi):
            raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
        out[name] = int(value) if name in INTS else float(value)
    if out["batch_size"] % out["pack"]:
        raise ValueError(f"batch_size ({out['batch_size']}) must be a multiple of pack "
                         f"({out['pack']}): D judges packs of {out['pack']} images")
    if out["pack"] > 1 and preset != "mlp":
        raise ValueError("pack > 1 (PacGAN) is available for the mlp preset only")
    return out


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
            0 <= seed < 2**31):
        raise ValueError(f"seed must be a whole number from 0 to {2**31 - 1}, got {seed!r}")
    return int(seed)


def parse_query(params: dict) -> tuple[str, int, list[str]]:
    """(preset, seed, problems) from a page link's query parameters ``preset`` and ``seed``.

    Missing values take the defaults ("mlp", 0); bad ones too, each described in ``problems``
    (the page shows them), so a hand-edited link never breaks the page.
    """
    preset, seed, problems = "mlp", 0, []
    raw = params.get("preset")
    if raw is not None:
        if raw in PRESETS:
            preset = raw
        else:
            problems.append(f"preset {raw!r} is not one of {', '.join(PRESETS)}")
    raw = params.get("seed")
    if raw is not None:
        try:
            seed = _check_seed(int(str(raw).strip()))
        except ValueError:
            problems.append(f"seed {raw!r} is not a whole number from 0 to {2**31 - 1}")
    return preset, seed, problems


def architecture(preset: str, latent_dim: int, output: str) -> tuple[list, list]:
    """Layer specs (genlib.nn format) of the generator and the discriminator."""
    if preset == "mlp":
        g = [{"type": "dense", "name": "g_hidden", "units": 256, "activation": "leaky_relu"},
             {"type": "dense", "name": "g_out", "units": 784, "activation": output}]
        d = [{"type": "dense", "name": "d_hidden", "units": 256, "activation": "leaky_relu"},
             {"type": "dense", "name": "d_out", "units": 1, "activation": "linear"}]
    elif preset == "dcgan":
        g = [{"type": "dense", "name": "g_fc", "units": 7 * 7 * 128, "activation": "leaky_relu"},
             {"type": "reshape", "shape": [7, 7, 128]},
             {"type": "conv_transpose", "name": "g_up", "filters": 64, "kernel": 4,
              "strides": 2, "activation": "leaky_relu"},
             {"type": "conv_transpose", "name": "g_out", "filters": 1, "kernel": 4,
              "strides": 2, "activation": output},
             {"type": "flatten"}]
        d = [{"type": "reshape", "shape": [28, 28, 1]},
             {"type": "conv", "name": "d_c1", "filters": 32, "kernel": 4, "strides": 2,
              "activation": "leaky_relu"},
             {"type": "conv", "name": "d_c2", "filters": 64, "kernel": 4, "strides": 2,
              "activation": "leaky_relu"},
             {"type": "flatten"},
             {"type": "dense", "name": "d_out", "units": 1, "activation": "linear"}]
    else:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return g, d


def _to_unit(x, output: str) -> np.ndarray:
    """Generator output -> float32 images (n, 28, 28) in [0, 1]."""
    x = np.asarray(x, dtype=np.float32).reshape(-1, 28, 28)
    if output == "tanh":
        x = (x + 1.0) * 0.5
    return np.clip(x, 0.0, 1.0)


# ----------------------------------------------------------------------------- numpy forward


def forward_numpy(spec: list, weights: dict, x) -> np.ndarray:
    """Run ``x`` through ``spec`` with numpy: the project's shared :func:`genlib.nn.forward`."""
    from genlib import nn

    return nn.forward(spec, weights, x)


# ----------------------------------------------------------------------------- bounded history


class _History:
    """Per-step metrics in bounded memory: when full, neighbouring rows are averaged in pairs
    and later rows average twice as many steps, so a long run keeps its whole shape."""

    def __init__(self, capacity: int = HISTORY_POINTS):
        self.capacity = capacity
        self.rows = np.zeros((0, 1 + len(METRICS)), np.float64)  # step, metrics...
        self.stride = 1
        self._acc = self.rows  # steps not yet averaged into a row (fewer than stride)

    def add(self, steps: np.ndarray, values: np.ndarray) -> None:
        data = np.vstack([self._acc, np.column_stack([steps, values]).astype(np.float64)])
        n = len(data) // self.stride * self.stride
        groups = data[:n].reshape(-1, self.stride, data.shape[1])
        new = groups.mean(axis=1)
        new[:, 0] = groups[:, -1, 0]  # a row is labelled by its last step
        self._acc = data[n:]
        self.rows = np.vstack([self.rows, new])
        while len(self.rows) >= self.capacity:
            m = len(self.rows) // 2 * 2
            pairs = self.rows[:m].reshape(-1, 2, self.rows.shape[1])
            merged = pairs.mean(axis=1)
            merged[:, 0] = pairs[:, 1, 0]
            self.rows = np.vstack([merged, self.rows[m:]])
            self.stride *= 2

    def as_dict(self) -> dict:
        return {"step": self.rows[:, 0].astype(np.int64),
                **{m: self.rows[:, i + 1].astype(np.float32) for i, m in enumerate(METRICS)}}

    @classmethod
    def from_dict(cls, d: dict, capacity: int = HISTORY_POINTS) -> "_History":
        h = cls(capacity)
        if len(d.get("step", ())):
            h.rows = np.column_stack([np.asarray(d["step"], np.float64)]
                                     + [np.asarray(d[m], np.float64) for m in METRICS])
            h.rows = h.rows[-capacity + 1:]
        return h


class _Frames:
    """Fixed-noise grids (uint8) taken every ``every`` steps, at most ``capacity`` of them:
    when full every other one is dropped and the interval doubles (even spacing, bounded)."""

    def __init__(self, capacity: int = MAX_FRAMES, every: int = 25):
        self.capacity, self.every = capacity, every
        self.steps: list[int] = []
        self.images: list[np.ndarray] = []

    def due(self, step: int) -> bool:
        return not self.steps or step - self.steps[-1] >= self.every

    def add(self, step: int, images: np.ndarray) -> None:
        self.steps.append(int(step))
        self.images.append((np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8))
        if len(self.steps) > self.capacity:
            self.steps, self.images = self.steps[::2], self.images[::2]
            self.every *= 2


# ----------------------------------------------------------------------------- checkpoints


def shipped_checkpoint_path(preset: str) -> Path:
    """The pretrained GAN shipped with GenLab (trained on the embedded 5,000-digit sample)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return WEIGHTS_DIR / f"gan_{preset}.npz"


def user_checkpoint_path(preset: str, kind: str) -> Path:
    """Where ``genlib.train gan`` saves a GAN trained on another dataset kind."""
    from genlib.data import cache_dir

    return cache_dir() / "weights" / f"gan_{preset}_{kind}.npz"


def _atomic_write(path: Path, data: bytes) -> None:
    from genlib.data import atomic_write  # the project's one temp-then-rename writer

    atomic_write(Path(path), data)


def _checkpoint_bytes(manifest: dict, weights: dict, history: dict, frames: _Frames,
                      fixed_z: np.ndarray) -> tuple[bytes, bytes]:
    arrays = {f"w/{k}": np.asarray(v, np.float32) for k, v in weights.items()}
    arrays.update({f"history/{k}": v for k, v in history.items()})
    arrays["frames/steps"] = np.asarray(frames.steps, np.int64)
    arrays["frames/images"] = (np.stack(frames.images) if frames.images
                               else np.zeros((0, N_FIXED, 28, 28), np.uint8))
    arrays["fixed_z"] = np.asarray(fixed_z, np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    manifest = {**manifest, "frames_every": frames.every,
                "sha256": hashlib.sha256(data).hexdigest()}
    return data, (json.dumps(manifest, indent=2) + "\n").encode("utf-8")


def _read_checkpoint(path) -> tuple[dict, dict]:
    """(manifest, arrays) of a checkpoint; ValueError naming the file if anything is wrong."""
    path = Path(path)
    mpath = path.with_suffix(".json")
    if not path.exists() or not mpath.exists():
        raise ValueError(f"{path}: no GAN checkpoint here (need {path.name} and {mpath.name}); "
                         "train one with `python -m genlib.train gan`")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{mpath}: not a readable JSON manifest ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{mpath}: not a GenLab GAN manifest")
    data = path.read_bytes()
    if manifest.get("sha256") and manifest["sha256"] != hashlib.sha256(data).hexdigest():
        raise ValueError(f"{path}: the weights do not match their manifest (SHA-256 differs)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable GAN weights file ({e})") from e
    if isinstance(manifest.get("settings"), dict):  # saved before packing existed
        manifest["settings"].setdefault("pack", 1)
    return manifest, arrays


class _Sampler:
    """decode and sample, shared by the checkpoint (numpy) and the trainer (TensorFlow):
    each provides ``settings`` and ``_generate(z)``, the generator's raw output (n, 784)."""

    def decode(self, z) -> np.ndarray:
        """Images (n, 28, 28) float32 in [0, 1] for latent codes ``z`` (n, latent_dim)."""
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.settings["latent_dim"]:
            raise ValueError(f"z must have shape (n, {self.settings['latent_dim']}), got {z.shape}")
        out = [self._generate(z[i:i + 256]) for i in range(0, len(z), 256)]
        return _to_unit(np.concatenate(out) if out else np.zeros((0, 784)),
                        self.settings["output"])

    def sample(self, n: int, rng=None) -> np.ndarray:
        """``n`` new digits, float32 (n, 28, 28) in [0, 1]."""
        rng = np.random.default_rng(rng)
        return self.decode(rng.standard_normal((int(n), self.settings["latent_dim"]),
                                               dtype=np.float32))


class GANCheckpoint(_Sampler):
    """A saved GAN, read with numpy only: sample digits and show its training history.

    Attributes
    ----------
    preset, settings, seed, step, manifest
    generator_spec : layer specs of the generator (genlib.nn format)
    """

    def __init__(self, manifest: dict, arrays: dict):
        self.manifest = manifest
        self.preset = manifest["preset"]
        self.settings = validate_settings(self.preset, **manifest["settings"])
        self.seed = int(manifest["seed"])
        self.step = int(manifest["step"])
        self.generator_spec, self.discriminator_spec = architecture(
            self.preset, self.settings["latent_dim"], self.settings["output"])
        self.weights = {k[2:]: v for k, v in arrays.items() if k.startswith("w/")}
        self.history = {k.split("/", 1)[1]: v for k, v in arrays.items()
                        if k.startswith("history/")}
        self.frames = _Frames(every=int(manifest.get("frames_every", 25)))
        self.frames.steps = [int(s) for s in arrays.get("frames/steps", [])]
        self.frames.images = list(arrays.get("frames/images", []))
        self.fixed_z = arrays["fixed_z"]
        try:
            self.decode(self.fixed_z[:1])
        except (KeyError, ValueError) as e:
            raise ValueError(f"the checkpoint's weights do not fit its preset ({e})") from e

    def _generate(self, z: np.ndarray) -> np.ndarray:
        g = {k[2:]: v for k, v in self.weights.items() if k.startswith("g/")}
        return forward_numpy(self.generator_spec, g, z)

    def snapshot(self) -> dict:
        """The same numpy-only state as :meth:`GANTrainer.snapshot`."""
        return {"step": self.step, "history": {k: v.copy() for k, v in self.history.items()},
                "fixed": self.decode(self.fixed_z),
                "frames": (list(self.frames.steps), list(self.frames.images))}


def load_checkpoint(path) -> GANCheckpoint:
    """Read a GAN checkpoint (``.npz`` + ``.json``) without TensorFlow."""
    manifest, arrays = _read_checkpoint(path)
    try:
        return GANCheckpoint(manifest, arrays)
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: incomplete GAN checkpoint ({e})") from e
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e


# ----------------------------------------------------------------------------- Keras trainer


def _keras_model(spec: list, input_dim: int, seed: int, name: str):
    import keras

    layers = [keras.Input((input_dim,))]
    for i, layer in enumerate(spec):
        kind = layer["type"]
        init = {"kernel_initializer": keras.initializers.GlorotUniform(seed=seed * 101 + i)}
        if kind == "flatten":
            layers.append(keras.layers.Flatten())
            continue
        if kind == "reshape":
            layers.append(keras.layers.Reshape(tuple(layer["shape"])))
            continue
        if kind == "dense":
            layers.append(keras.layers.Dense(layer["units"], name=layer["name"], **init))
        elif kind == "conv":
            layers.append(keras.layers.Conv2D(layer["filters"], layer["kernel"], layer["strides"],
                                              padding="same", name=layer["name"], **init))
        elif kind == "conv_transpose":
            layers.append(keras.layers.Conv2DTranspose(
                layer["filters"], layer["kernel"], layer["strides"], padding="same",
                name=layer["name"], **init))
        act = layer.get("activation")
        if act == "leaky_relu":
            layers.append(keras.layers.LeakyReLU(negative_slope=LEAK))
        elif act in ("sigmoid", "tanh"):
            layers.append(keras.layers.Activation(act))
    return keras.Sequential(layers, name=name)


class GANTrainer(_Sampler):
    """Train a GAN on MNIST a few steps at a time, and watch it.

    Parameters
    ----------
    preset : "mlp" or "dcgan"
    seed : int, fixes the initial weights, the fixed noise and the batch/noise stream
    images : float array (n, 28, 28) in [0, 1], the training digits (default: the
        training split of ``load_mnist("auto")``)
    jit : compile the train step with XLA; default: for "mlp" only (20-40% faster after a
        1-5 s compile), since XLA's CPU convolutions are far slower than TensorFlow's
    **settings : lr_g, lr_d, batch_size, latent_dim, d_steps, loss, label_smoothing,
        output (see ``RANGES``); ``latent_dim`` and ``output`` are fixed once built.

    One step is ``d_steps`` discriminator updates then one generator update, each on a
    fresh batch. Metrics per step: D loss, G loss, mean D(x) on real digits and mean
    D(G(z)) on fakes (sigmoid of the logit for the non-saturating loss, the raw score for
    least squares, where 0/1 targets also put the equilibrium at 0.5).
    """

    def __init__(self, preset: str = "mlp", seed: int = 0, images=None, jit: bool | None = None,
                 **settings):
        self.preset = preset
        self.seed = _check_seed(seed)
        self.settings = validate_settings(preset, **settings)
        # XLA speeds the dense preset up; on CPU it makes the convolutions ~100x slower
        self.jit = (preset == "mlp") if jit is None else bool(jit)
        if images is None:
            from genlib.data import load_mnist

            images = load_mnist().train.images
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) < 2:
            raise ValueError(f"images must have shape (n, 28, 28) with n >= 2, got {images.shape}")
        self.n_images = len(images)
        self.step = 0
        self.history = _History()
        self.frames = _Frames()
        latent = self.settings["latent_dim"]
        self.fixed_z = np.random.default_rng(self.seed).standard_normal(
            (N_FIXED, latent), dtype=np.float32)
        self.generator_spec, self.discriminator_spec = architecture(
            preset, latent, self.settings["output"])
        self._build(images)

    # -- construction

    def _build(self, images: np.ndarray) -> None:
        import keras
        import tensorflow as tf

        self._tf = tf
        latent = self.settings["latent_dim"]
        self.G = _keras_model(self.generator_spec, latent, self.seed, "generator")
        # D sees ``pack`` images side by side as one input (PacGAN: a generator that keeps
        # drawing the same digit makes packs that look unlike real ones)
        self.D = _keras_model(self.discriminator_spec, 784 * self.settings["pack"],
                              self.seed + 7919, "discriminator")
        # uint8 on the device: full MNIST is 47 MB per session instead of 188 MB
        self._data = tf.constant((np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8)
                                 .reshape(len(images), 784))
        self._rng = tf.random.Generator.from_seed(self.seed)
        self._d_steps = tf.Variable(self.settings["d_steps"], dtype=tf.int32, trainable=False)
        self._ls = tf.Variable(0.0, dtype=tf.float32, trainable=False)  # 1.0: least squares
        self._smooth = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self.opt_g = keras.optimizers.Adam(learning_rate=self.settings["lr_g"], beta_1=0.5)
        self.opt_d = keras.optimizers.Adam(learning_rate=self.settings["lr_d"], beta_1=0.5)
        self.opt_g.build(self.G.trainable_variables)
        self.opt_d.build(self.D.trainable_variables)
        self._chunk_fns: dict = {}
        self._warm: set = set()
        self._decode_fn = tf.function(lambda z: self.G(z, training=False), input_signature=[
            tf.TensorSpec([None, latent], tf.float32)])
        self.set(**{k: v for k, v in self.settings.items() if k not in ARCHITECTURE})

    def set(self, **settings) -> None:
        """Change settings while training (all but latent_dim and output, fixed at build)."""
        fixed = [k for k in settings if k in ARCHITECTURE and settings[k] != self.settings[k]]
        if fixed:
            raise ValueError(f"{', '.join(fixed)} can only change at reset (build a new trainer)")
        new = validate_settings(self.preset, **{**self.settings, **settings})
        self.settings = new
        self.opt_g.learning_rate = new["lr_g"]  # a variable inside Keras: no retracing
        self.opt_d.learning_rate = new["lr_d"]
        self._d_steps.assign(new["d_steps"])
        self._ls.assign(1.0 if new["loss"] == "least-squares" else 0.0)
        self._smooth.assign(new["label_smoothing"])

    def _chunk_fn(self, batch: int):
        """A compiled function running up to CHUNK steps at this batch size (one per size)."""
        if batch in self._chunk_fns:
            return self._chunk_fns[batch]
        tf = self._tf
        G, data, rng = self.G, self._data, self._rng
        latent = self.settings["latent_dim"]
        packed = 784 * self.settings["pack"]

        def D(x, training):  # one logit per pack of images
            return self.D(tf.reshape(x, [-1, packed]), training=training)

        tanh = self.settings["output"] == "tanh"
        n_data = self.n_images

        def real_batch():
            idx = rng.uniform([batch], 0, n_data, dtype=tf.int32)
            x = tf.cast(tf.gather(data, idx), tf.float32) / 255.0
            return x * 2.0 - 1.0 if tanh else x

        def d_losses(real_out, fake_out):
            target = 1.0 - self._smooth
            ns = (tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                tf.fill(tf.shape(real_out), target), real_out))
                + tf.reduce_mean(tf.nn.softplus(fake_out)))
            ls = 0.5 * (tf.reduce_mean(tf.square(real_out - target))
                        + tf.reduce_mean(tf.square(fake_out)))
            return (1.0 - self._ls) * ns + self._ls * ls

        def g_loss_of(fake_out):
            ns = tf.reduce_mean(tf.nn.softplus(-fake_out))  # non-saturating: -log D(G(z))
            ls = 0.5 * tf.reduce_mean(tf.square(fake_out - 1.0))
            return (1.0 - self._ls) * ns + self._ls * ls

        def score(out):  # "D's belief that it is real", for the charts
            return tf.reduce_mean((1.0 - self._ls) * tf.sigmoid(out) + self._ls * out)

        @tf.function(jit_compile=self.jit)
        def run(n):
            out = tf.zeros([CHUNK, len(METRICS)])
            i = tf.constant(0)
            while i < n:  # autograph: an XLA while loop (tf.range needs a constant bound)
                d_loss = tf.constant(0.0)
                d_real = tf.constant(0.0)
                j = tf.constant(0)
                while j < self._d_steps:
                    j += 1
                    x = real_batch()
                    z = rng.normal([batch, latent])
                    with tf.GradientTape() as tape:
                        real_out = D(x, training=True)
                        fake_out = D(G(z, training=True), training=True)
                        d_loss = d_losses(real_out, fake_out)
                    grads = tape.gradient(d_loss, self.D.trainable_variables)
                    self.opt_d.apply_gradients(zip(grads, self.D.trainable_variables))
                    d_real = score(real_out)
                z = rng.normal([batch, latent])
                with tf.GradientTape() as tape:
                    fake_out = D(G(z, training=True), training=True)
                    g_loss = g_loss_of(fake_out)
                grads = tape.gradient(g_loss, G.trainable_variables)
                self.opt_g.apply_gradients(zip(grads, G.trainable_variables))
                row = tf.stack([d_loss, g_loss, d_real, score(fake_out)])
                out = tf.tensor_scatter_nd_update(out, [[i]], [row])
                i += 1
            return out

        self._chunk_fns[batch] = run
        return run

    # -- training

    def warm_up(self) -> "GANTrainer":
        """Trace and compile the train step now (a run of zero steps), so the first
        ``train`` call is as fast as the rest."""
        fn = self._chunk_fn(self.settings["batch_size"])
        fn(self._tf.constant(0, self._tf.int32))
        self._warm.add(fn)
        return self

    def train(self, steps: int) -> dict:
        """Run ``steps`` steps; return their metrics: step, d_loss, g_loss, d_real, d_fake."""
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
        fn = self._chunk_fn(self.settings["batch_size"])
        rows = []
        left = int(steps)
        while left > 0:
            k = min(left, CHUNK)
            rows.append(fn(self._tf.constant(k, self._tf.int32)).numpy()[:k])
            left -= k
        return self._record(rows)

    def train_for(self, seconds: float, max_steps: int | None = None) -> dict:
        """Train for about ``seconds`` of wall time (at least one step); return the metrics."""
        fn = self._chunk_fn(self.settings["batch_size"])
        t0 = time.perf_counter()
        rows, done, rate = [], 0, None
        while True:
            elapsed = time.perf_counter() - t0
            if done and elapsed >= seconds:
                break
            k = CHUNK if rate is None else int(np.clip((seconds - elapsed) * rate, 1, CHUNK))
            if max_steps is not None:
                k = min(k, max_steps - done)
            if k <= 0:
                break
            t1 = time.perf_counter()
            rows.append(fn(self._tf.constant(k, self._tf.int32)).numpy()[:k])
            if fn in self._warm:  # a first call includes tracing and compiling
                rate = k / max(time.perf_counter() - t1, 1e-6)
            self._warm.add(fn)
            done += k
        return self._record(rows)

    def _record(self, rows: list) -> dict:
        values = np.concatenate(rows) if rows else np.zeros((0, len(METRICS)), np.float32)
        steps = np.arange(self.step + 1, self.step + 1 + len(values), dtype=np.int64)
        self.step += len(values)
        if len(values) and not np.all(np.isfinite(values)):
            bad = steps[~np.all(np.isfinite(values), axis=1)][0]
            self.history.add(steps, values)
            raise ValueError(f"training diverged at step {bad} (a loss became NaN or infinite); "
                             "lower the learning rates and reset")
        self.history.add(steps, values)
        if len(values) and self.frames.due(self.step):
            self.frames.add(self.step, self.decode(self.fixed_z))
        return {"step": steps, **{m: values[:, i] for i, m in enumerate(METRICS)}}

    # -- looking

    def _generate(self, z: np.ndarray) -> np.ndarray:
        return self._decode_fn(self._tf.constant(z)).numpy()

    def snapshot(self) -> dict:
        """Numpy-only state for display.

        Returns
        -------
        dict with ``step``; ``history``: dict of arrays (step, d_loss, g_loss, d_real,
        d_fake), bounded to ``HISTORY_POINTS`` rows; ``fixed``: float32 (64, 28, 28), the
        generator on the fixed noise now; ``frames``: (steps, uint8 grids) for the scrubber.
        """
        return {"step": self.step, "history": self.history.as_dict(),
                "fixed": self.decode(self.fixed_z),
                "frames": (list(self.frames.steps), list(self.frames.images))}

    def weights(self) -> dict:
        """All weights as float32 numpy arrays, ``g/<layer>/kernel`` ... ``d/<layer>/bias``."""
        out = {}
        for prefix, model in (("g", self.G), ("d", self.D)):
            for layer in model.layers:
                for var, kind in zip(layer.weights, ("kernel", "bias")):
                    out[f"{prefix}/{layer.name}/{kind}"] = np.asarray(var.numpy(), np.float32)
        return out

    def _set_weights(self, weights: dict) -> None:
        for prefix, model in (("g", self.G), ("d", self.D)):
            for layer in model.layers:
                for var, kind in zip(layer.weights, ("kernel", "bias")):
                    key = f"{prefix}/{layer.name}/{kind}"
                    if key not in weights or tuple(weights[key].shape) != tuple(var.shape):
                        raise ValueError(f"weights for {key} are missing or have the wrong shape")
                    var.assign(weights[key])

    # -- saving

    def manifest(self, **extra) -> dict:
        return {"format": FORMAT, "version": FORMAT_VERSION, "preset": self.preset,
                "seed": self.seed, "step": self.step, "settings": dict(self.settings),
                "n_train": self.n_images, **extra}

    def checkpoint_bytes(self, **extra) -> tuple[bytes, bytes]:
        """(npz bytes, manifest JSON bytes) of the current state: what :meth:`save` writes."""
        return _checkpoint_bytes(self.manifest(**extra), self.weights(), self.history.as_dict(),
                                 self.frames, self.fixed_z)

    def save(self, path, **extra) -> Path:
        """Write ``path`` (.npz, no pickle) and ``path`` with ``.json`` (manifest), atomically."""
        path = Path(path)
        data, manifest = self.checkpoint_bytes(**extra)
        _atomic_write(path, data)
        _atomic_write(path.with_suffix(".json"), manifest)
        return path

    def to_checkpoint(self) -> GANCheckpoint:
        """A numpy-only copy of the current generator (no TensorFlow needed to use it)."""
        data, manifest = self.checkpoint_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            return GANCheckpoint(json.loads(manifest), {k: f[k] for k in f.files})

    @classmethod
    def load(cls, path, images=None, jit: bool | None = None, **settings) -> "GANTrainer":
        """A trainer that continues from a checkpoint (Adam's moments restart at zero).

        ``settings`` override the saved ones, except latent_dim and output.
        """
        manifest, arrays = _read_checkpoint(path)
        saved = dict(manifest.get("settings", {}))
        try:
            trainer = cls(manifest["preset"], manifest["seed"], images=images, jit=jit,
                          **{**saved, **settings, **{k: saved[k] for k in ARCHITECTURE}})
            trainer._set_weights({k[2:]: v for k, v in arrays.items() if k.startswith("w/")})
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: incomplete GAN checkpoint ({e})") from e
        trainer.step = int(manifest["step"])
        trainer.fixed_z = arrays["fixed_z"]
        hist = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("history/")}
        trainer.history = _History.from_dict(hist)
        trainer.frames = _Frames(every=int(manifest.get("frames_every", 25)))
        trainer.frames.steps = [int(s) for s in arrays.get("frames/steps", [])]
        trainer.frames.images = list(arrays.get("frames/images", []))
        # continue the batch/noise stream elsewhere than where the checkpoint's run started
        trainer._rng.reset_from_seed(trainer.seed * 1_000_003 + trainer.step)
        return trainer


# ----------------------------------------------------------------------------- evaluation


class NearestMeanJudge:
    """Label digits by the nearest class mean (a fallback when the judge CNN is missing)."""

    def fit(self, images, labels) -> "NearestMeanJudge":
        x = np.asarray(images, np.float32).reshape(len(images), -1)
        labels = np.asarray(labels)
        classes = np.unique(labels)
        self.classes_ = classes
        self.means_ = np.stack([x[labels == k].mean(axis=0) for k in classes])
        return self

    def predict(self, images) -> np.ndarray:
        if not hasattr(self, "means_"):
            raise ValueError("fit the judge before predicting")
        x = np.asarray(images, np.float32).reshape(len(images), -1)
        d = (x**2).sum(1)[:, None] - 2 * x @ self.means_.T + (self.means_**2).sum(1)[None]
        return self.classes_[d.argmin(axis=1)].astype(np.int64)


def load_judge(images=None, labels=None):
    """(judge, name): the shipped CNN judge if available, else nearest class mean on the data."""
    try:
        from genlib.classifier import load_classifier

        return load_classifier(), "the judge CNN"
    except (ImportError, ValueError):
        if images is None:
            from genlib.data import load_mnist

            d = load_mnist("sample").train
            images, labels = d.images, d.labels
        return NearestMeanJudge().fit(images, labels), "nearest class mean"


def digit_shares(labels, n_classes: int = 10) -> np.ndarray:
    """Share of each digit among predicted labels, float64 (10,), summing to 1."""
    labels = np.asarray(labels, np.int64)
    if labels.size == 0:
        raise ValueError("no labels to count")
    return np.bincount(labels, minlength=n_classes)[:n_classes] / labels.size


def rare_digits(shares, threshold: float = 0.04) -> list[int]:
    """Digits whose share is under ``threshold`` (a sign of mode collapse)."""
    return [int(k) for k in np.flatnonzero(np.asarray(shares) < threshold)]


# ----------------------------------------------------------------------------- charts
# Vega-Lite specs as plain dicts: the page redraws them while training runs on the same 2 cores
# as the browser. Building them through Altair (what st.line_chart does) validated a JSON schema
# on every redraw. Drawn on a canvas instead of as SVG, a redraw of the two line charts costs
# Chromium ~20% less CPU (and ~5,000 fewer DOM nodes); 150 points a line instead of 300, another
# ~25% less (41% together).
CANVAS = {"embedOptions": {"renderer": "canvas"}}


def history_chart(history: dict, series: dict, y_title: str, rule: float | None = None,
                  height: int = 220, max_points: int = 150) -> dict:
    """Lines of ``history[key]`` against step, one per ``series`` {key: (label, colour)},
    thinned to at most ``max_points`` points; a dashed grey ``rule`` if given."""
    steps = np.asarray(history["step"])
    stride = max(1, -(-len(steps) // max_points))  # ceil: never more than max_points
    values = [{"step": int(st), "series": label, "value": float(v)}
              for key, (label, _) in series.items()
              for st, v in zip(steps[::stride], np.asarray(history[key])[::stride])]
    labels = [label for label, _ in series.values()]
    colours = [colour for _, colour in series.values()]
    layers = [{"mark": {"type": "line", "strokeWidth": 1.5}, "encoding": {
        "x": {"field": "step", "type": "quantitative", "title": "step"},
        "y": {"field": "value", "type": "quantitative", "title": y_title},
        "color": {"field": "series", "type": "nominal", "title": None,
                  "scale": {"domain": labels, "range": colours},
                  "legend": {"orient": "bottom"}}}}]
    if rule is not None:
        layers.append({"mark": {"type": "rule", "color": "#888888", "strokeDash": [6, 4]},
                       "encoding": {"y": {"datum": rule}}})
    return {"data": {"values": values}, "height": height, "layer": layers, "usermeta": CANVAS}


def shares_chart(shares, threshold: float = 0.04, height: int = 200) -> dict:
    """Bars of each digit's share, digits under ``threshold`` in red, the threshold dashed."""
    values = [{"digit": str(k), "share": float(v), "rare": bool(v < threshold)}
              for k, v in enumerate(np.asarray(shares))]
    return {"data": {"values": values}, "height": height, "usermeta": CANVAS, "layer": [
        {"mark": {"type": "bar"}, "encoding": {
            "x": {"field": "digit", "type": "ordinal", "title": "digit",
                  "axis": {"labelAngle": 0}},
            "y": {"field": "share", "type": "quantitative", "title": "share",
                  "axis": {"format": "%"}},
            "color": {"field": "rare", "type": "nominal", "legend": None,
                      "scale": {"domain": [False, True], "range": ["#1f4e9c", "#d62728"]}},
            "tooltip": [{"field": "digit"}, {"field": "share", "format": ".1%"}]}},
        {"mark": {"type": "rule", "color": "#888888", "strokeDash": [6, 4]},
         "encoding": {"y": {"datum": threshold}}}]}


# ----------------------------------------------------------------------------- exports


def metrics_csv(history: dict) -> str:
    """The metric history as CSV text (header: step,d_loss,g_loss,d_real,d_fake)."""
    cols = ["step", *METRICS]
    lines = [",".join(cols)]
    n = len(history.get("step", ()))
    for i in range(n):
        lines.append(",".join([str(int(history["step"][i]))]
                              + [f"{float(history[m][i]):.6g}" for m in METRICS]))
    return "\n".join(lines) + "\n"


def history_gif(frames: tuple[list, list], scale: int = 3, ms: int = 300) -> bytes:
    """The fixed-noise grids over training as an animated GIF (8 x 8 digits per frame)."""
    from PIL import Image

    from genlib.images import tile, upscale

    steps, images = frames
    if not images:
        raise ValueError("no history frames yet: train for a few steps first")
    pics = [Image.fromarray(upscale((tile(np.asarray(im, np.float32) / 255.0, 8) * 255 + 0.5)
                                    .astype(np.uint8), scale), mode="L") for im in images]
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=ms,
                 loop=0)
    return buf.getvalue()


# ----------------------------------------------------------------------------- CLI


def cli(argv: list[str]) -> None:
    """``python -m genlib.train gan [--preset mlp] [--minutes M | --steps N] [...]``."""
    from genlib.data import load_mnist

    p = argparse.ArgumentParser(prog="python -m genlib.train gan",
                                description="Train the GAN of the live-training page and save a "
                                            "checkpoint (.npz + .json).")
    p.add_argument("--preset", choices=list(PRESETS), default="mlp")
    p.add_argument("--source", default="sample",
                   help="sample (default), keras, auto, or a path to an MNIST file")
    p.add_argument("--minutes", type=float, default=5.0, help="wall-clock training time")
    p.add_argument("--steps", type=int, default=None, help="train this many steps instead")
    p.add_argument("--seed", type=int, default=0)
    for name in RANGES:
        kind = str if name in ("loss", "output") else int if name in INTS else float
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=None)
    p.add_argument("--out", default=None, help="checkpoint path (.npz); default: "
                   "genlib/weights/gan_<preset>.npz for the sample, else the user cache")
    args = p.parse_args(argv)
    settings = {k: getattr(args, k) for k in RANGES if getattr(args, k) is not None}
    mnist = load_mnist(args.source)
    out = Path(args.out) if args.out else (
        shipped_checkpoint_path(args.preset) if mnist.kind == "sample"
        else user_checkpoint_path(args.preset, mnist.kind))
    trainer = GANTrainer(args.preset, args.seed, images=mnist.train.images, **settings)
    print(f"training the {args.preset} GAN on {len(mnist.train):,} digits of {mnist.source}")
    t0 = time.perf_counter()
    deadline = t0 + args.minutes * 60
    while True:
        if args.steps is not None:
            left = args.steps - trainer.step
            if left <= 0:
                break
            m = trainer.train(min(left, 500))
        else:
            if time.perf_counter() >= deadline:
                break
            m = trainer.train_for(min(5.0, max(deadline - time.perf_counter(), 0.01)))
        if len(m["step"]):
            print(f"step {trainer.step:>7}  D loss {m['d_loss'].mean():.3f}  "
                  f"G loss {m['g_loss'].mean():.3f}  D(x) {m['d_real'].mean():.2f}  "
                  f"D(G(z)) {m['d_fake'].mean():.2f}", flush=True)
    seconds = time.perf_counter() - t0
    judge, judge_name = load_judge(mnist.train.images, mnist.train.labels)
    shares = digit_shares(judge.predict(trainer.sample(1000, rng=args.seed)))
    trainer.save(out, data_source=mnist.source, data_kind=mnist.kind,
                 train_seconds=round(seconds, 1), steps_per_second=round(trainer.step / seconds),
                 digit_shares=[round(float(s), 4) for s in shares], judge=judge_name,
                 date=_dt.date.today().isoformat())
    print(f"{trainer.step:,} steps in {seconds:.0f} s; smallest digit share "
          f"{shares.min():.1%} ({judge_name}); saved {out}")


if __name__ == "__main__":  # pragma: no cover
    import sys

    cli(sys.argv[1:])
