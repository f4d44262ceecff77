"""Priors p(z) over a VAE's latent space, in numpy: the standard normal and a learned mixture.

A VAE's ELBO is ``E_q[log p(x|z)] - KL(q(z|x) || p(z))``. With p = N(0, I) the KL is closed
form; with a learned mixture of diagonal Gaussians (trained inside the ELBO, as the
VampPrior of Tomczak and Welling, 2018, without its pseudo-inputs) it is estimated from the
same draws of z as the reconstruction term: ``E_q[log q(z|x) - log p(z)]``. The mixture
puts prior mass where the encoder puts codes, so fewer prior samples land in the latent
space's holes, and the KL it costs is smaller.

Both priors have ``log_prob(z) -> (n,)`` (float64) and ``sample(n, rng=None) -> (n, d)``
float32. Nothing here imports TensorFlow; :mod:`genlib.vae_best_train` trains the mixture.
"""

from __future__ import annotations

import numpy as np

__all__ = ["StandardNormal", "GaussianMixture", "prior_from_weights", "PRIOR_KEYS",
           "gaussian_log_prob"]

LOG_2PI = float(np.log(2 * np.pi))
# The mixture's arrays inside a VAE checkpoint (beside the encoder's and decoder's layers).
PRIOR_KEYS = ("prior/means", "prior/log_vars", "prior/logits")


def gaussian_log_prob(z, mean, logvar) -> np.ndarray:
    """log N(z; mean, diag(exp(logvar))) summed over the last axis, in float64."""
    z, mean, logvar = (np.asarray(a, np.float64) for a in (z, mean, logvar))
    return -0.5 * np.sum(LOG_2PI + logvar + (z - mean) ** 2 * np.exp(-logvar), axis=-1)


def _as_points(z, d: int) -> np.ndarray:
    z = np.asarray(z, np.float64)
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != d:
        raise ValueError(f"z must have shape (n, {d}), got {z.shape}")
    return z


def _check_n(n) -> int:
    n = int(n)
    if n < 0:
        raise ValueError(f"the number of samples must be >= 0, got {n}")
    return n


class StandardNormal:
    """p(z) = N(0, I) in ``latent_dim`` dimensions: the classic VAE prior."""

    name = "standard normal N(0, I)"

    def __init__(self, latent_dim: int):
        self.latent_dim = int(latent_dim)

    def log_prob(self, z) -> np.ndarray:
        z = _as_points(z, self.latent_dim)
        return -0.5 * np.sum(z ** 2 + LOG_2PI, axis=1)

    def sample(self, n_samples: int, rng=None) -> np.ndarray:
        rng = np.random.default_rng(rng)
        return rng.standard_normal((_check_n(n_samples), self.latent_dim)).astype(np.float32)


class GaussianMixture:
    """p(z) = sum_k pi_k N(z; mu_k, diag(exp(log_var_k))), pi = softmax(logits).

    Parameters
    ----------
    means, log_vars : (K, d); logits : (K,) unnormalised log weights
    """

    name = "learned mixture"

    def __init__(self, means, log_vars, logits):
        self.means = np.asarray(means, np.float64)
        self.log_vars = np.asarray(log_vars, np.float64)
        logits = np.asarray(logits, np.float64)
        if self.means.ndim != 2 or self.log_vars.shape != self.means.shape:
            raise ValueError(f"mixture means and log-variances must both be (K, d), got "
                             f"{self.means.shape} and {self.log_vars.shape}")
        if logits.shape != (len(self.means),):
            raise ValueError(f"mixture logits must be ({len(self.means)},), got {logits.shape}")
        if not all(np.all(np.isfinite(a)) for a in (self.means, self.log_vars, logits)):
            raise ValueError("the mixture prior's parameters contain NaN or infinite values")
        self.log_weights = logits - np.logaddexp.reduce(logits)
        self.weights = np.exp(self.log_weights)
        self.n_components, self.latent_dim = self.means.shape
        self.name = f"learned mixture of {self.n_components} Gaussians"

    def log_prob(self, z) -> np.ndarray:
        z = _as_points(z, self.latent_dim)
        comp = gaussian_log_prob(z[:, None, :], self.means[None], self.log_vars[None])
        return np.logaddexp.reduce(comp + self.log_weights, axis=1)

    def sample(self, n_samples: int, rng=None) -> np.ndarray:
        rng = np.random.default_rng(rng)
        n = _check_n(n_samples)
        k = rng.choice(self.n_components, size=n, p=self.weights)
        eps = rng.standard_normal((n, self.latent_dim))
        return (self.means[k] + np.exp(0.5 * self.log_vars[k]) * eps).astype(np.float32)


def prior_from_weights(config: dict, weights: dict):
    """The prior a VAE config names: ``config["prior"]`` "standard" (default) or "mixture"."""
    kind = config.get("prior", "standard")
    if kind == "standard":
        return StandardNormal(config["latent_dim"])
    if kind != "mixture":
        raise ValueError(f"unknown VAE prior {kind!r}; use 'standard' or 'mixture'")
    missing = [k for k in PRIOR_KEYS if k not in weights]
    if missing:
        raise ValueError(f"weights missing for the mixture prior ({', '.join(missing)})")
    prior = GaussianMixture(*(weights[k] for k in PRIOR_KEYS))
    if prior.latent_dim != int(config["latent_dim"]):
        raise ValueError(f"the mixture prior is {prior.latent_dim}-D, the latent space "
                         f"{config['latent_dim']}-D")
    return prior
