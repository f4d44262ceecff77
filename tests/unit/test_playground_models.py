"""The playground's closed-form models against references, and A / B / C on constructed cases."""

import numpy as np
import pytest
from scipy import stats

from genlib import playground_abc as abc
from genlib import playground_data as pdata
from genlib import playground_models as pm


@pytest.fixture(scope="module")
def world():
    return pdata.make_dataset("world", 3000, 0.1, seed=0)


@pytest.fixture(scope="module")
def blob():
    rng = np.random.default_rng(0)
    return rng.normal(size=(800, 2)) @ np.array([[1.5, 0.0], [0.8, 0.4]]) + [1.0, -2.0]


def test_gaussian_mle_equals_numpy(blob):
    """Mean and the biased (1/n) covariance, as numpy computes them."""
    g = pm.GaussianMLE().fit(blob)
    np.testing.assert_allclose(g.mean_, blob.mean(axis=0))
    np.testing.assert_allclose(g.covariance_, np.cov(blob, rowvar=False, bias=True), atol=1e-8)


def test_gaussian_log_density_equals_scipy(blob):
    """score_samples is scipy's multivariate normal logpdf."""
    g = pm.GaussianMLE().fit(blob)
    ref = stats.multivariate_normal(g.mean_, g.covariance_).logpdf(blob[:50])
    np.testing.assert_allclose(g.score_samples(blob[:50]), ref, rtol=1e-10)


def test_gaussian_samples_have_the_fitted_moments(blob):
    """20,000 draws: mean and covariance within sampling error of the fitted ones."""
    g = pm.GaussianMLE().fit(blob)
    s = g.sample(20_000, rng=0)
    np.testing.assert_allclose(s.mean(axis=0), g.mean_, atol=0.05)
    np.testing.assert_allclose(np.cov(s, rowvar=False), g.covariance_, atol=0.06)


@pytest.mark.parametrize("bandwidth", pm.KDE_BANDWIDTHS)
def test_kde_log_density_equals_scipy_gaussian_kde(world, bandwidth):
    """Every bandwidth: the KD-tree shortcut gives scipy.stats.gaussian_kde's logpdf."""
    kde = pm.KDE(bandwidth).fit(world.train)
    ref = stats.gaussian_kde(world.train.T, bw_method=bandwidth).logpdf(world.held_out.T)
    np.testing.assert_allclose(kde.score_samples(world.held_out), ref, rtol=1e-7, atol=1e-7)


def test_kde_far_points_get_the_full_sum(blob):
    """Points far from every kernel (where the nearest ones do not dominate) still match."""
    kde = pm.KDE(0.5).fit(blob)
    far = np.array([[40.0, 40.0], [-30.0, 5.0], [1.0, -2.0]])
    ref = stats.gaussian_kde(blob.T, bw_method=0.5).logpdf(far.T)
    np.testing.assert_allclose(kde.score_samples(far), ref, rtol=1e-9)


def test_tiny_kde_samples_sit_on_training_points(world):
    """The copying model: every sample is within a few kernel widths of a training point."""
    kde = pm.KDE(pm.KDE_BANDWIDTHS[0]).fit(world.train)
    s = kde.sample(500, rng=0)
    d = np.min(np.linalg.norm(s[:, None] - world.train[None], axis=2), axis=1)
    assert np.quantile(d, 0.99) < 5 * np.sqrt(kde.kernel_cov_.diagonal().max())


def test_mixture_log_density_equals_sklearn(blob):
    """The mixture's log density is scikit-learn's for the same parameters (our fit put
    into a GaussianMixture)."""
    from sklearn.mixture import GaussianMixture
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

    m = pm.Mixture(3, seed=0).fit(blob)
    ref = GaussianMixture(3, covariance_type="full")
    ref.weights_, ref.means_, ref.covariances_ = m.weights_, m.means_, m.covariances_
    ref.precisions_cholesky_ = _compute_precision_cholesky(m.covariances_, "full")
    np.testing.assert_allclose(m.score_samples(blob[:40]), ref.score_samples(blob[:40]),
                               rtol=1e-10)


