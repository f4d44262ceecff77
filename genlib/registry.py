"""The models the scoreboard lists: one line per row.

Each row is a :class:`ModelSpec`: a name, a family, and how to get the model (fitted on the
training digits, or loaded from shipped weights). After that the scoreboard relies only on
the model protocol (see :mod:`genlib`), so a new family needs one :func:`register` call here
or anywhere, and nothing else. Importing this module imports no model family.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from genlib.protocol import Samples, check_n_samples

CODE_VERSION = "2"  # bump when a figure's definition changes: invalidates cached rows


@dataclass(frozen=True)
class ModelSpec:
    """One scoreboard row: a model, named, in a family, and how to get it.

    ``make(mnist)`` fits or loads the model; after that the scoreboard uses only the model
    protocol (see :mod:`genlib`): ``model.sample(n, rng=rng, **sample_kwargs)`` returns
    ``Samples(images, labels)``, and the held-out likelihood is exact where the model has
    ``score_samples`` (a density) unless ``likelihood(model, images, rng)`` says otherwise
    (a dict with ``nll`` in nats per digit, ``kind``, optionally ``elbo``). ``weights``
    names shipped weight files (their hashes version the row).
    """

    name: str
    family: str
    make: Callable | None
    weights: tuple = ()
    sample_kwargs: dict = field(default_factory=dict)
    likelihood: Callable | None = None
    note: str = ""


class ClassMeans:
    """The reference that is on the data's support and has no diversity at all: each sample
    is one of the ten class-mean images (the class drawn uniformly)."""

    def fit(self, images, labels) -> ClassMeans:
        images, labels = np.asarray(images, np.float32), np.asarray(labels)
        self.means_ = np.stack([images[labels == k].mean(0) if np.any(labels == k)
                                else np.zeros((28, 28), np.float32) for k in range(10)])
        return self

    def sample(self, n_samples: int, rng=None) -> Samples:
        labels = np.random.default_rng(rng).integers(0, 10, size=check_n_samples(n_samples))
        return Samples(self.means_[labels], labels)


def fitted(family_class: str, **params) -> Callable:
    """``make`` for a model fitted on the training digits: ``"genlib.gaussian:Name"``."""
    def make(mnist):
        module, name = family_class.split(":")
        cls = getattr(importlib.import_module(module), name)
        return cls(**params).fit(mnist.train.images, mnist.train.labels)
    return make


def pretrained(family_class: str, preset: str) -> Callable:
    """``make`` for a model loaded from its shipped weights: ``"genlib.vae:VAE"``."""
    def make(mnist):
        module, name = family_class.split(":")
        return getattr(importlib.import_module(module), name).load_pretrained(preset)
    make.preset = preset  # a short name for the row (``genlab sample mlp``)
    return make


def exact_likelihood(model, images, rng) -> dict:
    return {"nll": float(-np.mean(model.score_samples(images))),
            "kind": "exact; a continuous density (can be negative)"}


def vae_bound(k: int) -> Callable:
    """The VAE's importance-weighted bound with ``k`` samples, and its -ELBO."""
    def nll(model, images, rng):
        return {"nll": float(model.importance_weighted_bound(images, k=k, rng=rng)),
                "elbo": float(model.negative_elbo(images, rng=rng)["total"]),
                "kind": f"upper bound (importance-weighted, k={k}); Bernoulli pixels"}
    return nll


def _weights_dir() -> Path:
    return Path(__file__).resolve().parent / "weights"


REFERENCE_ROWS = ("Real held-out digits", "Class means (10 images)")
_GAUSSIAN = "genlib.gaussian:ClassConditionalGaussian"
_MIXTURE = "genlib.gaussian:ClassConditionalMixture"
_UNIFORM = {"prior": "uniform"}  # every digit equally often, as the class means row

MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a row to the scoreboard (a new family needs one call, nothing else)."""
    MODELS[spec.name] = spec
    return spec


for _spec in [
    ModelSpec("Real held-out digits", "reference", None,
              note="real digits no model saw: the best any model can score"),
    ModelSpec("Class means (10 images)", "reference", fitted("genlib.registry:ClassMeans"),
              note="each sample is one of ten mean images: on-support, zero diversity"),
    ModelSpec("Gaussian, full covariance", "Gaussian", fitted(_GAUSSIAN, covariance="full"),
              sample_kwargs=_UNIFORM),
    ModelSpec("Gaussian, diagonal", "Gaussian", fitted(_GAUSSIAN, covariance="diag"),
              sample_kwargs=_UNIFORM),
    ModelSpec("Gaussian, PCA (rank 20)", "Gaussian",
              fitted(_GAUSSIAN, covariance="pca", rank=20), sample_kwargs=_UNIFORM),
    ModelSpec("Gaussian mixture (3 per class, full)", "Gaussian",
              fitted(_MIXTURE, n_components=3, covariance="full"), sample_kwargs=_UNIFORM),
    # the best classical preset: components and rank chosen by the Frechet distance of its
    # samples to a validation split of the training digits (fit on 80%, judged against the
    # other 20%; 15 x rank 20 won among 3-15 components x rank 5-20), never the test digits
    ModelSpec("Best classical: 15 factor analysers per class (sharp)", "Gaussian",
              fitted(_MIXTURE, n_components=15, covariance="pca", rank=20,
                     sample_noise=False), sample_kwargs=_UNIFORM,
              note="mixture of probabilistic PCA; samples are mu + W z, without pixel noise"),
    ModelSpec("VAE, tutorial", "VAE", pretrained("genlib.vae:VAE", "tutorial"),
              ("vae_tutorial.npz",), likelihood=vae_bound(50)),
    ModelSpec("VAE, tutorial with tiny KL weight", "VAE",
              pretrained("genlib.vae:VAE", "tutorial-small-kl"),
              ("vae_tutorial_small_kl.npz",), likelihood=vae_bound(50)),
    ModelSpec("VAE, convolutional", "VAE", pretrained("genlib.vae:VAE", "conv"),
              ("vae_conv.npz",), likelihood=vae_bound(20)),
    ModelSpec("VAE, best (learned prior)", "VAE", pretrained("genlib.vae:VAE", "conv_best"),
              ("vae_conv_best.npz",), likelihood=vae_bound(20),
              note="a wider conv VAE whose prior, a Gaussian mixture, is learned inside the "
                   "ELBO; samples from that prior"),
    ModelSpec("VAE, best, sampled from N(0, I)", "VAE",
              pretrained("genlib.vae:VAE", "conv_best"), ("vae_conv_best.npz",),
              sample_kwargs={"prior": "standard"},
              note="the same decoder with the classic prior: draws in the holes between codes"),
    ModelSpec("GAN, MLP", "GAN", pretrained("genlib.gan:GAN", "mlp"), ("gan_mlp.npz",)),
    ModelSpec("GAN, DCGAN", "GAN", pretrained("genlib.gan:GAN", "dcgan"), ("gan_dcgan.npz",)),
    ModelSpec("Best GAN: MLP, EMA of G", "GAN", pretrained("genlib.gan:GAN", "mlp_best"),
              ("gan_mlp_best.npz",), note="a wider MLP GAN (two 512-unit layers) sampled from "
              "a moving average of G's weights (genlib.gan.PRESETS['mlp_best'])"),
    ModelSpec("Best GAN: DCGAN, EMA of G", "GAN", pretrained("genlib.gan:GAN", "dcgan_best"),
              ("gan_dcgan_best.npz",), note="a wider DCGAN sampled from a moving average of "
              "G's weights (genlib.gan.PRESETS['dcgan_best'])"),
    ModelSpec("Latent flow matching (conv VAE codes)", "Diffusion",
              pretrained("genlib.diffusion:DiffusionModel", "latent"),
              ("diffusion_latent.npz", "vae_conv.npz"), sample_kwargs={"digit": "all"},
              note="a learned prior for the conv VAE: 20 Euler steps, guidance 1.5"),
    ModelSpec("Pixel flow matching (U-Net)", "Diffusion",
              pretrained("genlib.diffusion:DiffusionModel", "pixel"), ("diffusion_pixel.npz",),
              sample_kwargs={"digit": "all"}, note="a small U-Net over the pixels: 20 Euler "
              "steps, guidance 1.5"),
]:
    register(_spec)


def available_models(kind: str = "sample") -> list[str]:
    """Rows that can be computed here: references, Gaussians, and models whose weights exist.

    Shipped VAE/GAN weights were trained on the embedded sample; on another dataset they are
    left out (they would be judged against digits they may have learned from).
    """
    out = []
    for name, spec in MODELS.items():
        if spec.weights:
            if kind != "sample" or not all((_weights_dir() / w).exists() for w in spec.weights):
                continue
        out.append(name)
    return out


def model_version(name: str) -> str:
    """A short hash that changes when the row's code or weights change (a cache key)."""
    spec = MODELS[name]
    h = hashlib.sha256(f"{CODE_VERSION}:{name}".encode())
    for w in spec.weights:
        path = _weights_dir() / w
        h.update(path.read_bytes() if path.exists() else b"missing")
    return h.hexdigest()[:16]


def load_model(name: str, mnist):
    """Build (fit or load) the model of one row."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    make = MODELS[name].make
    return None if make is None else make(mnist)
