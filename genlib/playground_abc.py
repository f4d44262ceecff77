"""A / B / C: is each sample off the data's support, a copy of a training point, or good?

The overview's world map in numbers. For samples of a 2-D model on a
:class:`genlib.playground_data.PointSet`:

**A** (off-support)  outside the dataset's known support (the ocean, for the world map);
**B** (copy)         on the support, and closer to a training point than ``COPY_QUANTILE``
                     (95%) of held-out real points are: closer than real data ever gets;
**C** (good)         on the support and not a copy: a new, plausible point.

Numpy and scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["ABC", "COPY_QUANTILE", "copy_threshold", "classify", "shares", "verdict"]

COPY_QUANTILE = 0.95  # a copy is closer to a training point than 95% of held-out points are
LABELS = {"A": "off-support", "B": "copy", "C": "good"}


@dataclass(frozen=True)
class ABC:
    """Per-sample classes (m,) of "A" / "B" / "C", and the copy threshold used."""

    labels: np.ndarray
    threshold: float

    @property
    def shares(self) -> dict:
        return shares(self.labels)


def copy_threshold(points, quantile: float = COPY_QUANTILE) -> float:
    """The distance under which a sample is a copy: the ``1 - quantile`` quantile of held-out
    points' distances to their nearest training point."""
    dist, _ = cKDTree(points.train).query(points.held_out, k=1)
    return float(np.quantile(dist, 1.0 - quantile))


def classify(samples, points, threshold: float | None = None, tree=None) -> ABC:
    """Classify ``samples`` (m, 2) against ``points`` (a PointSet). Non-finite samples are
    off-support. ``tree``: a ``cKDTree`` of ``points.train`` to reuse (built if None)."""
    s = np.asarray(samples, np.float64)
    if s.ndim != 2 or s.shape[1] != 2:
        raise ValueError(f"samples must have shape (m, 2), got {s.shape}")
    if threshold is None:
        threshold = copy_threshold(points)
    finite = np.all(np.isfinite(s), axis=1)
    safe = np.where(finite[:, None], s, 0.0)
    on = points.on_support(safe) & finite
    dist, _ = (cKDTree(points.train) if tree is None else tree).query(safe, k=1)
    labels = np.where(~on, "A", np.where(dist < threshold, "B", "C"))
    return ABC(labels, float(threshold))


def shares(labels) -> dict:
    """{"A": share, "B": share, "C": share} (each in [0, 1]; zeros for no samples)."""
    labels = np.asarray(labels)
    n = max(len(labels), 1)
    return {k: float(np.sum(labels == k)) / n for k in "ABC"}


def verdict(s: dict, name: str = "This model", off: str = "off the support") -> str:
    """One line in the overview's words for the shares ``s`` (``off``: where off-support
    samples fall, e.g. "in the ocean")."""
    a, b, c = (round(s[k], 2) for k in "ABC")  # as the page shows them: 84.9% reads 85%
    if c >= 0.85:
        return (f"{name} is model C: {c:.0%} of its samples are new points on the support "
                "(it generalises).")
    if a >= max(b, 0.2):
        return (f"{name} is model A: {a:.0%} of its samples fall {off}: it has not "
                "learned where the data lives.")
    if b >= max(a, 0.2):
        return (f"{name} is model B: {b:.0%} of its samples are copies of training points: "
                "it memorised instead of generalising.")
    return (f"{name} is between the three: {a:.0%} off-support, {b:.0%} copies, "
            f"{c:.0%} good.")