def test_mixture_samples_follow_the_weights():
    """Two far-apart clusters of 75% / 25%: the samples split the same way."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(750, 2)) * 0.1, rng.normal(size=(250, 2)) * 0.1 + 10])
    s = pm.Mixture(2, seed=0).fit(X).sample(10_000, rng=1)
    assert abs((s[:, 0] > 5).mean() - 0.25) < 0.02


@pytest.mark.parametrize("make, error", [
    (lambda: pm.KDE(0.0), "bandwidth"), (lambda: pm.KDE(float("nan")), "bandwidth"),
    (lambda: pm.Mixture(0), "k must"), (lambda: pm.GaussianMLE().fit(np.ones((5, 3))), "shape"),
    (lambda: pm.GaussianMLE().fit([[0.0, np.nan], [1.0, 1.0]]), "NaN"),
    (lambda: pm.GaussianMLE().sample(3), "not fitted"),
    (lambda: pm.Mixture(50).fit(np.random.default_rng(0).normal(size=(10, 2))), "at least 50"),
    (lambda: pm.make_model("gan"), "trained"), (lambda: pm.make_model("zzz"), "unknown"),
])
def test_bad_input_raises_a_clear_error(make, error):
    """Bad knobs, bad points, sampling before fitting: ValueError with the reason."""
    with pytest.raises(ValueError, match=error):
        make()


# ----------------------------------------------------------------------------- A / B / C

def test_abc_on_constructed_cases(world):
    """A point in the Pacific is A, an exact copy of a training point is B, a land point far
    from every training point is C."""
    rng = np.random.default_rng(5)
    thr = abc.copy_threshold(world)
    candidates = pdata.make_dataset("world", 20_000, 0.0, seed=9).train
    dist = np.min(np.linalg.norm(candidates[:, None] - world.train[None], axis=2), axis=1)
    fresh = candidates[np.argmax(dist)]
    pacific = np.array([-150.0, 0.0]) / pdata.DEG
    copy = world.train[rng.integers(len(world.train))]
    result = abc.classify(np.array([pacific, copy, fresh]), world)
    assert list(result.labels) == ["A", "B", "C"]
    assert result.threshold == pytest.approx(thr)


def test_copy_threshold_is_the_held_out_5th_percentile(world):
    """95% of held-out points are at least the threshold from their nearest training point."""
    thr = abc.copy_threshold(world)
    d = np.min(np.linalg.norm(world.held_out[:, None] - world.train[None], axis=2), axis=1)
    assert (d >= thr).mean() == pytest.approx(0.95, abs=0.01)


def test_held_out_points_are_mostly_good(world):
    """Real held-out points: none off-support, about 5% 'copies' (by definition), ~95% C."""
    s = abc.classify(world.held_out, world).shares
    assert s["A"] == 0 and 0.03 <= s["B"] <= 0.07 and sum(s.values()) == pytest.approx(1)


def test_non_finite_samples_are_off_support(world):
    """A diverged model's NaN or infinite samples count as A, never crash the classifier."""
    labels = abc.classify(np.array([[np.nan, 0.0], [np.inf, 1.0]]), world).labels
    assert list(labels) == ["A", "A"]


@pytest.mark.parametrize("shares, word", [({"A": 0.6, "B": 0.1, "C": 0.3}, "model A"),
                                          ({"A": 0.0, "B": 0.9, "C": 0.1}, "model B"),
                                          ({"A": 0.05, "B": 0.05, "C": 0.9}, "model C"),
                                          ({"A": 0.15, "B": 0.15, "C": 0.7}, "between")])
def test_verdict_names_the_seeds_model(shares, word):
    """The one-line verdict uses the overview's A / B / C words."""
    assert word in abc.verdict(shares, "M")
