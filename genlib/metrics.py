"""How good are the samples? Figures that treat every generative model the same way.

numpy/scipy only. The labels and features come from the judge (:mod:`genlib.classifier`);
this module turns them into numbers a person can read:

- :func:`class_consistency`: did a class-conditional model draw the digit it was asked for?
- :func:`coverage`: which digits does a model produce, and how evenly (entropy, mode collapse)?
- :func:`frechet_distance`: how far the samples' feature distribution is from real digits'.
- :func:`memorisation`: is each sample a new digit, or a copy of a training digit?
- :func:`recall`: do the samples reach all kinds of real digits (diversity)?
- :func:`judge_confidence`: does the judge recognise a digit in each sample?
- :func:`diversity`: are the samples as varied as real digits, or near-duplicates?
- :func:`nats_to_bits_per_pixel`: likelihoods on a per-pixel scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Coverage",
    "Memorisation",
    "class_consistency",
    "coverage",
    "frechet_distance",
    "nearest_neighbours",
    "memorisation",
    "knn_radii",
    "density_coverage",
    "recall",
    "judge_confidence",
    "diversity",
    "nats_to_bits_per_pixel",
    "bits_per_pixel_to_nats",
    "N_PIXELS",
]

N_PIXELS = 784
N_CLASSES = 10


def _labels(labels, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of digits, got shape {labels.shape}")
    if labels.size and (not np.issubdtype(labels.dtype, np.integer)
                        or labels.min() < 0 or labels.max() >= N_CLASSES):
        raise ValueError(f"{name} must be integers 0-9")
    return labels.astype(np.int64)


def class_consistency(pred_labels, intended_labels) -> float:
    """Share of samples the judge labels as the class they were drawn for, in [0, 1].

    Parameters
    ----------
    pred_labels, intended_labels : int arrays, shape (n,)
    """
    pred = _labels(pred_labels, "pred_labels")
    intended = _labels(intended_labels, "intended_labels")
    if pred.shape != intended.shape:
        raise ValueError(f"{len(pred)} predicted labels but {len(intended)} intended labels")
    if len(pred) == 0:
        raise ValueError("class consistency needs at least one sample")
    return float(np.mean(pred == intended))


@dataclass(frozen=True)
class Coverage:
    """Which digits a model produces.

    Attributes
    ----------
    shares : float array (10,), share of samples labelled as each digit
    entropy : float, entropy of ``shares`` in nats; ln 10 = 2.303 means every digit equally often
    missing : tuple of digits produced less often than ``missing_below``
    dominant : tuple of digits produced more often than ``dominant_above``
    """

    shares: np.ndarray
    entropy: float
    missing: tuple
    dominant: tuple

    @property
    def max_entropy(self) -> float:
        return float(np.log(N_CLASSES))

    @property
    def collapsed(self) -> bool:
        """True when some digits are missing or dominate: the signature of mode collapse."""
        return bool(self.missing or self.dominant)


def coverage(pred_labels, missing_below: float = 0.04, dominant_above: float = 0.2) -> Coverage:
    """Distribution of judged digits over samples, its entropy (nats), missing/dominant digits.

    A fair model of MNIST makes each digit ~10% of the time. The defaults flag a digit made
    less than 40% of its fair share as missing, and one made over twice its share as dominant.
    """
    pred = _labels(pred_labels, "pred_labels")
    if len(pred) == 0:
        raise ValueError("coverage needs at least one sample")
    shares = np.bincount(pred, minlength=N_CLASSES) / len(pred)
    nz = shares[shares > 0]
    entropy = float(-(nz * np.log(nz)).sum()) + 0.0  # + 0.0: no "-0.0" for one digit
    return Coverage(
        shares=shares,
        entropy=entropy,
        missing=tuple(int(k) for k in np.flatnonzero(shares < missing_below)),
        dominant=tuple(int(k) for k in np.flatnonzero(shares > dominant_above)),
    )


def _mean_cov(feats, name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(feats, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"{name} must have shape (n, d) with n >= 2, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def frechet_distance(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (FID's formula).

    ``|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))``. The matrix square root's trace is
    computed as the sum of square roots of the eigenvalues of ``C_a^(1/2) C_b C_a^(1/2)``
    (symmetric PSD, so it is stable even when the covariances are singular).

    Parameters
    ----------
    feats_a : array (n_a, d)
    feats_b : array (n_b, d)
    """
    mu_a, cov_a = _mean_cov(feats_a, "feats_a")
    mu_b, cov_b = _mean_cov(feats_b, "feats_b")
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"feature sizes differ: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    w, v = np.linalg.eigh(cov_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = sqrt_a @ cov_b @ sqrt_a
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    d = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * tr_sqrt)
    return max(d, 0.0)


