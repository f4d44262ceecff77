"""The numerics behind genlib.gaussian: sets of Gaussians in 784 dimensions.

Input checks; compact Cholesky factors of the pixels that vary (``_Factor``); fitting full,
diagonal and PCA covariances per class; EM for full-covariance mixtures on the active pixels;
sampling and float64 log-densities of a set of Gaussians (``_Gaussians``). The estimators a
user calls are in :mod:`genlib.gaussian`. numpy here; scipy and scikit-learn when needed.
"""

from __future__ import annotations

import math
import numbers
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from genlib.nn import single_threaded

IMAGE_SHAPE = (28, 28)
N_PIXELS = 28 * 28
_LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- input checks


def _check_images(X, what: str = "X", check_range: bool = True) -> np.ndarray:
    """Validate images (n, 28, 28) or (n, 784) in [0, 1]; return float32 rows (n, 784).

    ``check_range=False`` leaves the values' range to the caller (two passes over the data
    saved when the caller computes per-pixel minima and maxima anyway).
    """
    X = np.asarray(X)
    if X.ndim == 3 and X.shape[1:] == IMAGE_SHAPE:
        X = X.reshape(len(X), N_PIXELS)
    if X.ndim != 2 or X.shape[1] != N_PIXELS:
        raise ValueError(f"{what} must have shape (n, 28, 28) or (n, 784), got {X.shape}")
    if len(X) == 0:
        raise ValueError(f"{what} contains no images")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise ValueError(f"{what} must be numeric, got dtype {X.dtype}")
    X = X.astype(np.float32, copy=False)
    if check_range:
        _check_range(X.min(), X.max(), what)
    return X


def _check_range(lo, hi, what: str = "X") -> None:
    """Pixel values, whose minimum and maximum are lo and hi, must be finite and in [0, 1].

    (min and max propagate NaN and show infinities: no separate np.isfinite pass.)
    """
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{what} contains NaN or infinite values")
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{what}: pixel values must lie in [0, 1], found [{lo:g}, {hi:g}]"
            + (" (divide 0-255 images by 255)" if hi > 1.0 else "")
        )


def _check_labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y must have shape ({n},), one label per image, got {y.shape}")
    if not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y)):
        raise ValueError("y must hold integer class labels")
    return y.astype(np.int64)


def _check_n_samples(n_samples) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if n_samples <= 0:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    return int(n_samples)


def _check_reg(reg) -> float:
    if isinstance(reg, bool) or not isinstance(reg, numbers.Real) or not np.isfinite(reg):
        raise ValueError(f"reg must be a finite number >= 0, got {reg!r}")
    if reg < 0:
        raise ValueError(f"reg must be >= 0, got {reg}")
    return float(reg)


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


# ----------------------------------------------------------------------------- linear algebra


# One BLAS thread for the small matrices here (a 500 x 500 Cholesky, a 100-row product): on a
# busy machine OpenBLAS's threads spin-wait, measured 10-50x slower. Fits use the cores by
# running classes side by side instead.


def _parallel_map(fn, *iterables) -> list:
    """``list(map(fn, *iterables))``, on one thread per core: numpy releases the GIL."""
    items = list(zip(*iterables))
    workers = min(len(items), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else os.cpu_count() or 1)
    if workers < 2:
        return [fn(*args) for args in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda args: fn(*args), items))


def _potrf(C: np.ndarray, overwrite: bool = False) -> np.ndarray | None:
    """Lower Cholesky factor of C (float32 or float64; its lower triangle is read), Fortran
    order, or None if C is not positive definite.

    LAPACK's potrf through scipy: several times faster than np.linalg.cholesky in float32.
    A Fortran-ordered C is factorised in place when ``overwrite``.
    """
    from scipy.linalg import lapack

    potrf = lapack.spotrf if C.dtype == np.float32 else lapack.dpotrf
    with single_threaded():
        L, info = potrf(C, lower=1, clean=1, overwrite_a=int(overwrite))
    return L if info == 0 else None


def _singular(what: str) -> ValueError:
    return ValueError(
        f"the covariance of {what} is singular (pixels that never vary have zero "
        "variance): use a ridge reg > 0, e.g. 1e-4"
    )


