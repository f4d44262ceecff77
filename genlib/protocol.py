"""The one shape every GenLab model has: what ``sample`` returns, what a trainer offers.

See the package docstring (:mod:`genlib`) for the protocol in full. Nothing here imports
more than numpy.
"""

from __future__ import annotations

from numbers import Integral
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

__all__ = ["Samples", "Model", "Trainer", "check_n_samples"]

MAX_SAMPLES = 100_000  # one call; a page asks for at most a few thousand


class Samples(NamedTuple):
    """What every model's ``sample`` returns; unpacks as ``images, labels = model.sample(n)``.

    Attributes
    ----------
    images : float32 array, shape (n, 28, 28), values in [0, 1]
    labels : int64 array, shape (n,): the class each image was drawn for; None for a model
        that does not condition on the class (a VAE's prior, a GAN)
    """

    images: np.ndarray
    labels: np.ndarray | None = None

    @classmethod
    def of(cls, images, labels=None) -> Samples:
        """Checked and converted: float32 (n, 28, 28) clipped to [0, 1], int64 labels."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 2 and images.shape[1] == 784:
            images = images.reshape(-1, 28, 28)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"samples must have shape (n, 28, 28), got {images.shape}")
        images = np.clip(images, 0.0, 1.0)
        if labels is not None:
            labels = np.asarray(labels, dtype=np.int64)
            if labels.shape != (len(images),):
                raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}")
        return cls(images, labels)


def check_n_samples(n_samples) -> int:
    """``n_samples`` as an int in [0, MAX_SAMPLES]; ValueError with the reason otherwise."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral | np.integer):
        raise ValueError(f"n_samples must be an integer, got {n_samples!r}")
    if not 0 <= n_samples <= MAX_SAMPLES:
        raise ValueError(f"n_samples must be between 0 and {MAX_SAMPLES:,}, got {n_samples}")
    return int(n_samples)


@runtime_checkable
class Model(Protocol):
    """Anything that draws digits. Models with a density also have ``score_samples``."""

    def sample(self, n_samples: int, rng=None) -> Samples: ...


@runtime_checkable
class Trainer(Protocol):
    """How every neural family trains (what :class:`genlib.live.LiveTraining` drives)."""

    def train(self, steps: int): ...

    def train_for(self, seconds: float): ...

    def snapshot(self) -> dict: ...
