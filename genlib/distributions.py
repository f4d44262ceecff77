"""One-dimensional distributions and sampling by the inverse transform.

If ``z ~ U(0, 1)`` and ``F`` is a cdf, then ``x = F^{-1}(z)`` (the percent point function,
``ppf``) is distributed by ``F``: knowing a distribution is enough to generate data from it.
This module holds the families the Gaussian explorer offers (their parameters, domains and
slider ranges), fast vectorised pdf/cdf/ppf, inverse-transform and direct sampling, the
Kolmogorov-Smirnov test, the normal log-likelihood and its maximum-likelihood estimates. It
draws nothing: the explorer's charts are in :mod:`ui.charts`, its URL state and PNG figures
in :mod:`ui.gaussian_view`.

Every function raises ``ValueError`` with the reason for bad input (sigma <= 0, NaN or
infinite parameters, parameters outside a family's domain, n out of range).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import special, stats

__all__ = [
    "FAMILIES", "Family", "Param", "Dist", "Comparison", "Profile", "make", "default",
    "check_param", "inverse_transform_sample", "direct_sample", "ks_test", "compare_samplers",
    "normal_log_likelihood", "normal_mle", "likelihood_profiles", "mle_by_n", "sanity_checks",
    "check_n", "sample_csv",
]

MAX_N = 10_000_000      # what genlib draws at most in one call (80 MB of float64)
MAX_ABS_PARAM = 1e9     # larger parameters overflow the figures' arithmetic
NORMAL_CHECK_Z = (0.5, 0.5 + 0.3413, 0.5 + 0.3413 + 0.1359)  # the tutorial's sanity checks


# ----------------------------------------------------------------------------- families


@dataclass(frozen=True)
class Param:
    """One parameter: its URL/keyword name, a label, a default, and the slider's range."""

    name: str
    label: str
    symbol: str
    default: float
    lo: float
    hi: float
    step: float
    positive: bool = False  # domain: > 0 (otherwise any real number)


@dataclass(frozen=True)
class Family:
    """A continuous family: parameters, a formula for captions, and its tail mass to plot."""

    key: str
    label: str
    params: tuple[Param, ...]
    formula: str
    tail: float = 1e-3  # the figures show ppf(tail) .. ppf(1 - tail)

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


FAMILIES: dict[str, Family] = {f.key: f for f in (
    Family("normal", "Normal (Gaussian)",
           (Param("mu", "mean μ", "μ", 200.0, -300.0, 700.0, 1.0),
            Param("sigma", "standard deviation σ", "σ", 40.0, 1.0, 200.0, 1.0, positive=True)),
           r"p(x) = \frac{1}{\sigma\sqrt{2\pi}}\, e^{-(x-\mu)^2 / 2\sigma^2}", tail=1e-4),
    Family("exponential", "Exponential",
           (Param("rate", "rate λ", "λ", 1.0, 0.05, 5.0, 0.05, positive=True),),
           r"p(x) = \lambda e^{-\lambda x},\ x \ge 0"),
    Family("uniform", "Uniform",
           (Param("a", "lower bound a", "a", 0.0, -10.0, 10.0, 0.1),
            Param("b", "upper bound b", "b", 1.0, -10.0, 10.0, 0.1)),
           r"p(x) = \frac{1}{b - a},\ a \le x \le b"),
    Family("lognormal", "Log-normal",
           (Param("mu", "mean of log x, μ", "μ", 0.0, -2.0, 3.0, 0.05),
            Param("sigma", "std of log x, σ", "σ", 0.5, 0.05, 2.0, 0.05, positive=True)),
           r"\log x \sim \mathcal{N}(\mu, \sigma^2)"),
    Family("gamma", "Gamma",
           (Param("k", "shape k", "k", 2.0, 0.2, 20.0, 0.1, positive=True),
            Param("theta", "scale θ", "θ", 1.0, 0.1, 10.0, 0.1, positive=True)),
           r"p(x) = \frac{x^{k-1} e^{-x/\theta}}{\Gamma(k)\,\theta^k},\ x > 0"),
    Family("beta", "Beta",
           (Param("alpha", "shape α", "α", 2.0, 0.2, 20.0, 0.1, positive=True),
            Param("beta", "shape β", "β", 5.0, 0.2, 20.0, 0.1, positive=True)),
           r"p(x) = \frac{x^{\alpha-1} (1-x)^{\beta-1}}{B(\alpha, \beta)},\ 0 < x < 1"),
    Family("t", "Student's t",
           (Param("nu", "degrees of freedom ν", "ν", 3.0, 0.5, 50.0, 0.5, positive=True),
            Param("mu", "location μ", "μ", 0.0, -10.0, 10.0, 0.1),
            Param("sigma", "scale σ", "σ", 1.0, 0.1, 10.0, 0.1, positive=True)),
           r"\frac{x - \mu}{\sigma} \sim t_\nu", tail=5e-3),
    Family("cauchy", "Cauchy",
           (Param("x0", "location x₀", "x₀", 0.0, -10.0, 10.0, 0.1),
            Param("gamma", "scale γ", "γ", 1.0, 0.1, 10.0, 0.1, positive=True)),
           r"p(x) = \frac{1}{\pi\gamma\,[1 + ((x - x_0)/\gamma)^2]}", tail=0.03),
)}


