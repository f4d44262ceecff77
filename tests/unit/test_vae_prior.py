"""genlib.vae_prior and the VAE with a learned prior: densities and samplers against
references (sklearn, scipy), the mixture-prior ELBO, the shipped best preset."""

import numpy as np
import pytest
from scipy import stats
from sklearn.mixture import GaussianMixture as SkMixture

from genlib import vae
from genlib.vae_prior import GaussianMixture, StandardNormal, prior_from_weights


@pytest.fixture(scope="module")
def mixture():
    rng = np.random.default_rng(0)
    return GaussianMixture(rng.normal(0, 2, (4, 3)), rng.normal(-0.5, 0.6, (4, 3)),
                           np.array([0.3, -1.0, 1.2, 0.0]))


def _sklearn_twin(prior):
    """An sklearn GaussianMixture with the same (diagonal) parameters."""
    sk = SkMixture(prior.n_components, covariance_type="diag")
    sk.weights_, sk.means_ = prior.weights, prior.means
    sk.covariances_ = np.exp(prior.log_vars)
    sk.precisions_cholesky_ = 1 / np.sqrt(sk.covariances_)
    return sk


def test_mixture_log_density_matches_sklearn(mixture):
    """log p(z) equals sklearn's GaussianMixture.score_samples with the same parameters."""
    z = np.random.default_rng(1).normal(0, 3, (200, 3))
    np.testing.assert_allclose(mixture.log_prob(z), _sklearn_twin(mixture).score_samples(z),
                               rtol=1e-10, atol=1e-10)


def test_standard_normal_log_density_matches_scipy():
    """N(0, I)'s log p(z) equals scipy.stats.multivariate_normal's."""
    z = np.random.default_rng(2).normal(0, 2, (50, 5))
    want = stats.multivariate_normal(np.zeros(5), np.eye(5)).logpdf(z)
    np.testing.assert_allclose(StandardNormal(5).log_prob(z), want, rtol=1e-12)


def test_mixture_samples_have_the_mixture_moments(mixture):
    """200,000 draws: component shares, mean and covariance match the mixture's."""
    z = mixture.sample(200_000, rng=3).astype(np.float64)
    assert z.dtype == np.float64 and z.shape == (200_000, 3)
    var = np.exp(mixture.log_vars)
    mean = mixture.weights @ mixture.means
    second = np.einsum("k,ki,kj->ij", mixture.weights, mixture.means, mixture.means) \
        + np.diag(mixture.weights @ var)
    np.testing.assert_allclose(z.mean(0), mean, atol=0.03)
    np.testing.assert_allclose(np.cov(z.T), second - np.outer(mean, mean), atol=0.06)
    # each draw is nearest (in likelihood) to the component it was drawn from, mostly
    sk = _sklearn_twin(mixture)
    shares = np.bincount(sk.predict(z), minlength=4) / len(z)
    np.testing.assert_allclose(shares, mixture.weights, atol=0.08)


def test_mixture_sampling_is_seeded(mixture):
    """The same seed gives the same draws; float32 (n, d)."""
    a, b = mixture.sample(7, rng=5), mixture.sample(7, rng=5)
    assert a.dtype == np.float32 and a.shape == (7, 3)
    np.testing.assert_array_equal(a, b)


