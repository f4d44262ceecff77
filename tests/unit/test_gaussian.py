"""genlib.gaussian: class-conditional Gaussians and mixtures, checked against scipy and sklearn."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from genlib.gaussian import (
    ClassConditionalGaussian,
    ClassConditionalMixture,
    drop_class_share,
    evaluate_classifier,
)

KINDS = [("full", None), ("diag", None), ("pca", 10)]


@pytest.fixture(scope="module")
def small(mnist):
    """Three classes, 120 training digits each: enough for every model, fast to fit."""
    keep = np.concatenate([np.flatnonzero(mnist.train.labels == k)[:120] for k in (1, 3, 7)])
    return mnist.train.images[keep], mnist.train.labels[keep]


@pytest.fixture(scope="module")
def models(mnist):
    X, y = mnist.train.images, mnist.train.labels
    return {kind: ClassConditionalGaussian(kind, reg=1e-3, rank=rank).fit(X, y)
            for kind, rank in KINDS}


@pytest.fixture(scope="module")
def mixture(small):
    return ClassConditionalMixture(n_components=2, covariance="full", reg=1e-2).fit(*small)


# ----------------------------------------------------------------------------- fitting


@pytest.mark.parametrize("call", [
    lambda m: m.sample_given_y(0, 3),
    lambda m: m.sample(3),
    lambda m: m.predict(np.zeros((1, 28, 28))),
    lambda m: m.score_samples(np.zeros((1, 28, 28))),
], ids=["sample_given_y", "sample", "predict", "score_samples"])
@pytest.mark.parametrize("cls", [ClassConditionalGaussian, ClassConditionalMixture])
def test_unfitted_model_raises_clear_error(cls, call):
    """Any use before fit raises a ValueError that says to call fit."""
    with pytest.raises(ValueError, match="not fitted yet"):
        call(cls())


def test_fit_learns_prior_means_and_classes(mnist, models):
    """classes_, class_prior_ = count / n and means_ match the training data."""
    X, y = mnist.train.images, mnist.train.labels
    model = models["full"]
    np.testing.assert_array_equal(model.classes_, np.arange(10))
    np.testing.assert_allclose(model.class_prior_, np.bincount(y) / len(y))
    assert model.means_.shape == (10, 28, 28) and model.means_.dtype == np.float32
    np.testing.assert_allclose(model.means_[4], X[y == 4].mean(0, dtype=np.float64), atol=1e-7)


def test_full_covariance_is_sample_covariance_plus_ridge(mnist, models):
    """covariance='full' stores np.cov of the class plus reg on the diagonal."""
    X, y = mnist.train.flat(), mnist.train.labels
    expected = np.cov(X[y == 6].astype(np.float64), rowvar=False) + 1e-3 * np.eye(784)
    np.testing.assert_allclose(models["full"].covariance_matrix(6), expected, atol=2e-6)


def test_drop_class_share_shifts_learned_prior(mnist):
    """Dropping 90% of the 3s divides their count by 10 and the prior follows."""
    X, y = mnist.train.images, mnist.train.labels
    keep = drop_class_share(y, 3, 0.9)
    assert np.sum(y[keep] == 3) == round(0.1 * np.sum(y == 3))
    assert np.array_equal(keep, drop_class_share(y, 3, 0.9))
    model = ClassConditionalGaussian("diag").fit(X[keep], y[keep])
    np.testing.assert_allclose(model.class_prior_, np.bincount(y[keep]) / len(keep))


# ----------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("kind", [k for k, _ in KINDS])
def test_sample_moments_match_fitted_gaussian(models, kind):
    """Mean and covariance of 20,000 unclipped draws match the class's fitted ones."""
    model = models[kind]
    n = 20_000
    draws = model.sample_given_y(8, n, rng=0, clip=False).reshape(n, -1).astype(np.float64)
    mu, C = model.means_[8].ravel().astype(np.float64), model.covariance_matrix(8)
    sd = np.sqrt(np.diag(C))
    assert np.all(np.abs(draws.mean(0) - mu) < 5 * sd / np.sqrt(n) + 1e-6)
    emp = np.cov(draws, rowvar=False)
    # the standard error of a sample covariance entry is sqrt((C_ii C_jj + C_ij^2) / n)
    se = np.sqrt((np.outer(sd**2, sd**2) + C**2) / n)
    assert np.max(np.abs(emp - C) / se) < 6


