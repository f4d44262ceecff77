"""Class-conditional generative models of digits: one Gaussian (or mixture) per class.

A model learns a prior ``p(y)`` from label counts and a density ``p(x | y)`` per class.
Sampling draws ``y`` (or takes it), then ``x``; the same densities make the Bayes
classifier ``argmax_y log p(x | y) + log p(y)``.

Speed comes from doing the heavy algebra once at fit time, and only where it matters:
hundreds of pixels never vary within a class (the black border), so a class covariance is
zero on their rows and columns. Only the block of the pixels that vary is computed (a
float32 ``A @ A.T``, not ``np.cov``) and factorised, ``L L.T``; the other pixels get the ridge
as their variance. A sample is ``mu + z @ L.T`` on the varying pixels plus
``sqrt(reg) * z`` on the others; log-densities use the same factor in float64, exactly.
Only numpy is imported here; scipy and scikit-learn are imported when needed.
"""

from __future__ import annotations

import math
import numbers
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from genlib.nn import single_threaded
from genlib.protocol import Samples

__all__ = [
    "ClassConditionalGaussian",
    "ClassConditionalMixture",
    "ClassifierReport",
    "evaluate_classifier",
    "drop_class_share",
    "cap_per_class",
]

IMAGE_SHAPE = (28, 28)
N_PIXELS = 28 * 28
_LOG_2PI = math.log(2.0 * math.pi)
_COVARIANCES = ("full", "diag", "pca")
DEFAULT_RANK = 20


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

    def sample(self, j: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """n unclipped draws from Gaussian j, float32 (n, d)."""
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


# ----------------------------------------------------------------------------- estimators


class _ClassConditional:
    """What every class-conditional model shares: the prior, labels, sampling, scoring."""

    _min_per_class = 2

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise ValueError(
                f"this {type(self).__name__} is not fitted yet: call fit(X, y) first"
            )

    def _check_params(self) -> None:
        if self.covariance not in self._allowed_covariances:
            raise ValueError(
                f"covariance must be one of {', '.join(map(repr, self._allowed_covariances))},"
                f" got {self.covariance!r}"
            )
        _check_reg(self.reg)

    def _split_classes(self, X, y, check_range: bool = True):
        """Validate (X, y); return the float32 images (n, 784), the classes, their counts and,
        per class, the indices of its rows (sorted)."""
        X = _check_images(X, check_range=check_range)
        y = _check_labels(y, len(X))
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 1:
            raise ValueError("y contains no labels")
        need = self._min_per_class
        few = classes[counts < need]
        if len(few):
            k = few[0]
            raise ValueError(
                f"class {k} has {int(counts[classes == k][0])} digit(s); "
                f"this model needs at least {need} per class"
            )
        order = np.argsort(y, kind="stable")
        rows = np.split(order, np.cumsum(counts)[:-1])  # indices only: no copy of X here
        return X, classes, counts, rows

    def _set_classes(self, classes: np.ndarray, counts: np.ndarray) -> None:
        """Set classes_, class_count_ and class_prior_ (once the fit has succeeded)."""
        self.classes_ = classes
        self.class_count_ = counts.astype(np.int64)
        self.class_prior_ = counts / counts.sum()

    def _class_index(self, y) -> int:
        self._check_fitted()
        if isinstance(y, (bool, np.bool_)) or not isinstance(y, (numbers.Integral, np.integer)):
            raise ValueError(f"y must be one class label (an integer), got {y!r}")
        hit = np.flatnonzero(self.classes_ == y)
        if not len(hit):
            raise ValueError(
                f"label {y} is not one of the fitted classes {self.classes_.tolist()}"
            )
        return int(hit[0])

    def _finish(self, images: np.ndarray, clip: bool) -> np.ndarray:
        images = images.reshape(len(images), *IMAGE_SHAPE)
        return np.clip(images, 0.0, 1.0, out=images) if clip else images

    def sample_labels(self, n_samples: int = 1, rng=None, prior: str = "learned") -> np.ndarray:
        """Draw class labels, shape (n_samples,), from the learned prior or uniformly."""
        self._check_fitted()
        n_samples = _check_n_samples(n_samples)
        if prior not in ("learned", "uniform"):
            raise ValueError(f"prior must be 'learned' or 'uniform', got {prior!r}")
        rng = np.random.default_rng(rng)
        p = self.class_prior_ if prior == "learned" else None
        return rng.choice(self.classes_, size=n_samples, p=p)

    def sample(self, n_samples: int = 1, rng=None, prior: str = "learned", clip: bool = True):
        """Draw labels from p(y) (or uniformly), then an image from p(x | y) for each.

        Returns
        -------
        Samples(images, labels) (the model protocol; unpacks as a pair):
        images float32 (n_samples, 28, 28), in [0, 1] unless ``clip=False``;
        labels int64 (n_samples,)
        """
        rng = np.random.default_rng(rng)
        labels = self.sample_labels(n_samples, rng, prior)
        images = np.empty((len(labels), N_PIXELS), np.float32)
        for k in np.unique(labels):
            rows = np.flatnonzero(labels == k)
            images[rows] = self._sample_class(self._class_index(k), len(rows), rng)[0]
        return Samples(self._finish(images, clip), labels)

    def class_log_likelihood(self, X) -> np.ndarray:
        """log p(x | y) for every image and class: float64 (n, n_classes)."""
        self._check_fitted()
        return self._class_log_likelihood(_check_images(X))

    def predict_joint_log_proba(self, X) -> np.ndarray:
        """log p(x, y) = log p(x | y) + log p(y): float64 (n, n_classes)."""
        with np.errstate(divide="ignore"):
            return self.class_log_likelihood(X) + np.log(self.class_prior_)

    def score_samples(self, X) -> np.ndarray:
        """log p(x) = log sum_y p(x | y) p(y) per image: float64 (n,)."""
        return _logsumexp(self.predict_joint_log_proba(X), axis=1)

    def predict_log_proba(self, X) -> np.ndarray:
        """log p(y | x): float64 (n, n_classes), columns in the order of ``classes_``."""
        joint = self.predict_joint_log_proba(X)
        return joint - _logsumexp(joint, axis=1)[:, None]

    def predict_proba(self, X) -> np.ndarray:
        """p(y | x): float64 (n, n_classes), rows sum to 1."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        """The Bayes classifier: argmax_y log p(x | y) + log p(y)."""
        joint = self.predict_joint_log_proba(X)
        return self.classes_[np.argmax(joint, axis=1)]


class ClassConditionalGaussian(_ClassConditional):
    """One Gaussian p(x | y) per digit class and a prior p(y) from label counts.

    Parameters
    ----------
    covariance : {"full", "diag", "pca"}
        ``"full"``: a full 784 x 784 covariance per class (the classic tutorials' model).
        ``"diag"``: independent pixels (naive Bayes). ``"pca"``: probabilistic PCA, a
        rank-``rank`` Gaussian in the class's principal subspace plus isotropic noise.
    reg : float >= 0
        Ridge added to every covariance's diagonal. The full covariances are singular
        (hundreds of border pixels never vary), so ``reg`` must be > 0 for ``"full"``;
        a large ridge paints noise of std ``sqrt(reg)`` on the always-black border.
    rank : int, optional
        Only for ``"pca"`` (default 20): the number of principal directions per class.

    Attributes
    ----------
    classes_ : int64 (n_classes,)
    class_count_ : int64 (n_classes,), training digits per class
    class_prior_ : float64 (n_classes,), count_k / n
    means_ : float32 (n_classes, 28, 28)
    """

    _allowed_covariances = _COVARIANCES

    def __init__(self, covariance: str = "full", reg: float = 1e-3, rank: int | None = None):
        self.covariance = covariance
        self.reg = reg
        self.rank = rank

    def _check_params(self) -> None:
        super()._check_params()
        if self.covariance == "full" and self.reg <= 0:
            raise ValueError("covariance='full' needs reg > 0: every class covariance of "
                             "MNIST is singular (border pixels never vary)")
        if self.rank is not None and self.covariance != "pca":
            raise ValueError("rank applies only to covariance='pca'")
        if self.covariance == "pca":
            r = self._rank()
            if isinstance(r, bool) or not isinstance(r, numbers.Integral) or not 1 <= r < N_PIXELS:
                raise ValueError(f"rank must be an integer in 1..{N_PIXELS - 1}, got {r!r}")

    def _rank(self):
        return DEFAULT_RANK if self.rank is None else self.rank

    def fit(self, X, y) -> ClassConditionalGaussian:
        """Learn p(y) and each class's Gaussian from images X (n, 28, 28) in [0, 1]."""
        self._check_params()
        full = self.covariance == "full"  # then each class's fit checks its pixels' range
        X, classes, counts, rows = self._split_classes(X, y, check_range=not full)
        names = [f"class {k}" for k in classes]
        rank = int(self._rank()) if self.covariance == "pca" else None
        self.gaussians_ = _fit_gaussians(X, rows, self.covariance, float(self.reg), rank, names)
        self._set_classes(classes, counts)
        # the means are float32 values (see _class_moments): means_ is exactly the model's
        self.means_ = self.gaussians_.means.astype(np.float32).reshape(-1, *IMAGE_SHAPE)
        return self

    def covariance_matrix(self, y) -> np.ndarray:
        """The regularised covariance of class ``y``: float64 (784, 784)."""
        return self.gaussians_.covariance(self._class_index(y))

    def _sample_class(self, j: int, n: int, rng):
        return self.gaussians_.sample(j, n, rng), None

    def _class_log_likelihood(self, X):
        return self.gaussians_.logpdf(X)

    def sample_given_y(self, y, n_samples: int = 1, rng=None, clip: bool = True) -> np.ndarray:
        """Draw ``n_samples`` images of class ``y``: float32 (n_samples, 28, 28).

        Values are clipped to [0, 1] (a Gaussian puts ~40% of pixel values outside);
        ``clip=False`` returns the raw draws.
        """
        j = self._class_index(y)
        n_samples = _check_n_samples(n_samples)
        rng = np.random.default_rng(rng)
        return self._finish(self._sample_class(j, n_samples, rng)[0], clip)


class ClassConditionalMixture(_ClassConditional):
    """A Gaussian mixture p(x | y) per digit class (scikit-learn's GaussianMixture, fit by EM).

    Each component captures one way of writing the digit, so samples are sharper than
    from a single Gaussian, whose mean blurs all styles together.

    Parameters
    ----------
    n_components : int, components per class
    covariance : {"full", "diag"}
    reg : float > 0, ridge added to each component covariance (GaussianMixture's reg_covar)
    max_iter, n_init, random_state : passed to GaussianMixture (random_state fixes EM's
        initialisation, so a refit gives the same model)

    Attributes
    ----------
    classes_, class_count_, class_prior_, means_ : as in :class:`ClassConditionalGaussian`
        (``means_`` is each class's overall mean, the weighted mean of its components)
    weights_ : float64 (n_classes, n_components), mixing weights within each class
    component_means_ : float32 (n_classes, n_components, 28, 28)
    """

    _allowed_covariances = ("full", "diag")

    def __init__(self, n_components: int = 3, covariance: str = "full", reg: float = 1e-3,
                 max_iter: int = 100, n_init: int = 1, random_state: int | None = 0):
        self.n_components = n_components
        self.covariance = covariance
        self.reg = reg
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        if self.reg <= 0:
            raise ValueError("a mixture needs reg > 0: component covariances are singular")
        m = self.n_components
        if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
            raise ValueError(f"n_components must be a positive integer, got {m!r}")
        self._min_per_class = max(2, int(m))

    def fit(self, X, y) -> ClassConditionalMixture:
        """Learn p(y) and, by EM, a mixture of Gaussians for each class."""
        self._check_params()
        X, classes, counts, rows = self._split_classes(X, y)
        m = int(self.n_components)
        means, covs, weights = [], [], []
        if self.covariance == "full" and self.n_init == 1:
            fits = _parallel_map(
                lambda r, k: _em_full_class(X, r, m, float(self.reg), int(self.max_iter), 1e-3,
                                            self.random_state, f"class {k}"), rows, classes)
            weights = [w for w, _, _ in fits]
            means = np.concatenate([mu for _, mu, _ in fits])
            factors = [f for _, _, fs in fits for f in fs]
            self.gaussians_ = _Gaussians("full", means, factors)
        else:
            from sklearn.mixture import GaussianMixture  # slow to import: only when fitting

            for r in rows:
                gm = GaussianMixture(m, covariance_type=self.covariance,
                                     reg_covar=float(self.reg), max_iter=self.max_iter,
                                     n_init=self.n_init, random_state=self.random_state)
                gm.fit(X[r].astype(np.float64))
                means.append(gm.means_)
                covs.append(gm.covariances_)
                weights.append(gm.weights_)
            means = np.concatenate(means)
        names = [f"component {i} of class {k}" for k in classes for i in range(m)]
        if self.covariance == "full" and self.n_init != 1:
            # GaussianMixture's covariances already include reg_covar
            self.gaussians_ = _Gaussians.full(means, np.concatenate(covs), 0.0, names)
        elif self.covariance == "diag":
            var = np.concatenate(covs)
            self.gaussians_ = _Gaussians("diag", means, var=var,
                                         sd32=np.sqrt(var).astype(np.float32))
        self.weights_ = np.stack(weights)
        self.component_means_ = means.astype(np.float32).reshape(len(classes), m,
                                                                 *IMAGE_SHAPE)
        self.means_ = np.einsum("km,kmd->kd", self.weights_, means.reshape(len(rows), m, -1))
        self.means_ = self.means_.astype(np.float32).reshape(-1, *IMAGE_SHAPE)
        self._set_classes(classes, counts)
        return self

    def covariance_matrix(self, y, component: int) -> np.ndarray:
        """The covariance of one component of class ``y``: float64 (784, 784)."""
        j = self._class_index(y)
        if not 0 <= component < self.weights_.shape[1]:
            raise ValueError(f"component must be in 0..{self.weights_.shape[1] - 1}")
        return self.gaussians_.covariance(j * self.weights_.shape[1] + component)

    def _sample_class(self, j: int, n: int, rng):
        m = self.weights_.shape[1]
        comps = rng.choice(m, size=n, p=self.weights_[j])
        out = np.empty((n, N_PIXELS), np.float32)
        for c in np.unique(comps):
            rows = np.flatnonzero(comps == c)
            out[rows] = self.gaussians_.sample(j * m + c, len(rows), rng)
        return out, comps

    def _class_log_likelihood(self, X):
        m = self.weights_.shape[1]
        logpdf = self.gaussians_.logpdf(X).reshape(len(X), len(self.classes_), m)
        with np.errstate(divide="ignore"):
            return _logsumexp(logpdf + np.log(self.weights_), axis=2)

    def sample_given_y(self, y, n_samples: int = 1, rng=None, clip: bool = True,
                       return_components: bool = False):
        """Draw ``n_samples`` images of class ``y``: float32 (n_samples, 28, 28).

        With ``return_components=True`` also returns, for each image, the index of the
        component it came from (int64 (n_samples,)): ``component_means_[j][that]``.
        """
        j = self._class_index(y)
        n_samples = _check_n_samples(n_samples)
        rng = np.random.default_rng(rng)
        images, comps = self._sample_class(j, n_samples, rng)
        images = self._finish(images, clip)
        return (images, comps.astype(np.int64)) if return_components else images


# ----------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class ClassifierReport:
    """A class-conditional model used as a classifier on labelled images.

    accuracy : float; confusion : int64 (n_classes, n_classes), rows = true class,
    columns = predicted, in the order of ``classes``; predictions : (n,);
    log_likelihood : float64 (n, n_classes), log p(x | y) for every image and class.
    """

    accuracy: float
    confusion: np.ndarray
    classes: np.ndarray
    predictions: np.ndarray
    log_likelihood: np.ndarray


def evaluate_classifier(model: _ClassConditional, X, y) -> ClassifierReport:
    """Accuracy, confusion matrix and per-class log-likelihoods of ``model`` on (X, y)."""
    model._check_fitted()
    X = _check_images(X)
    y = _check_labels(y, len(X))
    unknown = np.setdiff1d(y, model.classes_)
    if len(unknown):
        raise ValueError(f"label {unknown[0]} is not one of the fitted classes "
                         f"{model.classes_.tolist()}")
    loglik = model._class_log_likelihood(X)
    with np.errstate(divide="ignore"):
        pred = model.classes_[np.argmax(loglik + np.log(model.class_prior_), axis=1)]
    k = len(model.classes_)
    true_i = np.searchsorted(model.classes_, y)
    pred_i = np.searchsorted(model.classes_, pred)
    confusion = np.bincount(true_i * k + pred_i, minlength=k * k).reshape(k, k)
    return ClassifierReport(float(np.mean(pred == y)), confusion, model.classes_.copy(),
                            pred, loglik)


def drop_class_share(labels, label: int, share: float, rng=0) -> np.ndarray:
    """Indices that keep every digit except a random ``share`` of class ``label``'s.

    A fixed ``rng`` (default 0) drops the same digits every time. Returns sorted indices.
    """
    labels = np.asarray(labels)
    if isinstance(share, bool) or not isinstance(share, numbers.Real) or not 0 <= share <= 1:
        raise ValueError(f"share must be a number in [0, 1], got {share!r}")
    rows = np.flatnonzero(labels == label)
    n_drop = int(round(share * len(rows)))
    dropped = np.random.default_rng(rng).permutation(rows)[:n_drop]
    return np.setdiff1d(np.arange(len(labels)), dropped)


def cap_per_class(labels, n_max: int, rng=0) -> np.ndarray:
    """Sorted indices keeping at most ``n_max`` random digits of each class (fixed by ``rng``).

    EM for a full-covariance mixture in 784 dimensions is slow; a cap keeps a refit short.
    """
    labels = np.asarray(labels)
    if isinstance(n_max, bool) or not isinstance(n_max, numbers.Integral) or n_max < 1:
        raise ValueError(f"n_max must be a positive integer, got {n_max!r}")
    rng = np.random.default_rng(rng)
    keep = [rng.permutation(np.flatnonzero(labels == k))[:n_max] for k in np.unique(labels)]
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)