def test_bad_mixture_parameters_are_clear_errors():
    """Mismatched shapes, NaNs, a wrong latent size or prior name raise ValueError."""
    with pytest.raises(ValueError, match="log-variances"):
        GaussianMixture(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros(2))
    with pytest.raises(ValueError, match="logits"):
        GaussianMixture(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(np.full((2, 3), np.nan), np.zeros((2, 3)), np.zeros(2))
    weights = {"prior/means": np.zeros((2, 3)), "prior/log_vars": np.zeros((2, 3)),
               "prior/logits": np.zeros(2)}
    with pytest.raises(ValueError, match="4-D"):
        prior_from_weights({"prior": "mixture", "latent_dim": 4}, weights)
    with pytest.raises(ValueError, match="unknown VAE prior"):
        prior_from_weights({"prior": "flow", "latent_dim": 3}, weights)
    with pytest.raises(ValueError, match="z must have shape"):
        StandardNormal(3).log_prob(np.zeros((2, 4)))


# ----------------------------------------------------------------------------- the VAE


def _with_prior(model, means, log_vars, logits):
    """The same encoder/decoder with a mixture prior."""
    config = {**model.config, "prior": "mixture", "prior_components": len(means)}
    weights = {**model.weights, "prior/means": means, "prior/log_vars": log_vars,
               "prior/logits": logits}
    return vae.VAE(config, weights)


def test_one_component_standard_mixture_gives_the_closed_form_kl():
    """A 'mixture' of one N(0, I): the estimated KL (many draws) equals the exact one."""
    conv = vae.load_model("conv")
    d = conv.latent_dim
    same = _with_prior(conv, np.zeros((1, d)), np.zeros((1, d)), np.zeros(1))
    x = vae.VAE.load_pretrained("conv").decode(np.random.default_rng(0).normal(size=(40, d)))
    exact = conv.negative_elbo(x, n_samples=1)["kl"]
    estimated = same.negative_elbo(x, n_samples=400)["kl"]
    assert estimated == pytest.approx(exact, abs=0.15)
    assert same.importance_weighted_bound(x, k=5) == pytest.approx(
        conv.importance_weighted_bound(x, k=5), rel=1e-5)


def test_sample_uses_the_model_prior_or_the_standard_one():
    """sample(prior="model") decodes mixture draws, prior="standard" N(0, I) draws."""
    conv = vae.load_model("conv")
    d = conv.latent_dim
    far = _with_prior(conv, np.full((1, d), 5.0), np.full((1, d), -6.0), np.zeros(1))
    z = far.sample_latent(50, rng=0)
    assert np.all(np.abs(z - 5.0) < 0.5)
    assert np.abs(far.sample_latent(50, rng=0, prior="standard")).max() < 5
    np.testing.assert_array_equal(far.sample(3, rng=1).images, far.decode(far.sample_latent(
        3, rng=1)))
    with pytest.raises(ValueError, match="prior must be"):
        far.sample(3, prior="flow")


def test_standard_prior_vae_samples_as_before():
    """The conv VAE (N(0, I) prior) draws exactly rng.standard_normal codes, as it always did."""
    conv = vae.load_model("conv")
    z = np.random.default_rng(4).standard_normal((5, conv.latent_dim)).astype(np.float32)
    np.testing.assert_array_equal(conv.sample(5, rng=4).images, conv.decode(z))
    assert conv.learned_prior is None


def test_mixture_weights_are_required_and_saved(tmp_path):
    """A mixture config without prior arrays is refused; save/load keeps them."""
    conv = vae.load_model("conv")
    d = conv.latent_dim
    with pytest.raises(ValueError, match="prior"):
        vae.VAE({**conv.config, "prior": "mixture"}, conv.weights)
    model = _with_prior(conv, np.ones((2, d)), np.zeros((2, d)), np.array([0.0, 1.0]))
    back = vae.VAE.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_allclose(back.prior.means, model.prior.means)
    assert "learned mixture of 2" in back.describe()


# ----------------------------------------------------------------------------- shipped


@pytest.mark.skipif("conv_best" not in vae.SHIPPED or not vae.shipped_path("conv_best").exists(),
                    reason="not trained yet")
def test_shipped_best_preset_beats_conv_on_held_out_elbo(mnist):
    """conv_best: a learned mixture prior, and a lower held-out -ELBO than the conv VAE."""
    best, conv = vae.load_model("conv_best"), vae.load_model("conv")
    assert best.learned_prior is not None
    x = mnist.test.images[:300]
    assert best.negative_elbo(x)["total"] < conv.negative_elbo(x)["total"] - 3
