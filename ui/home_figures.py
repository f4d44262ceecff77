"""Matplotlib figures for the home page's ideas (toy 2-D data, no MNIST needed).

Imports matplotlib lazily so ``import genlib`` stays cheap.
"""

from __future__ import annotations

import numpy as np

__all__ = ["generative_vs_discriminative", "good_samples"]

_COLORS = ("#1f4e9c", "#d1495b")


def _two_blobs(rng, n=150):
    a = rng.normal([-1.2, 0.0], [0.6, 0.9], size=(n, 2))
    b = rng.normal([1.3, 0.4], [0.7, 0.5], size=(n, 2))
    return a, b


def generative_vs_discriminative(seed: int = 0):
    """Two panels on the same 2-D data: a boundary p(y|x) versus densities p(x|y) and samples."""
    import matplotlib.pyplot as plt
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(seed)
    a, b = _two_blobs(rng)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), sharex=True, sharey=True)
    for ax in (ax1, ax2):
        ax.scatter(*a.T, s=10, c=_COLORS[0], alpha=0.5, label="class 0")
        ax.scatter(*b.T, s=10, c=_COLORS[1], alpha=0.5, label="class 1")
        ax.set_xticks([]), ax.set_yticks([])
    # Discriminative: only the boundary where p(y=1|x) = 0.5 (a logistic fit by Newton steps).
    X = np.vstack([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    Xb = np.c_[X, np.ones(len(X))]
    w = np.zeros(3)
    for _ in range(25):
        p = 1 / (1 + np.exp(-Xb @ w))
        H = Xb.T @ (Xb * (p * (1 - p))[:, None]) + 1e-3 * np.eye(3)
        w += np.linalg.solve(H, Xb.T @ (y - p))
    xs = np.linspace(-3.5, 3.5, 2)
    ax1.plot(xs, -(w[0] * xs + w[2]) / w[1], "k-", lw=2)
    ax1.set_title("Discriminative: learns p(y | x)\n(a boundary; cannot make new points)")
    # Generative: one Gaussian per class, its contours, and fresh samples drawn from it.
    gx, gy = np.meshgrid(np.linspace(-3.5, 3.5, 120), np.linspace(-3, 3, 120))
    grid = np.dstack([gx, gy])
    for pts, c in zip((a, b), _COLORS):
        mu, cov = pts.mean(0), np.cov(pts.T)
        ax2.contour(gx, gy, multivariate_normal(mu, cov).pdf(grid), levels=4, colors=c)
        new = rng.multivariate_normal(mu, cov, size=6)
        ax2.scatter(*new.T, s=90, marker="*", c=c, edgecolors="k", zorder=3)
    ax2.set_title("Generative: learns p(x | y) p(y)\n(stars: new samples drawn from it)")
    ax1.set_xlim(-3.5, 3.5), ax1.set_ylim(-3, 3)
    ax1.legend(loc="lower left", fontsize=9)
    fig.tight_layout()
    return fig


def good_samples(seed: int = 0):
    """Data on a ring ("land"); three kinds of sample: off the support, a copy, a new point."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, 300)
    r = 2 + rng.normal(0, 0.15, 300)
    data = np.c_[r * np.cos(t), r * np.sin(t)]
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    ax.add_patch(plt.Circle((0, 0), 2.45, color="#e9dcc0", zorder=0))
    ax.add_patch(plt.Circle((0, 0), 1.55, color="#cfe3f5", zorder=0))
    ax.scatter(*data.T, s=8, c="#555555", label="training data")
    # the copy: the training point nearest the lower left, so its label has room in the corner
    copy = data[np.argmin(np.abs(np.arctan2(data[:, 1], data[:, 0]) + 2.3))]
    new_point = (2 * np.cos(2.2), 2 * np.sin(2.2))
    marks = [((0.1, 0.2), "#d1495b", "in the ocean:\noff the data's support", (0.1, -0.5),
              "center"),
             (tuple(copy), "#e0a100", "a copy of a\ntraining point", (-2.85, -2.55), "left"),
             (new_point, "#2a9d55", "a new point on\nland: good", (-2.85, 2.55), "left")]
    box = {"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#888888", "alpha": 0.9}
    for (x, y), c, text, at, align in marks:
        ax.scatter([x], [y], s=260, marker="*", c=c, edgecolors="k", zorder=3)
        ax.annotate(text, (x, y), xytext=at, textcoords="data", fontsize=10, ha=align,
                    va="center", bbox=box, zorder=4,
                    arrowprops={"arrowstyle": "-", "color": "#444444", "shrinkB": 9}
                    if align == "left" else None)
    ax.set_facecolor("#cfe3f5")
    ax.set_xlim(-3, 3), ax.set_ylim(-3, 3), ax.set_aspect("equal")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title("What makes a good sample?")
    fig.tight_layout()
    return fig
