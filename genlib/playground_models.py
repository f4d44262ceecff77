"""The 2-D playground's closed-form models: one Gaussian, a Gaussian mixture, a kernel density
estimate. Numpy, scipy and scikit-learn only (the neural ones are in
:mod:`genlib.playground_nets` and :mod:`genlib.playground_train`).

Every 2-D model follows the same protocol (the images' one, for points): ``fit(X)`` returns
``self``; ``sample(n_samples, rng=None)`` returns float64 (n, 2); a model with a density has
``score_samples(X)``, the log density per point (m,). Learned attributes end in ``_``.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp

from genlib.protocol import check_n_samples

__all__ = ["GaussianMLE", "Mixture", "KDE", "MODELS", "NEURAL", "make_model",
           "KDE_BANDWIDTHS", "check_points"]

MODELS = {"gaussian": "Gaussian (maximum likelihood)", "gmm": "Gaussian mixture (k)",
          "kde": "Kernel density estimate", "gan": "GAN (small MLPs)", "vae": "VAE",
          "flow": "Flow matching"}
NEURAL = ("gan", "vae", "flow")
KDE_BANDWIDTHS = (0.001, 0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5)  # times the data's spread
LOG_2PI = np.log(2 * np.pi)
CUTOFF = 40.0  # kernels weaker than exp(-40) x the nearest one are left out of a KDE's sum


def check_points(X, where: str = "X") -> np.ndarray:
    """``X`` as float64 (n, 2), finite, n >= 2; ValueError with the reason otherwise."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"{where} must have shape (n, 2), got {X.shape}")
    if len(X) < 2:
        raise ValueError(f"{where} needs at least 2 points, got {len(X)}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{where} holds NaN or infinite values")
    return X


class _Fitted:
    def _fitted(self) -> None:
        if not hasattr(self, "n_train_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet: call fit(X) first")


class GaussianMLE(_Fitted):
    """One Gaussian by maximum likelihood: the sample mean and the biased (1/n) covariance,
    plus ``ridge`` on the diagonal (a set of identical points has a singular covariance)."""

    def __init__(self, ridge: float = 1e-9):
        self.ridge = ridge

    def fit(self, X) -> GaussianMLE:
        X = check_points(X)
        self.mean_ = X.mean(axis=0)
        d = X - self.mean_
        self.covariance_ = d.T @ d / len(X) + self.ridge * np.eye(2)
        self.chol_ = np.linalg.cholesky(self.covariance_)
        self.n_train_ = len(X)
        return self

    def sample(self, n_samples: int, rng=None) -> np.ndarray:
        self._fitted()
        rng = np.random.default_rng(rng)
        z = rng.standard_normal((check_n_samples(n_samples), 2))
        return self.mean_ + z @ self.chol_.T

    def score_samples(self, X) -> np.ndarray:
        self._fitted()
        return _gauss_logpdf(np.asarray(X, np.float64), self.mean_[None], self.chol_[None])[:, 0]


class Mixture(_Fitted):
    """A mixture of ``k`` full-covariance Gaussians fitted by EM from a seeded k-means++
    start (:mod:`genlib.playground_em`: vectorised for two dimensions, 5-30x faster than
    scikit-learn's GaussianMixture here, to the same log-likelihood)."""

    def __init__(self, k: int = 8, seed: int = 0, max_iter: int = 200):
        if isinstance(k, bool) or not isinstance(k, Integral) or not 1 <= k <= 200:
            raise ValueError(f"k must be a whole number from 1 to 200, got {k!r}")
        self.k, self.seed, self.max_iter = int(k), int(seed), max_iter

    def fit(self, X) -> Mixture:
        from genlib.playground_em import fit_mixture

        X = check_points(X)
        if len(X) < self.k:
            raise ValueError(f"k = {self.k} components need at least {self.k} points, "
                             f"got {len(X)}")
        fit = fit_mixture(X, self.k, seed=self.seed, max_iter=self.max_iter, reg_covar=1e-6)
        self.weights_, self.means_ = fit["weights"], fit["means"]
        self.covariances_ = fit["covariances"]
        self.chols_ = np.linalg.cholesky(self.covariances_)
        self.n_iter_, self.train_log_likelihood_ = fit["n_iter"], fit["log_likelihood"]
        self.n_train_ = len(X)
        return self

    def sample(self, n_samples: int, rng=None) -> np.ndarray:
        self._fitted()
        rng = np.random.default_rng(rng)
        n = check_n_samples(n_samples)
        comp = rng.choice(self.k, size=n, p=self.weights_ / self.weights_.sum())
        z = rng.standard_normal((n, 2))
        return self.means_[comp] + np.einsum("nij,nj->ni", self.chols_[comp], z)

    def score_samples(self, X) -> np.ndarray:
        self._fitted()
        logp = _gauss_logpdf(np.asarray(X, np.float64), self.means_, self.chols_)
        return logsumexp(logp + np.log(self.weights_), axis=1)

    def fast_log_density(self, X) -> np.ndarray:
        """:meth:`score_samples` to ~1e-6 nats, several times faster (for a heat map)."""
        from genlib.playground_em import log_density

        self._fitted()
        return log_density(X, self.weights_, self.means_, self.covariances_)


