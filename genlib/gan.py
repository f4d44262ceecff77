"""A GAN's generator read from a checkpoint, with numpy only: presets, architecture, loading.

Two presets, both described as JSON-friendly layer specs (the :mod:`genlib.nn` format), so the
same description builds the Keras models that train (:mod:`genlib.gan_train`) and the numpy
forward pass that shows a saved generator without TensorFlow:

- ``"mlp"``: G: z -> dense 256 (LeakyReLU) -> dense 784 (sigmoid or tanh);
  D: 784 -> dense 256 (LeakyReLU) -> 1 logit. Lively on a laptop CPU.
- ``"dcgan"``: G: z -> dense 7x7x128 -> conv-transpose 64 (14x14) -> conv-transpose 1 (28x28);
  D: conv 32 (14x14) -> conv 64 (7x7) -> 1 logit. Slower, sharper digits.

:class:`GAN` is a saved generator (``GAN.load(path)``, ``GAN.load_pretrained(preset)``):
``sample`` and ``decode`` run in numpy, ``snapshot`` gives what the live page shows.
Checkpoints go through :mod:`genlib.checkpoints` (family ``"gan"``): ``w/<net>/<layer>/kernel``
weights, the metric ``history/...``, the fixed-noise ``frames/...`` and ``fixed_z``.
Importing this module never imports TensorFlow.
"""

from __future__ import annotations

from numbers import Integral
from pathlib import Path

import numpy as np

from genlib import checkpoints, nn
from genlib.protocol import Samples, check_n_samples

__all__ = [
    "PRESETS",
    "LOSSES",
    "OUTPUTS",
    "METRICS",
    "GAN",
    "architecture",
    "check_seed",
    "shipped_checkpoint_path",
    "user_checkpoint_path",
    "read_checkpoint",
    "checkpoint_arrays",
    "validate_settings",
    "NearestMeanJudge",
    "load_judge",
    "digit_shares",
    "rare_digits",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FAMILY = "gan"
FORMAT = "genlab-gan"
FORMAT_VERSION = 1
N_FIXED = 64  # the 8 x 8 fixed-noise grid
MAX_FRAMES = 40  # fixed-noise grids kept for the history scrubber
MAX_SEED = 2**31 - 1
LOSSES = ("non-saturating", "least-squares")
OUTPUTS = ("sigmoid", "tanh")
METRICS = ("d_loss", "g_loss", "d_real", "d_fake")

PRESETS = {
    # tanh output and one-sided label smoothing: on 4,000 digits a plain sigmoid MLP GAN
    # collapsed onto 3s and 8s (smallest digit share 0.1% after 17k steps). Packing pairs
    # (PacGAN) lifted the rarest digit (a 1) from 3.4% to 4.6-5.9% at 30-35k steps. Learning
    # rates (2e-4 for both until 2026-12-07): 1e-3 gave digits sooner and, at 80,000 steps,
    # Frechet 17.0 instead of 25.3; D at twice G's rate (Heusel et al. 2017's two time-scale
    # rule) then sooner still (the 64-digit grid's Frechet after 20 s headless, median of
    # 19-21 s, 8 seeds: 44-53, mean 48.6, instead of 46-69, mean 56.1) and 16.1 at 80,000.
    # G at twice D's rate was as quick early but 22.0 at 80,000.
    "mlp": {"lr_g": 1e-3, "lr_d": 2e-3, "batch_size": 64, "latent_dim": 64, "d_steps": 1,
            "loss": "non-saturating", "label_smoothing": 0.1, "output": "tanh", "pack": 2,
            "ema": 0.0, "r1": 0.0},
    "dcgan": {"lr_g": 2e-4, "lr_d": 2e-4, "batch_size": 64, "latent_dim": 64, "d_steps": 1,
              "loss": "non-saturating", "label_smoothing": 0.0, "output": "sigmoid",
              "pack": 1, "ema": 0.0, "r1": 0.0},
}
# "Best" presets (issue 16): the seed-faithful ones above stay the lesson; these have wider
# networks (see architecture) and add what measurably sharpened the samples: an exponential
# moving average of G's weights for sampling (``ema``) and an R1 gradient penalty on D's
# real inputs (``r1``: the wider MLP's Frechet went from 11.8 to 6.8, its rarest digit from
# 4.8% to 7.3%); the hinge loss is offered, not measured.
PRESETS["mlp_best"] = {**PRESETS["mlp"], "lr_g": 2e-4, "lr_d": 2e-4, "ema": 0.999, "r1": 1.0}
PRESETS["dcgan_best"] = {**PRESETS["dcgan"], "ema": 0.999}
BEST = ("mlp_best", "dcgan_best")  # only these trace the EMA / R1 / hinge step
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
    "ema": (0.0, 0.9999),  # decay of G's moving average (0: sample the trained G itself)
    "r1": (0.0, 100.0),  # gamma of the R1 penalty gamma/2 E|grad_x D(x)|^2 on real digits
}
RANGES["loss"] = LOSSES + ("hinge",)  # hinge: the best presets only (see validate_settings)
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
    if out["pack"] > 1 and base_preset(preset) != "mlp":
        raise ValueError("pack > 1 (PacGAN) is available for the mlp preset only (and mlp_best)")
    if preset not in BEST:
        extra = [n for n, off in (("ema", 0.0), ("r1", 0.0)) if out[n] != off]
        extra += ["hinge loss"] if out["loss"] == "hinge" else []
        if extra:
            raise ValueError(f"{', '.join(extra)}: available for the best presets only "
                             f"({', '.join(BEST)})")
    return out


