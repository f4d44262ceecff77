"""The playground's vectorised 2-D EM against scikit-learn's GaussianMixture and scipy."""

import numpy as np
import pytest
from scipy import special, stats

from genlib import playground_data as pdata
from genlib import playground_em as em
from genlib import playground_models as pm

# nats per point. EM ends in a local optimum that depends on its start: scikit-learn's own
# fits spread up to 0.014 between random_state 0, 1, 2 on these datasets; ours landed from
# 0.028 below its random_state=0 fit (world, n = 2,000, k = 30) to 0.2 above (moons, k = 3)
TOLERANCE = 0.03


@pytest.mark.parametrize("name, n, k", [
    ("world", 3000, 8), ("world", 10000, 30), ("eight", 4000, 8), ("moons", 4000, 10),
    ("ring", 3000, 30), ("spiral", 10000, 50),
])
def test_fit_reaches_sklearn_log_likelihood(name, n, k):
    """Our mean training log-likelihood is scikit-learn's or better (within TOLERANCE)."""
    from sklearn.mixture import GaussianMixture

    X = pdata.make_dataset(name, n, 0.1, seed=0).train
    ours = em.fit_mixture(X, k, seed=0)
    ref = GaussianMixture(k, covariance_type="full", random_state=0, reg_covar=1e-6).fit(X)
    assert ours["log_likelihood"] >= ref.score(X) - TOLERANCE
    assert ours["log_likelihood"] == pytest.approx(
        em.log_likelihood(X, ours["weights"], ours["means"], ours["covariances"]), abs=1e-5)


def test_log_densities_equal_scipy():
    """Each component's log(w N(x; mu, cov)) is scipy's, far from and near its mean."""
    rng = np.random.default_rng(0)
    means = rng.normal(size=(4, 2)) * 3
    a = rng.normal(size=(4, 2, 2)) * [0.01, 1.0]
    covs = a @ np.transpose(a, (0, 2, 1)) + 1e-4 * np.eye(2)
    w = np.array([0.1, 0.2, 0.3, 0.4])
    X = np.vstack([rng.normal(size=(50, 2)) * 4, means + 1e-3])
    got = em.log_densities(X, w, means, covs)
    ref = np.column_stack([np.log(w[j]) + stats.multivariate_normal(means[j], covs[j]).logpdf(X)
                           for j in range(4)])
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-6)
    mix = special.logsumexp(ref, axis=1)
    np.testing.assert_allclose(em.log_density(X, w, means, covs), mix, rtol=1e-5, atol=1e-5)


def test_recovers_well_separated_clusters():
    """Three far-apart clusters: the weights, means and covariances come back."""
    rng = np.random.default_rng(1)
    covs = np.array([[[0.5, 0.2], [0.2, 0.3]], [[0.1, 0.0], [0.0, 0.4]],
                     [[0.2, -0.1], [-0.1, 0.2]]])
    means = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    sizes = [6000, 3000, 1000]
    X = np.vstack([rng.multivariate_normal(m, c, size=s) for m, c, s in zip(means, covs, sizes)])
    fit = em.fit_mixture(X, 3, seed=0)
    order = np.argsort(fit["means"][:, 0] * 3 + fit["means"][:, 1])  # (0,0), (10,0), (0,10)
    order = order[[0, 2, 1]] if fit["means"][order[1], 1] > 5 else order
    np.testing.assert_allclose(fit["weights"][order], np.array(sizes) / 10000, atol=0.01)
    np.testing.assert_allclose(fit["means"][order], means, atol=0.05)
    np.testing.assert_allclose(fit["covariances"][order], covs, atol=0.03)


def test_duplicate_points_keep_a_valid_covariance():
    """Components on repeated points stay positive definite (the variance floor)."""
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]]), 50, axis=0)
    fit = em.fit_mixture(X, 3, seed=0)
    assert np.all(np.linalg.eigvalsh(fit["covariances"]) > 0)
    assert np.isfinite(fit["log_likelihood"])


def test_same_seed_same_fit_and_bad_k_raises():
    """A fit is a function of (data, k, seed); k above n is refused with the reason."""
    X = pdata.make_dataset("moons", 2000, 0.1, seed=0).train
    a, b = em.fit_mixture(X, 12, seed=3), em.fit_mixture(X, 12, seed=3)
    np.testing.assert_array_equal(a["means"], b["means"])
    with pytest.raises(ValueError, match="n >= k"):
        em.fit_mixture(X[:5], 6)


def test_mixture_model_uses_it():
    """playground_models.Mixture's score_samples agrees with the EM's fast density."""
    X = pdata.make_dataset("ring", 3000, 0.1, seed=0).train
    m = pm.Mixture(20, seed=0).fit(X)
    np.testing.assert_allclose(m.fast_log_density(X[:200]), m.score_samples(X[:200]),
                               atol=1e-4)
    assert np.mean(m.score_samples(X)) == pytest.approx(m.train_log_likelihood_, abs=1e-4)