def _cholesky(C: np.ndarray, what: str) -> np.ndarray:
    L = _potrf(C, overwrite=True)
    if L is None:
        raise _singular(what)
    return L


def _gram(A: np.ndarray, reg: float) -> np.ndarray:
    """``A @ A.T / (n - 1) + reg I`` for centred variables in the rows of A (p, n).

    numpy sees a matrix times its own transpose and calls BLAS syrk (half a matmul's work),
    releasing the GIL. The result is symmetric, so its transpose is the same matrix in the
    Fortran order potrf takes without a copy.
    """
    C = (A @ A.T).T
    C *= C.dtype.type(1.0 / (A.shape[1] - 1))
    C[np.diag_indices_from(C)] += C.dtype.type(reg)
    return C


def _mul_lower_t(Z: np.ndarray, L: np.ndarray) -> np.ndarray:
    """``Z @ L.T`` for a lower-triangular float32 L (Fortran order), overwriting C-ordered Z.

    BLAS trmm: half a matmul's work. It computes ``L @ B`` in place, and ``B = Z.T`` is
    Fortran-ordered when Z is C-ordered, so nothing is copied.
    """
    from scipy.linalg import blas

    with single_threaded():
        return blas.strmm(1.0, L, Z.T, lower=1, overwrite_b=1).T


# ----------------------------------------------------------------------------- Gaussians


@dataclass(frozen=True, eq=False)
class _Factor:
    """The Cholesky factor of one full covariance, kept compact.

    A sample covariance is zero on the row and column of every pixel that never varies
    (246-366 of 784 per class on the MNIST sample). So the covariance plus the ridge is,
    after a permutation, block-diagonal: ``L @ L.T`` on the ``active`` pixels and ``ridge``
    times the identity on the ``inactive`` ones, and its Cholesky factor is L embedded at the
    active pixels plus ``sqrt(ridge)`` on the inactive diagonal. Only L is computed and kept:
    sampling and densities work in p (~500) dimensions instead of 784, exactly.
    """

    active: np.ndarray  # int (p,), sorted
    inactive: np.ndarray  # int (d - p,), sorted
    L: np.ndarray  # (p, p) lower triangular, Fortran order, float32 or float64
    L32: np.ndarray  # float32 L to sample with (the same array when L is float32)
    ridge: float  # the variance of each inactive pixel

    @classmethod
    def of(cls, L: np.ndarray, active: np.ndarray, d: int, ridge: float, what: str) -> _Factor:
        is_inactive = np.ones(d, bool)
        is_inactive[active] = False
        inactive = np.flatnonzero(is_inactive)
        if len(inactive) and ridge <= 0:
            raise _singular(what)
        L32 = L if L.dtype == np.float32 else L.astype(np.float32, order="F")
        return cls(np.asarray(active), inactive, L, L32, float(ridge))


def _full_class(X: np.ndarray, rows: np.ndarray, reg: float, what: str):
    """Mean (float32 (d,)) and compact covariance factor (see _Factor) of the digits X[rows].

    The covariance is a float32 product of the active pixels only; its Cholesky factor is
    then the model's: the model's covariance is *defined* as ``L @ L.T`` (plus ``reg`` on the
    inactive pixels), which equals the regularised sample covariance to float32 precision.
    """
    Xk = X[rows]  # this class's digits: one copy
    lo, hi = Xk.min(axis=0), Xk.max(axis=0)
    _check_range(lo.min(), hi.max())  # fit left the range of X to be checked here
    active = np.flatnonzero(hi > lo)
    mu = Xk[0].copy()  # the value of a pixel that never varies; the mean of the others:
    # one contiguous row per active pixel, the layout the product reads fastest
    A = Xk.T[active]
    mu[active] = A.mean(axis=1, dtype=np.float64)  # summed in float64, stored as float32
    A -= mu[active, None]
    L = _potrf(_gram(A, reg), overwrite=True) if len(active) else np.zeros((0, 0), np.float32)
    if L is None:  # float32 rounding can leave a tiny negative eigenvalue: redo in float64
        L = _cholesky(_gram(A.astype(np.float64), reg), what)
    return mu, _Factor.of(L, active, X.shape[1], reg, what)