def base_preset(preset: str) -> str:
    """The seed-faithful preset a best preset builds on ("dcgan_best" -> "dcgan")."""
    return preset.removesuffix("_best")


def check_seed(seed) -> int:
    """``seed`` as an int in [0, 2**31 - 1]; ValueError otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return int(seed)


def _dense(name: str, units: int, activation: str = "leaky_relu") -> dict:
    return {"type": "dense", "name": name, "units": units, "activation": activation}


def _mlp(prefix: str, hidden: list[int], out: int, activation: str) -> list[dict]:
    """Dense layers ``<prefix>_hidden``, ``<prefix>_hidden2``, ... then ``<prefix>_out``."""
    names = [f"{prefix}_hidden{i + 1 if i else ''}" for i in range(len(hidden))]
    return [*map(_dense, names, hidden), _dense(f"{prefix}_out", out, activation)]


def _conv(name: str, filters: int, kernel: int = 4, strides: int = 2,
          activation: str = "leaky_relu", kind: str = "conv") -> dict:
    return {"type": kind, "name": name, "filters": filters, "kernel": kernel,
            "strides": strides, "activation": activation}


def _conv_d(c1: int, c2: int) -> list[dict]:
    """D of the DCGANs: two strided 4x4 convolutions, then one logit."""
    return [{"type": "reshape", "shape": [28, 28, 1]}, _conv("d_c1", c1), _conv("d_c2", c2),
            {"type": "flatten"}, _dense("d_out", 1, "linear")]


def architecture(preset: str, latent_dim: int, output: str) -> tuple[list, list]:
    """Layer specs (genlib.nn format) of the generator and the discriminator."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if preset == "mlp":
        return _mlp("g", [256], 784, output), _mlp("d", [256], 1, "linear")
    if preset == "mlp_best":  # twice as wide, a layer deeper: the 256-unit pair plateaued
        return _mlp("g", [512, 512], 784, output), _mlp("d", [512, 256], 1, "linear")
    g = [_dense("g_fc", 7 * 7 * 128), {"type": "reshape", "shape": [7, 7, 128]},
         _conv("g_up", 64, kind="conv_transpose")]
    if preset == "dcgan":
        g += [_conv("g_out", 1, activation=output, kind="conv_transpose"), {"type": "flatten"}]
        return g, _conv_d(32, 64)
    if preset != "dcgan_best":
        raise ValueError(f"no networks are defined for the preset {preset!r}")
    # dcgan_best: G upsamples through 64 then 32 channels and ends in a 3x3 conv (no
    # checkerboard from the last transposed conv); D has twice the channels
    g += [_conv("g_up2", 32, kind="conv_transpose"),
          _conv("g_out", 1, kernel=3, strides=1, activation=output), {"type": "flatten"}]
    return g, _conv_d(64, 128)


def _to_unit(x, output: str) -> np.ndarray:
    """Generator output -> float32 images (n, 28, 28) in [0, 1]."""
    x = np.asarray(x, dtype=np.float32).reshape(-1, 28, 28)
    if output == "tanh":
        x = (x + 1.0) * 0.5
    return np.clip(x, 0.0, 1.0)


# ----------------------------------------------------------------------------- frames


class Frames:
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

    @classmethod
    def from_arrays(cls, arrays: dict, every: int) -> Frames:
        f = cls(every=int(every))
        f.steps = [int(s) for s in arrays.get("frames/steps", [])]
        f.images = list(arrays.get("frames/images", []))
        return f


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


def checkpoint_arrays(weights: dict, history: dict, frames: Frames, fixed_z) -> dict:
    """The arrays of a GAN checkpoint, named as :func:`read_checkpoint` expects them."""
    arrays = {f"w/{k}": np.asarray(v, np.float32) for k, v in weights.items()}
    arrays.update({f"history/{k}": np.asarray(v) for k, v in history.items()})
    arrays["frames/steps"] = np.asarray(frames.steps, np.int64)
    arrays["frames/images"] = (np.stack(frames.images) if frames.images
                               else np.zeros((0, N_FIXED, 28, 28), np.uint8))
    arrays["fixed_z"] = np.asarray(fixed_z, np.float32)
    return arrays