def _flat(images, name: str) -> np.ndarray:
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x.reshape(len(x), -1)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name} must be images (n, 28, 28) or rows (n, d) with n >= 1, "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def nearest_neighbours(queries, pool, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Index into ``pool`` and Euclidean pixel distance of each query's nearest neighbour.

    Candidates are found with ``|a|^2 + |b|^2 - 2 a.b`` in chunked float32 matmuls, then the
    winning distances are recomputed exactly, so an exact copy scores 0, not float32 noise.

    Returns
    -------
    index : int64 (n,), distance : float64 (n,)
    """
    q = _flat(queries, "queries")
    p = _flat(pool, "pool")
    if q.shape[1] != p.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} pixels but the pool has {p.shape[1]}")
    p_sq = np.einsum("ij,ij->i", p, p)
    index = np.empty(len(q), np.int64)
    for start in range(0, len(q), chunk):
        qc = q[start: start + chunk]
        # |q|^2 is constant per row, so it does not change the argmin
        d2 = p_sq[None, :] - 2.0 * (qc @ p.T)
        index[start: start + chunk] = d2.argmin(axis=1)
    diff = q.astype(np.float64) - p[index].astype(np.float64)
    return index, np.sqrt(np.einsum("ij,ij->i", diff, diff))


@dataclass(frozen=True)
class Memorisation:
    """Nearest training digits of samples, against the same for real held-out digits.

    Attributes
    ----------
    index : int64 (n,), nearest training image of each sample
    distance : float64 (n,), its Euclidean pixel distance
    reference_distance : float64 (m,), nearest-training distances of real held-out digits
    ratio : median(distance) / median(reference_distance); ~1 means samples are as novel as
        new real digits, well below 1 means copying training digits
    """

    index: np.ndarray
    distance: np.ndarray
    reference_distance: np.ndarray
    ratio: float


def memorisation(samples, train_images, reference_real=None, chunk: int = 1024,
                 reference_distance=None) -> Memorisation:
    """Nearest training image per sample and the sample/real median-distance ratio.

    Parameters
    ----------
    samples : images (n, 28, 28) from a model
    train_images : images (N, 28, 28) the model learned from
    reference_real : held-out real images (m, 28, 28), never seen in training
    reference_distance : optional, their nearest-training distances computed before (the
        same for every model, so a scoreboard computes them once); replaces ``reference_real``
    """
    train = _flat(train_images, "train_images")
    index, distance = nearest_neighbours(samples, train, chunk)
    if reference_distance is not None:
        ref = np.asarray(reference_distance, dtype=np.float64)
    elif reference_real is not None:
        _, ref = nearest_neighbours(reference_real, train, chunk)
    else:
        raise ValueError("memorisation needs held-out real digits to compare with")
    ref_median = float(np.median(ref))
    if ref_median <= 0:
        raise ValueError("the held-out digits are copies of training digits: no reference")
    return Memorisation(index, distance, ref, float(np.median(distance)) / ref_median)


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between rows, float64 (len(a), len(b)), clipped at 0."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0, out=d2)


def knn_radii(feats, k: int = 5) -> np.ndarray:
    """Distance from each point to its k-th nearest other point, float64 (n,)."""
    x = np.asarray(feats, np.float64)
    if x.ndim != 2 or len(x) <= k:
        raise ValueError(f"need more than k={k} points of shape (n, d), got {x.shape}")
    d2 = _sq_distances(x, x)
    np.fill_diagonal(d2, np.inf)
    return np.sqrt(np.partition(d2, k - 1, axis=1)[:, k - 1])


def _as_fake(real: np.ndarray, sample_feats) -> np.ndarray:
    fake = np.asarray(sample_feats, np.float64)
    if fake.ndim != 2 or len(fake) == 0 or fake.shape[1:] != real.shape[1:]:
        raise ValueError(f"sample features must have shape (n, {real.shape[-1]}), "
                         f"got {fake.shape}")
    return fake


def density_coverage(real_feats, sample_feats, k: int = 5, radii=None) -> tuple[float, float]:
    """Density and coverage (Naeem et al., ICML 2020, "Reliable Fidelity and Diversity
    Metrics for Generative Models"), in judge features.

    Each real digit gets a ball reaching its k-th nearest real neighbour. **Coverage** is the
    share of balls holding at least one sample: how much of the real digits' variety the
    samples reach (ten repeated mean images reach ~10%, fresh real digits ~97% at k = 5).
    **Density** counts, per sample, the balls it falls in, divided by k: ~1 for samples
    distributed like real digits, above 1 for samples crowded where real digits are dense,
    ~0 for noise far from every real digit. Unlike a nearest-neighbour spread, neither rewards
    noisy samples for being spread out. Both grow with the number of samples: compare at the
    same n. ``radii`` (the real balls' radii) can be passed when computed once.
    """
    real = np.asarray(real_feats, np.float64)
    fake = _as_fake(real, sample_feats)
    radii = knn_radii(real, k) if radii is None else np.asarray(radii, np.float64)
    hit = np.zeros(len(real), bool)
    inside = 0
    for start in range(0, len(fake), 2048):  # bounds the distance matrix
        within = _sq_distances(fake[start: start + 2048], real) <= radii[None, :] ** 2
        hit |= within.any(axis=0)
        inside += int(within.sum())
    return inside / (k * len(fake)), float(hit.mean())


def recall(real_feats, sample_feats, k: int = 5) -> float:
    """Improved recall (Kynkaanniemi et al., NeurIPS 2019): the share of real digits that fall
    inside the samples' own manifold (a ball around each sample reaching its k-th nearest
    other sample). High when the samples reach everywhere real digits are. Noise can inflate
    it (noisy samples make wide balls); read it beside coverage. Grows with n."""
    real = np.asarray(real_feats, np.float64)
    fake = _as_fake(real, sample_feats)
    if len(fake) <= k:
        raise ValueError(f"recall needs more than k={k} samples, got {len(fake)}")
    fake_radii = knn_radii(fake, k)
    hit = np.zeros(len(real), bool)
    for start in range(0, len(fake), 2048):
        d2 = _sq_distances(fake[start: start + 2048], real)
        hit |= (d2 <= fake_radii[start: start + 2048, None] ** 2).any(axis=0)
    return float(hit.mean())


def diversity(sample_feats, real_feats) -> float:
    """How spread out samples are, relative to real digits: 1 ~ as varied as real digits.

    The median distance from each sample to its nearest *other* sample, divided by the same
    for real digits (judge features). Repeated images score 0; pass the same number of
    samples and real digits, since the distances shrink as n grows.
    """
    def median_nn(x, name):
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"{name} must have shape (n, d) with n >= 2, got {x.shape}")
        nearest = np.empty(len(x), np.intp)
        for start in range(0, len(x), 2048):
            d2 = _sq_distances(x[start: start + 2048], x)
            d2[np.arange(len(d2)), start + np.arange(len(d2))] = np.inf  # not itself
            nearest[start: start + 2048] = d2.argmin(axis=1)
        # The expanded form above rounds (a copy can come out at 1e-8, not 0): measure the
        # distance to the nearest neighbour it found directly.
        return float(np.median(np.linalg.norm(x - x[nearest], axis=1)))

    base = median_nn(real_feats, "real_feats")
    if base <= 0:
        raise ValueError("the real digits are all identical: no reference spread")
    return median_nn(sample_feats, "sample_feats") / base


def judge_confidence(proba) -> float:
    """Mean top class probability the judge gives the samples: ~0.98 for real digits, lower
    for blobs and scribbles it cannot place (the idea behind the Inception Score)."""
    p = np.asarray(proba, np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"proba must have shape (n, n_classes) with n >= 1, got {p.shape}")
    return float(p.max(axis=1).mean())


def nats_to_bits_per_pixel(nats, n_pixels: int = N_PIXELS):
    """Per-image negative log-likelihood in nats -> bits per pixel: ``nats / (n_pixels ln 2)``."""
    return np.asarray(nats, dtype=np.float64) / (n_pixels * np.log(2.0)) if np.ndim(nats) \
        else float(nats) / (n_pixels * np.log(2.0))


def bits_per_pixel_to_nats(bpp, n_pixels: int = N_PIXELS):
    """Bits per pixel -> per-image nats: ``bpp * n_pixels * ln 2``."""
    return np.asarray(bpp, dtype=np.float64) * (n_pixels * np.log(2.0)) if np.ndim(bpp) \
        else float(bpp) * (n_pixels * np.log(2.0))