def _em_full_class(X: np.ndarray, rows: np.ndarray, m: int, reg: float, max_iter: int,
                   tol: float, seed, what: str):
    """EM for a mixture of ``m`` full-covariance Gaussians on the digits ``X[rows]``.

    scikit-learn's GaussianMixture algorithm (k-means initialisation with the same seed, the
    same M-step with ``reg`` on the diagonal, the same stopping rule on the mean
    log-likelihood), but on the class's active pixels only and in float32 BLAS: the pixels
    that never vary in the class have the same density under every component, so they change
    nothing but a constant. It took 10.6 s for 3 components per class on the sample; this is
    ~10x faster. Returns (weights (m,), means float64 (m, d), [_Factor] * m).
    """
    from scipy.linalg import solve_triangular
    from sklearn.cluster import KMeans

    Xk = X[rows]
    n, d = Xk.shape
    lo, hi = Xk.min(axis=0), Xk.max(axis=0)
    _check_range(lo.min(), hi.max())
    active = np.flatnonzero(hi > lo)
    p = len(active)
    A = np.ascontiguousarray(Xk[:, active], dtype=np.float32)
    # constant part of every component's log-density: the inactive pixels, N(x | x, reg)
    const = -0.5 * (d - p) * (_LOG_2PI + math.log(reg)) - 0.5 * p * _LOG_2PI
    labels = KMeans(m, n_init=1, random_state=seed).fit(A.astype(np.float64)).labels_
    resp = np.zeros((n, m))
    resp[np.arange(n), labels] = 1.0

    def m_step(resp):
        nk = resp.sum(axis=0) + 10 * np.finfo(resp.dtype).eps
        means = (resp.T @ A.astype(np.float64)) / nk[:, None]
        factors = []
        for k in range(m):
            B = (A - means[k].astype(np.float32)) * np.sqrt(resp[:, k] / nk[k])[:, None].astype(
                np.float32)
            C = (B.T @ B).T  # syrk; symmetric, so Fortran order for potrf
            C[np.diag_indices_from(C)] += np.float32(reg)
            L = _potrf(C, overwrite=True)
            if L is None:  # float32 rounding left it not quite positive definite
                C64 = B.T.astype(np.float64) @ B.astype(np.float64)
                C64[np.diag_indices_from(C64)] += reg
                L = _cholesky(C64, f"{what}, component {k}")
            factors.append(L)
        return nk / n, means, factors

    def e_step(weights, means, factors):
        log_prob = np.empty((n, m))
        for k, L in enumerate(factors):
            R = (A - means[k].astype(L.dtype)).T
            Z = solve_triangular(L, R, lower=True, check_finite=False, overwrite_b=True)
            maha = np.einsum("ij,ij->j", Z, Z, dtype=np.float64)
            logdet = 2.0 * np.sum(np.log(np.diag(L).astype(np.float64)))
            log_prob[:, k] = const - 0.5 * (logdet + maha) + math.log(weights[k])
        log_norm = _logsumexp(log_prob, axis=1)
        return log_norm, np.exp(log_prob - log_norm[:, None])

    with single_threaded():
        params = m_step(resp)
        lower_bound = -np.inf
        for _ in range(max_iter):
            log_norm, resp = e_step(*params)
            params = m_step(resp)
            previous, lower_bound = lower_bound, float(log_norm.mean())
            if abs(lower_bound - previous) < tol:
                break
    weights, means_active, factors = params
    means = np.repeat(Xk[:1].astype(np.float64), m, axis=0)  # inactive pixels: their value
    means[:, active] = means_active
    return weights, means, [_Factor.of(L, active, d, reg, f"{what}, component {k}")
                            for k, L in enumerate(factors)]


