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
The numerics (factors, EM, densities) are in :mod:`genlib.gaussian_math`. Only numpy is
imported here; scipy and scikit-learn are imported when needed.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from genlib.gaussian_math import (
    IMAGE_SHAPE,
    N_PIXELS,
    _check_images,
    _check_labels,
    _check_n_samples,
    _check_reg,
    _em_full_class,
    _em_ppca_class,
    _fit_gaussians,
    _Gaussians,
    _logsumexp,
    _parallel_map,
)
from genlib.protocol import Samples

__all__ = [
    "ClassConditionalGaussian",
    "ClassConditionalMixture",
    "ClassifierReport",
    "evaluate_classifier",
    "drop_class_share",
    "cap_per_class",
]

_COVARIANCES = ("full", "diag", "pca")
DEFAULT_RANK = 20


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
    covariance : {"full", "diag", "pca"}
        ``"pca"``: each component is probabilistic PCA of rank ``rank`` (a mixture of factor
        analysers with isotropic noise, fitted by its own EM; Richardson and Weiss, "On GANs
        and GMMs", 2018, drew sharp MNIST digits from one).
    reg : float > 0, ridge added to each component covariance (GaussianMixture's reg_covar)
    max_iter, n_init, random_state : EM's limits and k-means seed (scikit-learn's meaning;
        random_state fixes the initialisation, so a refit gives the same model)
    rank : int, only for ``"pca"`` (default 20): factors per component
    sample_noise : bool, only for ``"pca"``: False draws ``mu + W z``, the mean of a digit
        given its factors z (as the VAE and GAN pages show their decoders' means), without
        the isotropic pixel noise; densities always include it

    Attributes
    ----------
    classes_, class_count_, class_prior_, means_ : as in :class:`ClassConditionalGaussian`
        (``means_`` is each class's overall mean, the weighted mean of its components)
    weights_ : float64 (n_classes, n_components), mixing weights within each class
    component_means_ : float32 (n_classes, n_components, 28, 28)
    """

    _allowed_covariances = ("full", "diag", "pca")

    def __init__(self, n_components: int = 3, covariance: str = "full", reg: float = 1e-3,
                 max_iter: int = 100, n_init: int = 1, random_state: int | None = 0,
                 rank: int | None = None, sample_noise: bool = True):
        self.n_components = n_components
        self.covariance = covariance
        self.reg = reg
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state
        self.rank = rank
        self.sample_noise = sample_noise

    def _check_params(self) -> None:
        super()._check_params()
        if self.reg <= 0:
            raise ValueError("a mixture needs reg > 0: component covariances are singular")
        m = self.n_components
        if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
            raise ValueError(f"n_components must be a positive integer, got {m!r}")
        self._min_per_class = max(2, int(m))
        if self.covariance == "pca":
            r = DEFAULT_RANK if self.rank is None else self.rank
            if isinstance(r, bool) or not isinstance(r, numbers.Integral) or not 1 <= r < N_PIXELS:
                raise ValueError(f"rank must be an integer in 1..{N_PIXELS - 1}, got {r!r}")
        elif self.rank is not None:
            raise ValueError("rank applies only to covariance='pca'")
        if not self.sample_noise and self.covariance != "pca":
            raise ValueError("sample_noise=False applies only to covariance='pca' (a factor "
                             "model's mean given its factors)")

    def fit(self, X, y) -> ClassConditionalMixture:
        """Learn p(y) and, by EM, a mixture of Gaussians for each class."""
        self._check_params()
        X, classes, counts, rows = self._split_classes(X, y)
        m = int(self.n_components)
        means, covs, weights = [], [], []
        if self.covariance == "pca":
            rank = DEFAULT_RANK if self.rank is None else int(self.rank)
            fits = _parallel_map(
                lambda r, k: _em_ppca_class(X, r, m, rank, float(self.reg), int(self.max_iter),
                                            1e-3, self.random_state, f"class {k}"),
                rows, classes)
            weights = [f[0] for f in fits]
            means = np.concatenate([f[1] for f in fits])
            U = np.concatenate([f[2] for f in fits])
            lam = np.concatenate([f[3] for f in fits])
            noise = np.concatenate([f[4] for f in fits])
            W32 = (U * np.sqrt(lam - noise[:, None])[:, None, :]).astype(np.float32)
            self.gaussians_ = _Gaussians("pca", means, U=U, lam=lam, noise=noise, W32=W32)
        elif self.covariance == "full" and self.n_init == 1:
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
        elif self.covariance == "diag":  # (pca was set above)
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
            out[rows] = self.gaussians_.sample(j * m + c, len(rows), rng,
                                               noise=bool(self.sample_noise))
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