@pytest.mark.parametrize("n", [1, 2, 7, 100])
@pytest.mark.parametrize("kind", [k for k, _ in KINDS])
def test_samples_are_float32_images_in_unit_range(models, kind, n):
    """sample_given_y and sample give float32 (n, 28, 28) in [0, 1] and int labels."""
    model = models[kind]
    images = model.sample_given_y(5, n, rng=1)
    assert images.shape == (n, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    images, labels = model.sample(n, rng=1)
    assert images.shape == (n, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    assert labels.shape == (n,) and set(labels) <= set(range(10))


def test_unclipped_samples_leave_unit_range(models):
    """clip=False returns the raw Gaussian draws, many of them outside [0, 1]."""
    images = models["full"].sample_given_y(0, 50, rng=2, clip=False)
    assert images.min() < 0 and images.max() > 1


@pytest.mark.parametrize("kind", [k for k, _ in KINDS])
def test_same_seed_repeats_and_generator_draws_fresh(models, kind):
    """An int seed repeats a draw; one Generator used twice gives different draws."""
    model = models[kind]
    np.testing.assert_array_equal(model.sample_given_y(2, 4, rng=7),
                                  model.sample_given_y(2, 4, rng=7))
    gen = np.random.default_rng(7)
    assert not np.array_equal(model.sample_given_y(2, 4, rng=gen),
                              model.sample_given_y(2, 4, rng=gen))
    a, la = model.sample(12, rng=3)
    b, lb = model.sample(12, rng=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)


def test_sample_labels_follow_learned_or_uniform_prior(mnist):
    """Labels drawn from the learned prior follow an imbalance; uniform ones ignore it."""
    X, y = mnist.train.images, mnist.train.labels
    keep = drop_class_share(y, 0, 0.95)
    model = ClassConditionalGaussian("diag").fit(X[keep], y[keep])
    n = 50_000
    learned = np.bincount(model.sample_labels(n, rng=0), minlength=10) / n
    uniform = np.bincount(model.sample_labels(n, rng=0, prior="uniform"), minlength=10) / n
    np.testing.assert_allclose(learned, model.class_prior_, atol=0.006)
    np.testing.assert_allclose(uniform, 0.1, atol=0.006)


def test_sample_images_match_their_labels(models):
    """In sample(), each image comes from the class of its label (the Bayes rule agrees)."""
    images, labels = models["pca"].sample(200, rng=4, clip=False)
    assert np.mean(models["pca"].predict(np.clip(images, 0, 1)) == labels) > 0.9


# ----------------------------------------------------------------------------- densities


@pytest.mark.parametrize("kind", [k for k, _ in KINDS])
def test_log_likelihood_matches_scipy_logpdf(mnist, models, kind):
    """class_log_likelihood and score_samples agree with scipy's logpdf (relative 1e-6)."""
    model = models[kind]
    X = mnist.test.images[:40]
    ours = model.class_log_likelihood(X)
    ref = np.stack([multivariate_normal(model.means_[k].ravel().astype(np.float64),
                                        model.covariance_matrix(k)).logpdf(X.reshape(40, -1))
                    for k in model.classes_], axis=1)
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    np.testing.assert_allclose(model.score_samples(X),
                               logsumexp(ref + np.log(model.class_prior_), axis=1), rtol=1e-6)


@pytest.mark.parametrize("kind", [k for k, _ in KINDS])
def test_predict_is_argmax_of_joint_log_density(mnist, models, kind):
    """predict = argmax log p(x|y) + log p(y); predict_proba is its normalised exp."""
    model = models[kind]
    X = mnist.test.images
    joint = model.class_log_likelihood(X) + np.log(model.class_prior_)
    np.testing.assert_array_equal(model.predict(X), model.classes_[joint.argmax(1)])
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_allclose(proba, np.exp(joint - logsumexp(joint, axis=1, keepdims=True)))


def test_evaluate_classifier_reports_accuracy_and_confusion(mnist, models):
    """The report's accuracy and confusion matrix agree with predict on the same digits."""
    report = evaluate_classifier(models["pca"], mnist.test.images, mnist.test.labels)
    pred = models["pca"].predict(mnist.test.images)
    assert report.accuracy == pytest.approx(np.mean(pred == mnist.test.labels))
    assert report.accuracy > 0.9  # a PCA Gaussian per class is a decent classifier
    assert report.confusion.sum() == len(pred)
    assert np.trace(report.confusion) == np.sum(pred == mnist.test.labels)
    np.testing.assert_array_equal(report.confusion.sum(1), np.bincount(mnist.test.labels))


# ----------------------------------------------------------------------------- mixtures


def test_mixture_matches_sklearn_gaussian_mixture(small, mixture):
    """Each class's mixture is exactly a GaussianMixture fit on that class's digits."""
    from sklearn.mixture import GaussianMixture

    X, y = small
    Xk = X[y == 7].reshape(-1, 784).astype(np.float64)
    gm = GaussianMixture(2, covariance_type="full", reg_covar=1e-2, random_state=0).fit(Xk)
    j = int(np.flatnonzero(mixture.classes_ == 7)[0])
    np.testing.assert_allclose(mixture.weights_[j], gm.weights_)
    np.testing.assert_allclose(mixture.component_means_[j].reshape(2, -1), gm.means_, atol=1e-6)
    np.testing.assert_allclose(mixture.covariance_matrix(7, 1), gm.covariances_[1], atol=1e-6)
    X30 = X[:30].reshape(30, -1).astype(np.float64)  # float32 would make sklearn score in float32
    # EM runs in float32 BLAS (10x faster): log-densities of hundreds of nats agree to 0.01
    np.testing.assert_allclose(mixture.class_log_likelihood(X30)[:, j], gm.score_samples(X30),
                               rtol=1e-5, atol=1e-2)


def test_full_mixture_matches_sklearn_on_three_components_of_real_digits(mnist):
    """On 300 real 3s, three components: sklearn's weights, means and held-out densities."""
    from sklearn.mixture import GaussianMixture

    tr = mnist.train
    X, y = tr.images[tr.labels == 3][:300], np.full(300, 3)
    ours = ClassConditionalMixture(3, "full", 1e-3).fit(X, y)
    gm = GaussianMixture(3, covariance_type="full", reg_covar=1e-3, random_state=0).fit(
        X.reshape(300, -1).astype(np.float64))
    np.testing.assert_allclose(ours.weights_[0], gm.weights_)
    np.testing.assert_allclose(ours.component_means_[0].reshape(3, -1), gm.means_, atol=1e-6)
    Xt = mnist.test.images[mnist.test.labels == 3][:20]
    np.testing.assert_allclose(ours.class_log_likelihood(Xt)[:, 0],
                               gm.score_samples(Xt.reshape(20, -1).astype(np.float64)),
                               rtol=1e-4, atol=0.1)


def test_mixture_components_drawn_by_weight_with_component_means(mixture):
    """Components are drawn with the mixing weights; each one's draws centre on its mean."""
    n = 20_000
    images, comps = mixture.sample_given_y(3, n, rng=0, clip=False, return_components=True)
    assert images.shape == (n, 28, 28) and comps.shape == (n,)
    j = int(np.flatnonzero(mixture.classes_ == 3)[0])
    np.testing.assert_allclose(np.bincount(comps, minlength=2) / n, mixture.weights_[j],
                               atol=0.015)
    for c in range(2):
        sd = np.sqrt(np.diag(mixture.covariance_matrix(3, c)))
        err = np.abs(images[comps == c].mean(0).ravel() - mixture.component_means_[j, c].ravel())
        assert np.all(err < 5 * sd / np.sqrt(np.sum(comps == c)) + 1e-6)


def test_mixture_predict_and_sample_shapes(small, mixture):
    """The mixture classifies its training classes well and samples (images, labels)."""
    X, y = small
    assert np.mean(mixture.predict(X) == y) > 0.95
    images, labels = mixture.sample(9, rng=0)
    assert images.shape == (9, 28, 28) and images.dtype == np.float32
    assert set(labels) <= {1, 3, 7}


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("X, y, match", [
    (np.zeros((10, 27, 27)), np.zeros(10), "shape"),
    (np.zeros((10, 100)), np.zeros(10), "shape"),
    (np.zeros((0, 784)), np.zeros(0), "no images"),
    (np.zeros((10, 784)), np.zeros(9), "one label per image"),
    (np.full((10, 784), 255.0), np.zeros(10), "divide 0-255"),
    (np.full((10, 784), np.nan), np.zeros(10), "NaN"),
    (np.zeros((10, 784)), np.full(10, 0.5), "integer"),
    (np.zeros((4, 784)), np.array([0, 0, 0, 1]), "class 1 has 1 digit"),
])
def test_fit_rejects_bad_data(X, y, match):
    """Wrong shapes, ranges, labels or a too-small class raise a clear ValueError."""
    with pytest.raises(ValueError, match=match):
        ClassConditionalGaussian("diag").fit(X, y)


@pytest.mark.parametrize("params, match", [
    (dict(covariance="spherical"), "covariance must be one of"),
    (dict(reg=-1.0), "reg must be >= 0"),
    (dict(covariance="full", reg=0.0), "needs reg > 0"),
    (dict(covariance="full", rank=5), "rank applies only"),
    (dict(covariance="pca", rank=0), "rank must be"),
    (dict(covariance="pca", rank=784), "rank must be"),
])
def test_gaussian_rejects_bad_parameters(small, params, match):
    """Unknown covariance, negative or zero ridge, misplaced or bad rank: clear errors."""
    with pytest.raises(ValueError, match=match):
        ClassConditionalGaussian(**params).fit(*small)


def test_mixture_needs_enough_digits_per_class(small):
    """A class with fewer digits than components is refused before EM runs."""
    X, y = small
    keep = np.concatenate([np.flatnonzero(y != 7), np.flatnonzero(y == 7)[:3]])
    with pytest.raises(ValueError, match="class 7 has 3 digit"):
        ClassConditionalMixture(n_components=4).fit(X[keep], y[keep])


@pytest.mark.parametrize("call, match", [
    (lambda m: m.sample_given_y(11, 3), "not one of the fitted classes"),
    (lambda m: m.sample_given_y(2.5, 3), "one class label"),
    (lambda m: m.sample_given_y(2, 0), "n_samples must be >= 1"),
    (lambda m: m.sample_given_y(2, -4), "n_samples must be >= 1"),
    (lambda m: m.sample_given_y(2, 1.5), "positive integer"),
    (lambda m: m.sample(0), "n_samples must be >= 1"),
    (lambda m: m.sample(3, prior="flat"), "prior must be"),
    (lambda m: m.predict(np.zeros((2, 784 + 1))), "shape"),
    (lambda m: evaluate_classifier(m, np.zeros((1, 784)), [12]), "not one of the fitted"),
])
def test_bad_calls_after_fit_raise_clear_errors(models, call, match):
    """Unknown labels, n_samples <= 0, a bad prior or image shape: clear ValueErrors."""
    with pytest.raises(ValueError, match=match):
        call(models["diag"])


def test_import_does_not_load_sklearn_or_tensorflow():
    """import genlib.gaussian stays cheap: scikit-learn and TensorFlow load only when needed."""
    code = ("import sys, genlib.gaussian; "
            "print(any(m.split('.')[0] in ('sklearn', 'tensorflow') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- compact factors
# A full covariance is stored as the Cholesky factor of the block of pixels that vary in the
# class ("active"); the others ("inactive") have variance reg and no covariance.


def test_full_model_keeps_compact_factors_of_active_pixels(mnist, models):
    """Each class stores a factor only for its varying pixels; the rest are exactly reg * I."""
    X, y = mnist.train.flat(), mnist.train.labels
    model = models["full"]
    for k in (0, 1, 6):
        f = model.gaussians_.factors[k]
        Xk = X[y == k]
        varies = Xk.max(0) > Xk.min(0)
        np.testing.assert_array_equal(f.active, np.flatnonzero(varies))
        np.testing.assert_array_equal(f.inactive, np.flatnonzero(~varies))
        assert 200 < len(f.inactive) < 450 and f.L.shape == (len(f.active),) * 2
        C = model.covariance_matrix(k)
        expected = np.cov(Xk.astype(np.float64), rowvar=False) + 1e-3 * np.eye(784)
        np.testing.assert_allclose(C, expected, atol=2e-6)
        # the never-varying pixels: exactly the ridge, and exactly no covariance
        np.testing.assert_array_equal(np.diag(C)[f.inactive], 1e-3)
        off = C[f.inactive] - np.diag(np.diag(C))[f.inactive]
        assert not off.any()
        # and their mean is exactly their constant value
        np.testing.assert_array_equal(model.means_[k].ravel()[f.inactive], Xk[0, f.inactive])


def test_inactive_pixels_sample_with_variance_reg(mnist):
    """Never-varying pixels get independent noise of variance reg around their value."""
    X, y = mnist.train.images, mnist.train.labels
    model = ClassConditionalGaussian("full", reg=1e-2).fit(X, y)
    f = model.gaussians_.factors[4]
    n = 20_000
    draws = model.sample_given_y(4, n, rng=0, clip=False).reshape(n, -1).astype(np.float64)
    inactive = draws[:, f.inactive]
    np.testing.assert_allclose(inactive.var(0).mean(), 1e-2, rtol=0.01)
    assert np.all(np.abs(inactive.var(0) / 1e-2 - 1) < 6 * np.sqrt(2 / n))
    mu = model.means_[4].ravel()[f.inactive]
    assert np.all(np.abs(inactive.mean(0) - mu) < 6 * np.sqrt(1e-2 / n))
    # uncorrelated with the varying pixels
    corr = (inactive[:, :20] - mu[:20]).T @ (draws[:, f.active[:50]] - draws[:, f.active[:50]]
                                             .mean(0)) / n
    sd = np.sqrt(1e-2 * draws[:, f.active[:50]].var(0))
    assert np.max(np.abs(corr / sd)) < 6 / np.sqrt(n)


def test_every_pixel_varying_and_constant_nonzero_pixels():
    """A class whose pixels all vary, and one with a pixel stuck at 0.5: exact moments and
    log-densities either way."""
    rng = np.random.default_rng(0)
    X = rng.random((600, 784)).astype(np.float32)
    y = np.repeat([0, 1], 300)
    X[y == 1, 5] = 0.5  # never varies in class 1, at a value other than 0
    model = ClassConditionalGaussian("full", reg=1e-3).fit(X, y)
    f0, f1 = model.gaussians_.factors
    assert len(f0.active) == 784 and len(f0.inactive) == 0
    np.testing.assert_array_equal(f1.inactive, [5])
    assert model.means_[1].ravel()[5] == np.float32(0.5)
    for k in (0, 1):
        expected = np.cov(X[y == k].astype(np.float64), rowvar=False) + 1e-3 * np.eye(784)
        np.testing.assert_allclose(model.covariance_matrix(k), expected, atol=2e-6)
    ours = model.class_log_likelihood(X[::50])
    ref = np.stack([multivariate_normal(model.means_[k].ravel().astype(np.float64),
                                        model.covariance_matrix(k)).logpdf(X[::50])
                    for k in (0, 1)], axis=1)
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_zero_ridge_with_never_varying_pixels_is_a_clear_error():
    """Without a ridge, a pixel of zero variance makes the covariance singular: say so."""
    from genlib.gaussian_math import _Gaussians

    rng = np.random.default_rng(1)
    B = rng.normal(size=(50, 784))
    B[:, :10] = 0.0  # ten pixels that never vary
    C = np.cov(B, rowvar=False)
    with pytest.raises(ValueError, match="singular.*use a ridge"):
        _Gaussians.full(np.zeros((1, 784)), [C], 0.0, ["component 0 of class 3"])
    # with every variance positive (as in scikit-learn's, which include reg_covar), reg 0 works
    g = _Gaussians.full(np.zeros((1, 784)), [C + 1e-3 * np.eye(784)], 0.0, ["c"])
    np.testing.assert_allclose(g.covariance(0), C + 1e-3 * np.eye(784), atol=1e-12)


def test_float32_cholesky_failure_falls_back_to_float64(mnist, monkeypatch):
    """If the float32 factorisation fails (rounding), the class is refactorised in float64 and
    the model stays exact: densities match scipy on its covariance."""
    import genlib.gaussian_math as gm

    real = gm._potrf
    monkeypatch.setattr(gm, "_potrf",
                        lambda C, overwrite=False: None if C.dtype == np.float32
                        else real(C, overwrite))
    X, y = mnist.train.images, mnist.train.labels
    keep = np.isin(y, (2, 5))
    model = ClassConditionalGaussian("full", reg=1e-3).fit(X[keep], y[keep])
    assert all(f.L.dtype == np.float64 and f.L32.dtype == np.float32
               for f in model.gaussians_.factors)
    Xt = mnist.test.images[:20]
    ref = np.stack([multivariate_normal(model.means_[j].ravel().astype(np.float64),
                                        model.covariance_matrix(k)).logpdf(Xt.reshape(20, -1))
                    for j, k in enumerate(model.classes_)], axis=1)
    np.testing.assert_allclose(model.class_log_likelihood(Xt), ref, rtol=1e-6)
    assert model.sample_given_y(5, 3, rng=0).shape == (3, 28, 28)


@pytest.mark.parametrize("X, match", [
    (np.full((10, 784), 255.0), "divide 0-255"),
    (np.full((10, 784), np.nan), "NaN"),
    (np.full((10, 784), -np.inf), "infinite"),
])
def test_full_fit_checks_pixel_range_per_class(X, match):
    """covariance='full' checks the range while fitting each class: the same clear errors,
    and a failed fit leaves the model unfitted."""
    model = ClassConditionalGaussian("full")
    with pytest.raises(ValueError, match=match):
        model.fit(X, np.repeat([0, 1], 5))
    with pytest.raises(ValueError, match="not fitted yet"):
        model.sample_given_y(0, 1)


def test_fit_is_deterministic_across_threads(mnist):
    """Classes are fitted side by side on threads: two fits give identical models."""
    X, y = mnist.train.images, mnist.train.labels
    a = ClassConditionalGaussian("full").fit(X, y).gaussians_
    b = ClassConditionalGaussian("full").fit(X, y).gaussians_
    np.testing.assert_array_equal(a.means, b.means)
    for fa, fb in zip(a.factors, b.factors):
        np.testing.assert_array_equal(fa.L, fb.L)



# ----------------------------------------------------------------------------- factor analysers


@pytest.fixture(scope="module")
def ppca(small):
    return ClassConditionalMixture(2, "pca", rank=5, reg=1e-3).fit(*small)


def test_one_component_ppca_is_the_top_eigenvectors_of_the_ml_covariance(mnist):
    """k = 1: the factors span the class covariance's top eigenvectors (numpy's eigh), the
    eigenvalues match, and the noise is the mean discarded variance (Tipping and Bishop)."""
    X = mnist.train.images[mnist.train.labels == 4][:200]
    model = ClassConditionalMixture(1, "pca", rank=6, reg=1e-4).fit(X, np.full(200, 4))
    C = np.cov(X.reshape(200, -1).astype(np.float64), rowvar=False, bias=True)
    lam, V = np.linalg.eigh(C)
    p = model.gaussians_.params
    np.testing.assert_allclose(p["lam"][0], lam[::-1][:6] + 1e-4, rtol=1e-6)
    P_model = p["U"][0] @ p["U"][0].T
    P_ref = V[:, -6:] @ V[:, -6:].T
    np.testing.assert_allclose(P_model, P_ref, atol=1e-6)
    np.testing.assert_allclose(p["noise"][0], lam[:-6].sum() / (784 - 6) + 1e-4, rtol=1e-6)


def test_ppca_mixture_density_matches_scipy_on_its_covariances(ppca, small):
    """Each class density is the weighted sum of the components' normal densities (scipy)."""
    X, y = small
    Xt = X[:8].reshape(8, -1).astype(np.float64)
    j = 1
    comps = [multivariate_normal(ppca.gaussians_.means[j * 2 + c],
                                 ppca.gaussians_.covariance(j * 2 + c)).logpdf(Xt)
             for c in range(2)]
    ref = np.logaddexp(comps[0] + np.log(ppca.weights_[j, 0]),
                       comps[1] + np.log(ppca.weights_[j, 1]))
    np.testing.assert_allclose(ppca.class_log_likelihood(X[:8])[:, j], ref, rtol=1e-7)


def test_sharp_ppca_samples_lie_in_their_components_subspace(small):
    """sample_noise=False draws mu + W z: nothing off the component's factor subspace."""
    model = ClassConditionalMixture(2, "pca", rank=5, sample_noise=False).fit(*small)
    k = int(model.classes_[0])
    x, comps = model.sample_given_y(k, 50, rng=0, clip=False, return_components=True)
    for c in range(2):
        g = model.gaussians_
        R = x[comps == c].reshape(-1, 784).astype(np.float64) - g.means[c]
        U = g.params["U"][c]
        off = R - (R @ U) @ U.T
        assert np.abs(off).max() < 1e-4


def test_noisy_ppca_samples_have_the_model_covariance(ppca):
    """With its noise, many draws of one component have the factor variances lam along U and
    the noise variance everywhere else."""
    g = ppca.gaussians_
    x = g.sample(0, 20000, np.random.default_rng(3)).astype(np.float64) - g.means[0]
    U, lam, noise = g.params["U"][0], g.params["lam"][0], g.params["noise"][0]
    np.testing.assert_allclose(((x @ U) ** 2).mean(0), lam, rtol=0.05)
    off = x - (x @ U) @ U.T
    np.testing.assert_allclose((off**2).sum(1).mean() / (784 - len(lam)), noise, rtol=0.02)


@pytest.mark.parametrize("params, match", [
    ({"covariance": "full", "rank": 5}, "rank applies only"),
    ({"covariance": "diag", "sample_noise": False}, "sample_noise=False applies only"),
    ({"covariance": "pca", "rank": 0}, "rank must be"),
])
def test_mixture_rejects_parameters_that_do_not_apply(small, params, match):
    """rank and sample_noise are the factor model's: elsewhere they are a clear error."""
    with pytest.raises(ValueError, match=match):
        ClassConditionalMixture(2, **params).fit(*small)