def _ppca(B: np.ndarray, rank: int, reg: float, d: int):
    """Probabilistic PCA of the weighted, centred rows B (S = B.T @ B): (U, lam, noise).

    Through the n x n Gram matrix (n rows, here a component's digits, is well below d = 784):
    its top eigenvectors V give S's as ``B.T @ V / sqrt(lam)``. The discarded variance, spread
    evenly over the other d - rank directions, is the isotropic noise (Tipping and Bishop).
    """
    from scipy.linalg import eigh

    n = len(B)
    G = B @ B.T
    r = min(rank, n)
    lam, V = eigh(G, subset_by_index=[n - r, n - 1]) if r else (np.zeros(0), np.zeros((n, 0)))
    lam, V = np.maximum(lam[::-1], 0.0), V[:, ::-1]
    keep = lam > 1e-12 * max(float(lam[:1].sum()), 1e-300)
    U = np.zeros((d, rank))
    U[:, :int(keep.sum())] = (B.T @ V[:, keep]) / np.sqrt(lam[keep])
    Q, R = np.linalg.qr(U)  # exact orthonormality, completing directions of zero variance
    U = Q * np.where(np.diag(R) < 0, -1.0, 1.0)
    lam = np.concatenate([lam, np.zeros(rank - r)])
    sigma2 = max(float(np.einsum("ij,ij->", B, B)) - float(lam.sum()), 0.0) / (d - rank)
    sigma2 = min(sigma2, float(lam[-1]))
    return U, lam + reg, sigma2 + reg


def _em_ppca_class(X: np.ndarray, rows: np.ndarray, m: int, rank: int, reg: float,
                   max_iter: int, tol: float, seed, what: str):
    """EM for a mixture of ``m`` probabilistic PCA models (rank ``rank``) on ``X[rows]``.

    A mixture of factor analysers with isotropic noise (Tipping and Bishop 1999; Richardson
    and Weiss 2018 sampled sharp MNIST digits from one): k-means initialisation as
    scikit-learn's GaussianMixture, then each M-step fits every component's PPCA to its
    responsibility-weighted digits. In 784 dimensions the responsibilities are nearly 0 or 1,
    so each component's PCA only sees the digits it owns (> 1e-8), in the Gram-matrix form.
    Returns (weights (m,), means float64 (m, d), U (m, d, rank), lam (m, rank), noise (m,)).
    """
    from sklearn.cluster import KMeans

    Xk = X[rows].astype(np.float64)
    n, d = Xk.shape
    if n < m:
        raise ValueError(f"{what} has {n} digits, fewer than its {m} components")
    labels = KMeans(m, n_init=1, random_state=seed).fit(Xk).labels_
    resp = np.zeros((n, m))
    resp[np.arange(n), labels] = 1.0
    sq = np.einsum("ij,ij->i", Xk, Xk)

    def m_step(resp):
        nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
        means = (resp.T @ Xk) / nk[:, None]
        parts = []
        for k in range(m):
            own = np.flatnonzero(resp[:, k] > 1e-8)
            B = (Xk[own] - means[k]) * np.sqrt(resp[own, k] / nk[k])[:, None]
            parts.append(_ppca(B, rank, reg, d))
        U = np.stack([u for u, _, _ in parts])
        lam = np.stack([v for _, v, _ in parts])
        noise = np.array([s for _, _, s in parts])
        return nk / n, means, U, lam, noise

    def e_step(weights, means, U, lam, noise):
        log_prob = np.empty((n, m))
        for k in range(m):
            proj = Xk @ U[k] - means[k] @ U[k]
            r2 = sq - 2 * Xk @ means[k] + means[k] @ means[k]
            maha = r2 / noise[k] + (proj**2) @ (1.0 / lam[k] - 1.0 / noise[k])
            logdet = np.sum(np.log(lam[k])) + (d - rank) * math.log(noise[k])
            log_prob[:, k] = -0.5 * (d * _LOG_2PI + logdet + maha) + math.log(weights[k])
        log_norm = _logsumexp(log_prob, axis=1)
        return log_norm, np.exp(log_prob - log_norm[:, None])

    with single_threaded():
        params = m_step(resp)
        lower_bound = -np.inf
        for _ in range(max_iter):
            log_norm, resp = e_step(*params)
            params = m_step(resp)
            previous, lower_bound = lower_bound, float(log_norm.mean())
            if abs(lower_bound - previous) < tol:
                break
    return params