class KDE(_Fitted):
    """A Gaussian kernel on every training point, as ``scipy.stats.gaussian_kde``: the kernel's
    covariance is the data's (unbiased) covariance times ``bandwidth ** 2``.

    A tiny bandwidth puts every sample on top of a training point: it copies (model B).
    """

    def __init__(self, bandwidth: float = 0.05):
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, Real) or \
                not 0 < bandwidth <= 10 or not np.isfinite(bandwidth):
            raise ValueError(f"bandwidth must be a number in (0, 10], got {bandwidth!r}")
        self.bandwidth = float(bandwidth)

    def fit(self, X) -> KDE:
        X = check_points(X)
        self.points_ = X
        cov = np.cov(X, rowvar=False) + 1e-12 * np.eye(2)
        self.kernel_cov_ = cov * self.bandwidth ** 2
        self.chol_ = np.linalg.cholesky(self.kernel_cov_)
        self.n_train_ = len(X)
        return self

    def sample(self, n_samples: int, rng=None) -> np.ndarray:
        self._fitted()
        rng = np.random.default_rng(rng)
        n = check_n_samples(n_samples)
        pick = rng.integers(0, self.n_train_, n)
        return self.points_[pick] + rng.standard_normal((n, 2)) @ self.chol_.T

    def score_samples(self, X, chunk: int = 512, k: int = 64) -> np.ndarray:
        """log density per point (m,), as ``gaussian_kde.logpdf``.

        Exact to rounding (relative error below n * exp(-CUTOFF)): each point's ``k`` nearest
        kernels (a KD-tree in whitened coordinates) are summed; where the k-th is not at
        least ``exp(-CUTOFF)`` weaker than the nearest, the sum runs over every kernel within
        that ratio (a ball query). 2,000 points on 3,500 kernels took 0.5-1.8 s summed in
        full, ~20 ms this way.
        """
        from scipy.spatial import cKDTree

        self._fitted()
        X = np.asarray(X, np.float64)
        inv = np.linalg.inv(self.chol_)
        centres = self.points_ @ inv.T  # whitened: the kernel is N(0, I) here
        y = X @ inv.T
        log_norm = -LOG_2PI - np.log(np.diag(self.chol_)).sum() - np.log(self.n_train_)
        out = np.empty(len(X))
        k = min(k, self.n_train_)
        dist, _ = cKDTree(centres).query(y, k=k)
        dist = dist.reshape(len(X), k)
        e = -0.5 * dist ** 2
        top = e[:, :1]
        out[:] = np.log(np.exp(e - top).sum(axis=1)) + top[:, 0]
        full = np.flatnonzero(~((top[:, 0] - e[:, -1] > CUTOFF) | (k == self.n_train_)))
        if len(full):
            # the rest: every kernel within exp(-CUTOFF) of the nearest one (a ball query),
            # instead of all n (a full 500 x 7,000 sum took 0.25-0.85 s on a busy machine);
            # a wide kernel reaches most points: then the dense sum is cheaper
            tree = cKDTree(centres)
            radius = np.sqrt(dist[full, 0] ** 2 + 2.0 * CUTOFF)
            counts = tree.query_ball_point(y[full], radius, return_length=True)
            if counts.sum() > 0.2 * len(full) * self.n_train_:
                out[full] = _dense_log_sum(y[full], centres, chunk)
            else:
                near = tree.query_ball_point(y[full], radius, return_sorted=False)
                rows = np.repeat(np.arange(len(full)), counts)
                cols = np.concatenate([np.asarray(n, np.int64) for n in near])
                d2 = ((y[full][rows] - centres[cols]) ** 2).sum(axis=1)
                weights = np.exp(-0.5 * (d2 - dist[full, 0][rows] ** 2))
                out[full] = (np.log(np.bincount(rows, weights, len(full)))
                             - 0.5 * dist[full, 0] ** 2)
        return out + log_norm


def _dense_log_sum(y: np.ndarray, centres: np.ndarray, chunk: int) -> np.ndarray:
    """log sum_j exp(-|y_i - c_j|^2 / 2) for every row of ``y``, in chunks of rows."""
    c2 = (centres * centres).sum(1)
    out = np.empty(len(y))
    for i in range(0, len(y), chunk):
        yy = y[i:i + chunk]
        e = -0.5 * np.maximum((yy * yy).sum(1)[:, None] + c2[None] - 2.0 * yy @ centres.T, 0.0)
        out[i:i + chunk] = _logsumexp_rows(e)
    return out


def _logsumexp_rows(e: np.ndarray) -> np.ndarray:
    """log(sum(exp(e), axis=1)), stable (scipy's logsumexp took 0.45 s on 500 x 7,000)."""
    top = e.max(axis=1, keepdims=True)
    return np.log(np.exp(e - top).sum(axis=1)) + top[:, 0]


def _gauss_logpdf(X: np.ndarray, means: np.ndarray, chols: np.ndarray) -> np.ndarray:
    """log N(x; mean_j, L_j L_j^T) for every x (m, 2) and component j: (m, k)."""
    out = np.empty((len(X), len(means)))
    for j, (mu, L) in enumerate(zip(means, chols)):
        y = np.linalg.solve(L, (X - mu).T)  # (2, m)
        out[:, j] = -0.5 * (y * y).sum(0) - np.log(np.diag(L)).sum() - LOG_2PI
    return out


def make_model(name: str, *, k: int = 8, bandwidth: float = 0.05, seed: int = 0):
    """An unfitted closed-form model by its key in :data:`MODELS`."""
    if name == "gaussian":
        return GaussianMLE()
    if name == "gmm":
        return Mixture(k, seed=seed)
    if name == "kde":
        return KDE(bandwidth)
    if name in NEURAL:
        raise ValueError(f"{MODELS[name]} is trained, not fitted: use genlib.playground_train")
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