def _family(key) -> Family:
    if key not in FAMILIES:
        raise ValueError(f"unknown distribution {key!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[key]


def _real(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} is NaN; it must be a finite number")
    if math.isinf(value):
        raise ValueError(f"{name} is infinite; it must be a finite number")
    if abs(value) > MAX_ABS_PARAM:
        raise ValueError(f"{name} = {value:g} is too large (at most {MAX_ABS_PARAM:g} in size)")
    return value


@dataclass(frozen=True)
class Dist:
    """A validated member of a family (hashable, so pages can cache on it). Build with make()."""

    family: str
    params: tuple[tuple[str, float], ...]

    @property
    def spec(self) -> Family:
        return FAMILIES[self.family]

    @property
    def kw(self) -> dict[str, float]:
        return dict(self.params)

    def __str__(self) -> str:
        spec = self.spec
        args = ", ".join(f"{p.symbol}={v:g}" for p, (_, v) in zip(spec.params, self.params))
        return f"{spec.label.split(' (')[0]}({args})"

    @property
    def frozen(self):
        """The equivalent frozen scipy.stats distribution (the reference implementation)."""
        p = self.kw
        return {
            "normal": lambda: stats.norm(p["mu"], p["sigma"]),
            "exponential": lambda: stats.expon(scale=1 / p["rate"]),
            "uniform": lambda: stats.uniform(p["a"], p["b"] - p["a"]),
            "lognormal": lambda: stats.lognorm(p["sigma"], scale=np.exp(p["mu"])),
            "gamma": lambda: stats.gamma(p["k"], scale=p["theta"]),
            "beta": lambda: stats.beta(p["alpha"], p["beta"]),
            "t": lambda: stats.t(p["nu"], p["mu"], p["sigma"]),
            "cauchy": lambda: stats.cauchy(p["x0"], p["gamma"]),
        }[self.family]()

    def pdf(self, x) -> np.ndarray:
        return self.frozen.pdf(np.asarray(x, dtype=np.float64))

    def logpdf(self, x) -> np.ndarray:
        return self.frozen.logpdf(np.asarray(x, dtype=np.float64))

    def cdf(self, x) -> np.ndarray:
        return self.frozen.cdf(np.asarray(x, dtype=np.float64))

    def ppf(self, z) -> np.ndarray:
        """The inverse cdf, vectorised; closed forms or scipy.special (no frozen-object overhead).

        ``z`` must lie in [0, 1]; ppf(0) and ppf(1) are the ends of the support (maybe infinite).
        """
        z = np.asarray(z, dtype=np.float64)
        if np.isnan(z).any() or (z < 0).any() or (z > 1).any():
            raise ValueError("z must lie in [0, 1] (and not be NaN)")
        return self._ppf(z)

    def _ppf(self, z: np.ndarray) -> np.ndarray:
        p = self.kw
        if self.family == "normal":
            return p["mu"] + p["sigma"] * special.ndtri(z)
        if self.family == "exponential":
            return -np.log1p(-z) / p["rate"]
        if self.family == "uniform":
            return p["a"] + (p["b"] - p["a"]) * z
        if self.family == "lognormal":
            return np.exp(p["mu"] + p["sigma"] * special.ndtri(z))
        if self.family == "gamma":
            return p["theta"] * special.gammaincinv(p["k"], z)
        if self.family == "beta":
            return special.betaincinv(p["alpha"], p["beta"], z)
        if self.family == "t":
            return p["mu"] + p["sigma"] * special.stdtrit(p["nu"], z)
        return p["x0"] + p["gamma"] * np.tan(np.pi * (z - 0.5))  # cauchy

    def point(self, z) -> float:
        """x = ppf(z) for one latent ``z`` strictly inside (0, 1), where x is finite."""
        z = _real("z", z)
        if not 0 < z < 1:
            raise ValueError(f"z = {z:g} must lie strictly between 0 and 1")
        return float(self._ppf(np.float64(z)))

    def curve(self, lo: float, hi: float, num: int = 600) -> tuple[np.ndarray, np.ndarray]:
        """``num`` points evenly over [lo, hi] and the pdf there, NaN where it is not finite
        (a gamma's or beta's pdf can be infinite at an edge of its support)."""
        xs = np.linspace(lo, hi, num)
        with np.errstate(all="ignore"):
            pdf = self.pdf(xs)
        return xs, np.where(np.isfinite(pdf), pdf, np.nan)

    def plot_range(self) -> tuple[float, float]:
        """The x range the figures show: central 1 - 2 * tail of the mass, padded a little."""
        lo, hi = (float(v) for v in self.ppf([self.spec.tail, 1 - self.spec.tail]))
        if self.family in ("uniform", "beta"):  # bounded support: show its edges
            lo, hi = float(self.ppf(0.0)), float(self.ppf(1.0))
        if self.family in ("exponential", "gamma", "lognormal"):
            lo = 0.0
        pad = 0.04 * (hi - lo)
        return lo - pad, hi + pad


def check_param(family: str, name: str, value) -> float:
    """One parameter of a family on its own, as a float: ValueError if it is not a finite
    number of sensible size or lies outside its domain (e.g. sigma <= 0). Conditions that
    tie parameters together (a uniform's a < b) are :func:`make`'s."""
    spec = _family(family)
    names = [p.name for p in spec.params]
    if name not in names:
        raise ValueError(f"{spec.label} has no parameter {name!r} (it has {', '.join(names)})")
    p = spec.param(name)
    v = _real(p.name, value)
    if p.positive and v <= 0:
        raise ValueError(f"{p.name} = {v:g}: the {p.label} must be > 0")
    return v


def make(family: str, **params) -> Dist:
    """A validated :class:`Dist`, e.g. ``make("normal", mu=200, sigma=40)``.

    Raises ValueError naming the problem: an unknown family or parameter, a missing one, a
    NaN/infinite value, a value outside the family's domain (sigma <= 0, a >= b, ...), or a
    distribution too extreme to draw.
    """
    spec = _family(family)
    names = [p.name for p in spec.params]
    extra = sorted(set(params) - set(names))
    if extra:
        raise ValueError(f"{spec.label} has no parameter {extra[0]!r} (it has {', '.join(names)})")
    values = []
    for p in spec.params:
        if p.name not in params:
            raise ValueError(f"{spec.label} needs the parameter {p.name!r}")
        values.append((p.name, check_param(family, p.name, params[p.name])))
    if family == "uniform" and not values[0][1] < values[1][1]:
        raise ValueError(f"a = {values[0][1]:g}, b = {values[1][1]:g}: a uniform needs a < b")
    dist = Dist(family, tuple(values))
    with np.errstate(all="ignore"):
        lo, hi = dist.plot_range()
    if not (abs(lo) < 1e12 and abs(hi) < 1e12 and hi - lo > 1e-12 * max(1.0, abs(lo))):
        raise ValueError(f"{dist} is too extreme to draw: its central mass spans "
                         f"[{lo:g}, {hi:g}]; choose less extreme parameters")
    return dist


def default(family: str = "normal") -> Dist:
    """The family's default member (N(200, 40) for the normal, the tutorial's preset)."""
    return make(family, **{p.name: p.default for p in _family(family).params})


# ----------------------------------------------------------------------------- sampling


def check_n(n, max_n: int = MAX_N) -> int:
    """``n`` as an int in [1, max_n], else ValueError."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, float, np.number)):
        raise ValueError(f"n must be a whole number, got {n!r}")
    if not np.isfinite(n) or n != int(n):
        raise ValueError(f"n must be a whole number, got {n!r}")
    if not 1 <= n <= max_n:
        raise ValueError(f"n = {int(n):,} is out of range: draw between 1 and {max_n:,} points")
    return int(n)


def inverse_transform_sample(dist: Dist, n: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points by the inverse transform: ``z ~ U(0, 1)``, ``x = dist.ppf(z)``.

    Returns
    -------
    z, x : float64 arrays, shape (n,). The first k draws for a seed are the same for any
        n >= k, so a larger sample extends a smaller one.
    """
    n = check_n(n)
    rng = np.random.default_rng(rng)
    z = rng.random(n)
    while (z == 0).any():  # U[0, 1) can return exactly 0, where ppf is -inf for most families
        z[z == 0] = rng.random(int((z == 0).sum()))
    return z, dist._ppf(z)  # z is in (0, 1) by construction: skip ppf's checks


def direct_sample(dist: Dist, n: int, rng=None) -> np.ndarray:
    """Draw ``n`` points with numpy's own sampler for the family (the comparison), shape (n,)."""
    n = check_n(n)
    rng = np.random.default_rng(rng)
    p = dist.kw
    return {
        "normal": lambda: rng.normal(p["mu"], p["sigma"], n),
        "exponential": lambda: rng.exponential(1 / p["rate"], n),
        "uniform": lambda: rng.uniform(p["a"], p["b"], n),
        "lognormal": lambda: rng.lognormal(p["mu"], p["sigma"], n),
        "gamma": lambda: rng.gamma(p["k"], p["theta"], n),
        "beta": lambda: rng.beta(p["alpha"], p["beta"], n),
        "t": lambda: p["mu"] + p["sigma"] * rng.standard_t(p["nu"], n),
        "cauchy": lambda: p["x0"] + p["gamma"] * rng.standard_cauchy(n),
    }[dist.family]()


def ks_test(x, dist: Dist) -> tuple[float, float]:
    """Kolmogorov-Smirnov statistic and p-value of the sample ``x`` against ``dist``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0 or not np.isfinite(x).all():
        raise ValueError("the KS test needs a non-empty 1-D sample of finite numbers")
    res = stats.kstest(x, dist.cdf)
    return float(res.statistic), float(res.pvalue)


@dataclass(frozen=True)
class Comparison:
    """A seeded inverse-transform sample beside numpy's direct one, each with its KS test."""

    z: np.ndarray
    x: np.ndarray
    x_direct: np.ndarray
    ks: tuple[float, float]         # (statistic, p-value) of x against the distribution
    ks_direct: tuple[float, float]


def compare_samplers(dist: Dist, n: int, seed: int) -> Comparison:
    """Draw n points both ways from ``seed`` (independent streams) and KS-test each."""
    z, x = inverse_transform_sample(dist, n, seed)
    x_direct = direct_sample(dist, n, np.random.default_rng([1, seed]))
    return Comparison(z, x, x_direct, ks_test(x, dist), ks_test(x_direct, dist))


def sample_csv(z, x, x_direct) -> bytes:
    """The sample as CSV: one row per draw with z, x = ppf(z) and numpy's direct draw."""
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([z, x, x_direct]), fmt="%.10g", delimiter=",",
               header="z,x_inverse_transform,x_numpy", comments="")
    return buf.getvalue().encode()