class _Gaussians:
    """m Gaussians in 784 dimensions, stored the way sampling and scoring need them.

    kind "full": one compact Cholesky factor per Gaussian (``factors``, see _Factor);
    densities use it in float64, samples its float32 copy. "diag": variances. "pca": top
    eigenvectors ``U`` (m, d, r), eigenvalues ``lam`` (m, r) and the isotropic variance
    ``noise`` (m,) of each covariance ``U diag(lam - noise) U.T + noise I``.
    Every stored array is read-only: a fitted model may be shared between sessions.
    """

    def __init__(self, kind: str, means: np.ndarray, factors=(), **params):
        self.kind = kind
        self.means = np.array(means, dtype=np.float64)
        self.means32 = self.means.astype(np.float32)
        self.factors = tuple(factors)
        self.params = params
        arrays = [self.means, self.means32, *params.values()]
        for f in self.factors:
            arrays += [f.active, f.inactive, f.L, f.L32]
        for a in arrays:
            a.flags.writeable = False

    def __len__(self) -> int:
        return len(self.means)

    @classmethod
    def full(cls, means, covs, reg: float, names) -> _Gaussians:
        """From float64 covariance matrices (the mixture's, from scikit-learn): add ``reg``
        and factorise each once, compactly (see _Factor: a pixel is inactive when its
        variance is 0, and then its whole row and column are, C being positive
        semi-definite). The factors stay float64, with a float32 copy to sample with.
        """
        factors = []
        for C, what in zip(covs, names):
            active = np.flatnonzero(np.diag(C) > 0)
            Ca = np.asfortranarray(C[np.ix_(active, active)], dtype=np.float64)
            Ca[np.diag_indices_from(Ca)] += reg
            factors.append(_Factor.of(_cholesky(Ca, what), active, len(C), reg, what))
        return cls("full", means, factors)

    def covariance(self, j: int) -> np.ndarray:
        """The (regularised) covariance matrix of Gaussian j, float64 (d, d)."""
        p = self.params
        d = self.means.shape[1]
        if self.kind == "full":
            f = self.factors[j]
            L = f.L.astype(np.float64)
            C = np.zeros((d, d))
            C[np.ix_(f.active, f.active)] = L @ L.T
            C[f.inactive, f.inactive] = f.ridge
            return C
        if self.kind == "diag":
            return np.diag(p["var"][j])
        U = p["U"][j]
        C = (U * (p["lam"][j] - p["noise"][j])) @ U.T
        C[np.diag_indices_from(C)] += p["noise"][j]
        return C

    def sample(self, j: int, n: int, rng: np.random.Generator, noise: bool = True) -> np.ndarray:
        """n unclipped draws from Gaussian j, float32 (n, d). For "pca", ``noise=False`` draws
        ``mu + W z`` without the isotropic pixel noise (the mean of x given its factors z)."""
        mu = self.means32[j]
        d = len(mu)
        p = self.params
        if self.kind == "full":
            f = self.factors[j]
            k = len(f.active)
            # one draw of n * d normals, split into two C-ordered blocks: (n, k) and (n, d - k)
            z = rng.standard_normal(n * d, dtype=np.float32)
            za, zi = z[: n * k].reshape(n, k), z[n * k:].reshape(n, d - k)
            out = np.empty((n, d), np.float32)
            if k:
                out[:, f.active] = _mul_lower_t(za, f.L32)
            if k < d:  # the pixels that never vary: independent noise of variance ridge
                out[:, f.inactive] = np.multiply(zi, np.float32(math.sqrt(f.ridge)), out=zi)
            out += mu
            return out
        if self.kind == "diag":
            z = rng.standard_normal((n, d), dtype=np.float32)
            return mu + z * p["sd32"][j]
        z = rng.standard_normal((n, p["W32"].shape[-1]), dtype=np.float32)
        if not noise:  # E[x | z]: the factor model's image of z, as a decoder's mean
            return mu + z @ p["W32"][j].T
        eps = rng.standard_normal((n, d), dtype=np.float32)
        return mu + z @ p["W32"][j].T + eps * np.float32(math.sqrt(p["noise"][j]))

    def logpdf(self, X: np.ndarray) -> np.ndarray:
        """log N(x | mu_j, C_j) for every row of X and every j: float64 (n, m)."""
        X = X.astype(np.float64)
        n, d = X.shape
        out = np.empty((n, len(self)))
        p = self.params
        if self.kind == "full":
            from scipy.linalg import solve_triangular

            for j, f in enumerate(self.factors):
                R = X - self.means[j]
                L = f.L.astype(np.float64)  # exact: a float32 factor is the model's factor
                maha, logdet = np.zeros(n), 0.0
                if len(f.active):
                    Z = solve_triangular(L, R[:, f.active].T, lower=True, check_finite=False)
                    maha += np.einsum("ij,ij->j", Z, Z)
                    logdet += 2.0 * np.sum(np.log(np.diag(L)))
                if len(f.inactive):  # independent pixels of variance ridge
                    Ri = R[:, f.inactive]
                    maha += np.einsum("ij,ij->i", Ri, Ri) / f.ridge
                    logdet += len(f.inactive) * math.log(f.ridge)
                out[:, j] = -0.5 * (d * _LOG_2PI + logdet + maha)
        elif self.kind == "diag":
            for j, var in enumerate(p["var"]):
                r2 = (X - self.means[j]) ** 2 / var
                out[:, j] = -0.5 * (d * _LOG_2PI + np.sum(np.log(var)) + r2.sum(1))
        else:
            for j in range(len(self)):
                U, lam, s = p["U"][j], p["lam"][j], p["noise"][j]
                R = X - self.means[j]
                proj = R @ U
                maha = np.einsum("ij,ij->i", R, R) / s + (proj**2) @ (1.0 / lam - 1.0 / s)
                logdet = np.sum(np.log(lam)) + (d - len(lam)) * math.log(s)
                out[:, j] = -0.5 * (d * _LOG_2PI + logdet + maha)
        return out