def read_checkpoint(path) -> tuple[dict, dict]:
    """(manifest, arrays) of a GAN checkpoint; ValueError naming the file if anything is wrong
    (missing, not a GAN, damaged: its SHA-256 does not match the manifest, unreadable)."""
    path = Path(path).expanduser()
    mpath = checkpoints.manifest_path(path)
    if not path.is_file() or not mpath.is_file():
        raise ValueError(f"{path}: no GAN checkpoint here (need {path.name} and {mpath.name}); "
                         "train one with `python -m genlib.train gan`")
    manifest, arrays = checkpoints.read(path, family=FAMILY)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{mpath}: not a GenLab GAN manifest")
    if isinstance(manifest.get("settings"), dict):  # saved before packing existed
        manifest["settings"].setdefault("pack", 1)
    return manifest, arrays


# ----------------------------------------------------------------------------- the model


class Sampler:
    """``decode`` and ``sample``, shared by :class:`GAN` (numpy) and the trainer (TensorFlow):
    each provides ``settings`` and ``_generate(z)``, the generator's raw output (n, 784)."""

    def decode(self, z) -> np.ndarray:
        """Images (n, 28, 28) float32 in [0, 1] for latent codes ``z`` (n, latent_dim)."""
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.settings["latent_dim"]:
            raise ValueError(f"z must have shape (n, {self.settings['latent_dim']}), got {z.shape}")
        out = [self._generate(z[i:i + 256]) for i in range(0, len(z), 256)]
        return _to_unit(np.concatenate(out) if out else np.zeros((0, 784)),
                        self.settings["output"])

    def sample(self, n_samples: int, rng=None) -> Samples:
        """``n_samples`` new digits: ``Samples(images, None)``, images float32 (n, 28, 28)
        in [0, 1] (a GAN draws no class, so labels are None)."""
        n_samples = check_n_samples(n_samples)
        rng = np.random.default_rng(rng)
        z = rng.standard_normal((n_samples, self.settings["latent_dim"]), dtype=np.float32)
        return Samples(self.decode(z), None)


class GAN(Sampler):
    """A saved GAN, read with numpy only: sample digits and show its training history.

    Build one with :meth:`load` or :meth:`load_pretrained`.

    Attributes
    ----------
    preset, settings, seed, step, manifest
    generator_spec : layer specs of the generator (genlib.nn format)
    weights : dict of float32 arrays, ``g/<layer>/kernel`` ... ``d/<layer>/bias``
    history : dict of arrays (step, d_loss, g_loss, d_real, d_fake)
    frames : :class:`Frames`, the fixed-noise grids over training
    fixed_z : float32 (64, latent_dim), the noise of the grid
    path : the checkpoint file it was loaded from (None if built from arrays)
    """

    path: Path | None = None

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
        self.frames = Frames.from_arrays(arrays, manifest.get("frames_every", 25))
        self.fixed_z = arrays["fixed_z"]
        self._g = {k[2:]: v for k, v in self.weights.items() if k.startswith("g/")}
        try:
            self.decode(self.fixed_z[:1])
        except (KeyError, ValueError) as e:
            raise ValueError(f"the checkpoint's weights do not fit its preset ({e})") from e

    @classmethod
    def load(cls, path) -> GAN:
        """Read a GAN checkpoint (``.npz`` + ``.json``) without TensorFlow.

        Raises
        ------
        ValueError
            Naming the file: missing, damaged (hash mismatch), unreadable or incomplete.
        """
        manifest, arrays = read_checkpoint(path)
        try:
            model = cls(manifest, arrays)
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: incomplete GAN checkpoint ({e})") from e
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e
        model.path = Path(path)
        return model

    @classmethod
    def load_pretrained(cls, preset: str = "mlp") -> GAN:
        """The GAN shipped with GenLab for ``preset`` ("mlp" or "dcgan")."""
        return cls.load(shipped_checkpoint_path(preset))

    def _generate(self, z: np.ndarray) -> np.ndarray:
        return nn.forward(self.generator_spec, self._g, z)

    def snapshot(self) -> dict:
        """The same numpy-only state as ``GANTrainer.snapshot``: step, history, fixed, frames."""
        return {"step": self.step, "history": {k: v.copy() for k, v in self.history.items()},
                "fixed": self.decode(self.fixed_z),
                "frames": (list(self.frames.steps), list(self.frames.images))}

    def save(self, path) -> Path:
        """Write the checkpoint to ``path`` (.npz) and its ``.json`` manifest, atomically."""
        manifest = {k: v for k, v in self.manifest.items() if k != "sha256"}
        manifest.update(family=FAMILY, frames_every=self.frames.every)
        checkpoints.write(path, checkpoint_arrays(self.weights, self.history, self.frames,
                                                  self.fixed_z), manifest)
        return Path(path)


# ----------------------------------------------------------------------------- digit shares


class NearestMeanJudge:
    """Label digits by the nearest class mean (a fallback when the judge CNN is missing)."""

    def fit(self, images, labels) -> NearestMeanJudge:
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