# ----------------------------------------------------------------------------- likelihood


def _sample_1d(x, min_n: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or len(x) < min_n:
        raise ValueError(f"need a 1-D sample of at least {min_n} point(s), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("the sample contains NaN or infinite values")
    return x


def normal_mle(x) -> tuple[float, float]:
    """Maximum-likelihood estimates (mu_hat, sigma_hat) of a normal: the mean, the std (ddof=0)."""
    x = _sample_1d(x, 2)
    return float(x.mean()), float(x.std())


def normal_log_likelihood(x, mu, sigma) -> np.ndarray:
    """Log-likelihood of a normal sample, sum_i log N(x_i; mu, sigma), broadcast over mu, sigma.

    Uses the sufficient statistics (n, mean, sum of squares about the mean), so a grid of
    parameters costs O(grid), not O(grid * n).
    """
    x = _sample_1d(x)
    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError("mu and sigma must be finite")
    if (sigma <= 0).any():
        raise ValueError("sigma must be > 0")
    n, mean = len(x), x.mean()
    ss = np.square(x - mean).sum() + n * np.square(mean - mu)
    return -0.5 * n * np.log(2 * np.pi * sigma**2) - ss / (2 * sigma**2)


class Profile(NamedTuple):
    """The normal log-likelihood along one parameter, the other held at its MLE."""

    param: str           # "mu" or "sigma": the parameter that varies
    grid: np.ndarray     # its values, shape (num,)
    ll: np.ndarray       # log-likelihood minus its maximum (<= 0, 0 at the MLE), shape (num,)
    hat: float           # the MLE of ``param``
    true: float          # the value the sample was drawn with
    other_hat: float     # the MLE the other parameter is held at


def likelihood_profiles(x, mu: float, sigma: float, num: int = 300) -> tuple[Profile, Profile]:
    """Profiles of a normal sample's log-likelihood in mu (at sigma_hat) over mu +/- 1.2 sigma,
    and in sigma (at mu_hat) over 0.4 .. 1.8 sigma, relative to the maximum; ``mu`` and
    ``sigma`` are the true values (they centre the grids)."""
    x = _sample_1d(x, 2)
    mu_hat, sigma_hat = normal_mle(x)
    if sigma_hat <= 0:
        raise ValueError("all points are equal: the likelihood has no maximum in sigma")
    best = float(normal_log_likelihood(x, mu_hat, sigma_hat))
    mus = np.linspace(mu - 1.2 * sigma, mu + 1.2 * sigma, num)
    sigmas = np.linspace(0.4 * sigma, 1.8 * sigma, num)
    return (Profile("mu", mus, normal_log_likelihood(x, mus, sigma_hat) - best, mu_hat, mu,
                    sigma_hat),
            Profile("sigma", sigmas, normal_log_likelihood(x, mu_hat, sigmas) - best, sigma_hat,
                    sigma, mu_hat))


def mle_by_n(dist: Dist, seed: int, sizes=(10, 100, 1_000, 10_000, 100_000)) -> list[dict]:
    """Normal MLEs on the first n inverse-transform draws of ``seed``, for each n in ``sizes``.

    Shows how estimates tighten as n grows (their standard error is sigma / sqrt(n)).
    """
    if dist.family != "normal":
        raise ValueError("mle_by_n is for the normal distribution")
    sizes = [check_n(s) for s in sizes]
    _, x = inverse_transform_sample(dist, max(sizes), seed)
    p = dist.kw
    rows = []
    for n in sizes:
        mu_hat, sigma_hat = normal_mle(x[:n]) if n > 1 else (float(x[0]), float("nan"))
        rows.append({"n": n, "mu_hat": mu_hat, "sigma_hat": sigma_hat,
                     "mu_error": abs(mu_hat - p["mu"]), "se_mu": p["sigma"] / np.sqrt(n)})
    return rows


def sanity_checks(dist: Dist) -> list[dict]:
    """The tutorial's checks: ppf(0.5) = mu, ppf(0.8413) = mu + sigma, ppf(0.9772) = mu + 2 sigma.

    For a normal each row has the expected value and whether they agree to 0.1% of sigma;
    for another family, ``expected`` is None and the row checks cdf(ppf(z)) = z instead.
    """
    rows = []
    x = dist.ppf(NORMAL_CHECK_Z)
    back = dist.cdf(x)
    for k, (z, xi, zb) in enumerate(zip(NORMAL_CHECK_Z, x, back)):
        row = {"z": z, "ppf": float(xi), "cdf_of_ppf": float(zb), "expected": None,
               "label": ["μ", "μ + σ", "μ + 2σ"][k]}
        if dist.family == "normal":
            p = dist.kw
            row["expected"] = p["mu"] + k * p["sigma"]
            row["ok"] = abs(xi - row["expected"]) <= 1e-3 * p["sigma"]
        else:
            row["ok"] = abs(zb - z) <= 1e-9
        rows.append(row)
    return rows