def _class_moments(X: np.ndarray):
    """Mean (float32, summed in float64) and covariance (float32, Xc.T @ Xc) of X's rows."""
    mu = X.mean(axis=0, dtype=np.float64).astype(np.float32)
    Xc = X - mu
    return mu, (Xc.T @ Xc) / np.float32(len(X) - 1)


def _fit_gaussians(X: np.ndarray, rows, kind: str, reg: float, rank: int | None,
                   names) -> _Gaussians:
    """One Gaussian per class, the class's digits being ``X[r]`` for each ``r`` in ``rows``."""
    if kind == "full":  # classes side by side, each on one BLAS thread
        with single_threaded():
            fits = _parallel_map(lambda r, what: _full_class(X, r, reg, what), rows, names)
        return _Gaussians("full", np.stack([mu for mu, _ in fits]), [f for _, f in fits])
    moments = [_class_moments(X[r]) for r in rows]
    means = np.stack([mu for mu, _ in moments])
    if kind == "diag":
        var = np.stack([np.diag(C).astype(np.float64) for _, C in moments]) + reg
        if np.any(var <= 0):
            j = int(np.flatnonzero(np.any(var <= 0, axis=1))[0])
            raise ValueError(f"{names[j]} has pixels that never vary: use a ridge reg > 0")
        return _Gaussians("diag", means, var=var, sd32=np.sqrt(var).astype(np.float32))
    from scipy.linalg import eigh

    d = means.shape[1]
    Us, lams, noises = [], [], []
    for j, (_, C) in enumerate(moments):
        C = C.astype(np.float64)
        lam, U = eigh(C, subset_by_index=[d - rank, d - 1], driver="evr")
        lam, U = np.maximum(lam[::-1], 0.0), U[:, ::-1]
        # MRRR's eigenvectors can lose orthogonality (~1e-8) in clusters; the densities
        # assume U.T @ U = I exactly, so restore it (same span, same eigenvalues)
        Q, R = np.linalg.qr(U)
        U = Q * np.sign(np.diag(R))
        # probabilistic PCA: the discarded variance, spread evenly, is the isotropic noise
        sigma2 = max(float(np.trace(C)) - float(lam.sum()), 0.0) / (d - rank)
        sigma2 = min(sigma2, float(lam[-1]))
        noise = sigma2 + reg
        if noise <= 0:
            raise ValueError(f"{names[j]} varies in fewer than {rank} directions: "
                             "use a ridge reg > 0 or a smaller rank")
        Us.append(U)
        lams.append(lam + reg)
        noises.append(noise)
    U, lam, noise = np.stack(Us), np.stack(lams), np.array(noises)
    W32 = (U * np.sqrt(lam - noise[:, None])[:, None, :]).astype(np.float32)
    return _Gaussians("pca", means, U=U, lam=lam, noise=noise, W32=W32)
