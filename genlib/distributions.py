"""One-dimensional distributions and sampling by the inverse transform.

If ``z ~ U(0, 1)`` and ``F`` is a cdf, then ``x = F^{-1}(z)`` (the percent point function,
``ppf``) is distributed by ``F``: knowing a distribution is enough to generate data from it.
This module holds the families the Gaussian explorer offers (their parameters, domains and
slider ranges), fast vectorised pdf/cdf/ppf, inverse-transform and direct sampling, the
Kolmogorov-Smirnov test, the normal log-likelihood and its maximum-likelihood estimates, the
explorer's URL state, and its figures: live ones as Vega-Lite specs (plain dicts the browser
draws), downloadable ones as matplotlib PNGs (imported lazily; no pyplot).

Every function raises ``ValueError`` with the reason for bad input (sigma <= 0, NaN or
infinite parameters, parameters outside a family's domain, n out of range).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

__all__ = [
    "FAMILIES", "Family", "Param", "Dist", "ViewState", "Comparison", "make", "default",
    "inverse_transform_sample", "direct_sample", "ks_test", "compare_samplers",
    "normal_log_likelihood", "normal_mle", "mle_by_n", "sanity_checks", "check_n",
    "parse_state", "inverse_transform_figure", "inverse_transform_png",
    "crosshair_charts", "sample_charts", "likelihood_charts", "sample_figure_png",
    "likelihood_figure_png", "sample_csv",
]

MAX_N = 10_000_000      # what genlib draws at most in one call (80 MB of float64)
PAGE_MAX_N = 100_000    # what the explorer page offers
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

    def plot_range(self) -> tuple[float, float]:
        """The x range the figures show: central 1 - 2 * tail of the mass, padded a little."""
        lo, hi = (float(v) for v in self.ppf([self.spec.tail, 1 - self.spec.tail]))
        if self.family in ("uniform", "beta"):  # bounded support: show its edges
            lo, hi = float(self.ppf(0.0)), float(self.ppf(1.0))
        if self.family in ("exponential", "gamma", "lognormal"):
            lo = 0.0
        pad = 0.04 * (hi - lo)
        return lo - pad, hi + pad


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
        v = _real(p.name, params[p.name])
        if p.positive and v <= 0:
            raise ValueError(f"{p.name} = {v:g}: the {p.label} must be > 0")
        values.append((p.name, v))
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


# ----------------------------------------------------------------------------- URL state


@dataclass(frozen=True)
class ViewState:
    """What a link to the explorer reopens: the distribution, z, n and the seed."""

    dist: Dist = field(default_factory=default)
    z: float = 0.8413
    n: int = 1_000
    seed: int = 0

    def to_query(self) -> dict[str, str]:
        def fmt(v: float) -> str:
            return np.format_float_positional(v, trim="-")

        return {"dist": self.dist.family, **{k: fmt(v) for k, v in self.dist.params},
                "z": fmt(self.z), "n": str(self.n), "seed": str(self.seed)}


Z_MIN, Z_MAX = 1e-4, 1 - 1e-4  # the explorer's z slider


def _one(query: Mapping, key: str):
    value = query.get(key)
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    return None if value is None else str(value).strip()


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name}={text[:40]!r} is not a number") from None


def parse_state(query: Mapping) -> tuple[ViewState, list[str]]:
    """Read a :class:`ViewState` from URL query parameters, tolerating garbage.

    Each field that is missing keeps its default; each that is invalid keeps its default and
    adds a message saying why (so the page can show it and still draw a valid view).
    """
    problems: list[str] = []
    base = ViewState()
    family = _one(query, "dist") or "normal"
    if family not in FAMILIES:
        problems.append(f"dist={family[:40]!r} is not a distribution here "
                        f"(choose one of {', '.join(FAMILIES)}); showing the normal")
        family = "normal"
    spec = FAMILIES[family]
    values = {}
    try:
        for p in spec.params:
            text = _one(query, p.name)
            values[p.name] = p.default if text is None else _number(text, p.name)
        dist = make(family, **values)
    except ValueError as e:
        problems.append(f"{e}; showing the default {spec.label.lower()}")
        dist = default(family)
    z, n, seed = base.z, base.n, base.seed
    text = _one(query, "z")
    if text is not None:
        try:
            z = _number(text, "z")
            if not Z_MIN <= z <= Z_MAX:
                raise ValueError(f"z = {z:g} must lie in [{Z_MIN:g}, {Z_MAX:g}]")
        except ValueError as e:
            problems.append(f"{e}; using z = {base.z}")
            z = base.z
    text = _one(query, "n")
    if text is not None:
        try:
            n = check_n(_number(text, "n"), PAGE_MAX_N)
        except ValueError as e:
            problems.append(f"{e}; using n = {base.n:,}")
            n = base.n
    text = _one(query, "seed")
    if text is not None:
        try:
            seed = _number(text, "seed")
            if not (seed == int(seed) and 0 <= seed < 2**32):
                raise ValueError(f"seed = {seed:g} must be a whole number in [0, 2^32)")
            seed = int(seed)
        except (ValueError, OverflowError) as e:
            problems.append(f"{e}; using seed = {base.seed}")
            seed = base.seed
    return ViewState(dist, z, n, seed), problems


# ----------------------------------------------------------------------------- figures

BLUE, RED, GREY, GREEN = "#1f4e9c", "#d1495b", "#8a8f98", "#2a9d55"
_RC = {"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13, "axes.spines.top": False,
       "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3}


def _figure(w: float, h: float, dpi: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: figures are thread-safe and never leak

    fig = Figure(figsize=(w, h), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _png(fig, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _curves(dist: Dist, lo: float, hi: float, num: int = 600):
    xs = np.linspace(lo, hi, num)
    with np.errstate(all="ignore"):
        pdf = dist.pdf(xs)
    pdf = np.where(np.isfinite(pdf), pdf, np.nan)
    return xs, pdf


def _pdf_top(dist: Dist, pdf: np.ndarray) -> float:
    top = np.nanmax(pdf) if np.isfinite(pdf).any() else 1.0
    if dist.family in ("gamma", "beta", "lognormal"):  # pdfs that can blow up at an edge
        top = min(top, 4 * np.nanpercentile(pdf, 95))
    return 1.12 * float(top)


def inverse_transform_figure(dist: Dist, z: float | None = None, dpi: int = 72,
                             width: float = 8.0, height: float = 6.4):
    """The pdf (top) over the cdf (bottom) on a shared x axis, and, given z, the crosshair
    from z on the cdf's axis across to the cdf and down to x = ppf(z), the area z shaded
    under the pdf left of x, and x marked under the pdf. Returns (fig, ax_pdf, ax_cdf)."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(width, height, dpi)
        fig.subplots_adjust(left=0.12, right=0.97, top=0.93, bottom=0.1, hspace=0.12)
        ax_pdf, ax_cdf = fig.subplots(2, 1, sharex=True)
        lo, hi = dist.plot_range()
        xs, pdf = _curves(dist, lo, hi)
        ax_pdf.plot(xs, pdf, color=BLUE, lw=2.5)
        ax_pdf.set_ylim(0, _pdf_top(dist, pdf))
        ax_pdf.set_ylabel("pdf  p(x)")
        ax_pdf.set_title(f"{dist}: the pdf, and the cdf whose inverse turns z into x",
                         loc="left", fontsize=13)
        ax_cdf.plot(xs, dist.cdf(xs), color=BLUE, lw=2.5)
        ax_cdf.set_ylim(-0.02, 1.04)
        ax_cdf.set_yticks([0, 0.25, 0.5, 0.75, 1])
        ax_cdf.set_ylabel("cdf  z = F(x)")
        ax_cdf.set_xlabel("x")
        ax_cdf.set_xlim(lo, hi)
        if z is not None:
            z = _check_z(z)
            x = float(dist.ppf(z))
            xc = min(max(x, lo), hi)
            left = xs <= xc
            ax_pdf.fill_between(xs[left], np.nan_to_num(pdf[left]), color=RED, alpha=0.22,
                                lw=0)
            ax_pdf.plot([xc, xc], [0, float(dist.pdf(x))], color=RED, lw=2.5)
            ax_pdf.plot([xc], [0], "o", color=RED, ms=9, clip_on=False)
            ax_cdf.plot([lo, xc, xc], [z, z, -0.02], color=RED, lw=2.5, ls="--")
            ax_cdf.plot([lo], [z], "o", color=GREEN, ms=10, clip_on=False)
            ax_cdf.plot([xc, xc], [z, -0.02], "o", color=RED, ms=8, clip_on=False)
            ax_cdf.annotate(f"z = {z:.4f}", (lo, z), xytext=(12, 8), textcoords="offset points",
                            color=GREEN, fontsize=13, fontweight="bold")
            right = xc > (lo + hi) / 2
            ax_cdf.annotate(f"x = ppf(z) = {x:.5g}", (xc, 0.04), xytext=(-8 if right else 8, 0),
                            textcoords="offset points", color=RED, fontsize=13,
                            fontweight="bold", ha="right" if right else "left")
    return fig, ax_pdf, ax_cdf


def inverse_transform_png(dist: Dist, z: float, dpi: int = 150) -> bytes:
    """The inverse-transform figure with its crosshair and labels, as PNG (for downloads)."""
    return _png(inverse_transform_figure(dist, z)[0], dpi)


def _check_z(z) -> float:
    z = _real("z", z)
    if not 0 < z < 1:
        raise ValueError(f"z = {z:g} must lie strictly between 0 and 1")
    return z


def _density_hist(ax, x, lo, hi, bins, color, label):
    """Histogram as a density over all n points (points off [lo, hi] still count in n)."""
    counts, edges = np.histogram(x, bins=bins, range=(lo, hi))
    ax.stairs(counts / (len(x) * (edges[1] - edges[0])), edges, fill=True, color=color,
              alpha=0.45, label=label)
    off = int(len(x) - counts.sum())
    if off:
        ax.text(0.98, 0.97, f"{off:,} off the chart", transform=ax.transAxes, ha="right",
                va="top", fontsize=11, color=GREY)


def sample_figure_png(dist: Dist, z, x, x_direct, dpi: int = 100) -> bytes:
    """Three histograms: the latent zs, x = ppf(z) with the pdf over it, numpy's draws (PNG)."""
    import matplotlib

    n = len(x)
    bins = int(np.clip(np.sqrt(n), 10, 60))
    lo, hi = dist.plot_range()
    xs = np.linspace(lo, hi, 400)
    with np.errstate(all="ignore"):
        pdf = dist.pdf(xs)
    with matplotlib.rc_context(_RC):
        fig = _figure(13.5, 3.9, dpi)
        fig.subplots_adjust(left=0.05, right=0.99, top=0.86, bottom=0.16, wspace=0.22)
        ax_z, ax_x, ax_d = fig.subplots(1, 3)
        _density_hist(ax_z, z, 0, 1, bins, GREEN, "zs")
        ax_z.plot([0, 1], [1, 1], color="k", lw=2, label="U(0, 1)")
        ax_z.set_ylim(0, None)
        ax_z.set_title(f"the latent: {n:,} z ~ U(0, 1)")
        ax_z.set_xlabel("z")
        for ax, sample, title, color in (
                (ax_x, x, "the data: x = ppf(z)", RED),
                (ax_d, x_direct, "numpy's own sampler", GREY)):
            _density_hist(ax, sample, lo, hi, bins, color, "sample")
            ax.plot(xs, pdf, color=BLUE, lw=2.2, label="pdf")
            ax.set_title(title)
            ax.set_xlabel("x")
            ax.set_xlim(lo, hi)
        ax_x.legend(loc="upper left", fontsize=11, frameon=False)
        ax_z.set_ylabel("density")
        return _png(fig, dpi)


def likelihood_figure_png(x, mu: float, sigma: float, dpi: int = 100) -> bytes:
    """Log-likelihood of a normal sample in mu (at sigma_hat) and in sigma (at mu_hat),
    relative to its maximum, with the MLEs and the true values marked (PNG)."""
    import matplotlib

    x = _sample_1d(x, 2)
    mu_hat, sigma_hat = normal_mle(x)
    if sigma_hat <= 0:
        raise ValueError("all points are equal: the likelihood has no maximum in sigma")
    best = float(normal_log_likelihood(x, mu_hat, sigma_hat))
    mus = np.linspace(mu - 1.2 * sigma, mu + 1.2 * sigma, 400)
    sigmas = np.linspace(0.4 * sigma, 1.8 * sigma, 400)
    curves = (
        (mus, normal_log_likelihood(x, mus, sigma_hat) - best, mu_hat, mu, r"\mu",
         rf"in $\mu$, at $\sigma = \hat\sigma$ = {sigma_hat:.4g}"),
        (sigmas, normal_log_likelihood(x, mu_hat, sigmas) - best, sigma_hat, sigma, r"\sigma",
         rf"in $\sigma$, at $\mu = \hat\mu$ = {mu_hat:.4g}"),
    )
    with matplotlib.rc_context(_RC):
        fig = _figure(12.0, 3.9, dpi)
        fig.subplots_adjust(left=0.07, right=0.99, top=0.86, bottom=0.17, wspace=0.18)
        for ax, (grid, ll, hat, true, name, title) in zip(fig.subplots(1, 2), curves):
            ax.plot(grid, ll, color=BLUE, lw=2.5)
            ax.axhspan(-1.92, 0, color=BLUE, alpha=0.08, lw=0)  # the 95% likelihood interval
            ax.axvline(hat, color=RED, lw=2.2, label=rf"MLE $\hat{{{name}}}$ = {hat:.4g}")
            ax.axvline(true, color="k", lw=1.8, ls="--", label=rf"true ${name}$ = {true:.4g}")
            ax.set_ylim(-20, 1.5)
            ax.set_xlim(grid[0], grid[-1])
            ax.set_xlabel(f"${name}$")
            ax.set_title(f"log-likelihood {title}", fontsize=13)
            ax.legend(loc="lower left", fontsize=11, frameon=True, framealpha=0.9)
        fig.axes[0].set_ylabel("ℓ − max ℓ")
        return _png(fig, dpi)


# ----------------------------------------------------------------------------- live charts
# Vega-Lite specs as plain dicts: the browser draws them, so a slider move costs the server
# only the arithmetic (a matplotlib redraw is 0.1-1 s here). The PNG downloads use matplotlib.

# Set on each axis (not in "config"), where Streamlit's chart theme cannot override them.
_AXIS = {"labelFontSize": 15, "titleFontSize": 16, "titleFontWeight": "normal",
         "labelColor": "#333333", "titleColor": "#111111"}
_YAXIS = {**_AXIS, "minExtent": 62, "maxExtent": 62}  # equal widths align stacked x axes


def _chart(layers: list, title: str = "", height: int = 240, **extra) -> dict:
    spec = {"height": height, "layer": layers, **extra}
    if title:
        spec["title"] = {"text": title, "fontSize": 17, "fontWeight": "normal", "anchor": "start",
                         "color": "#111111"}
    return spec


def _xy(x: str, y: str, xdomain, ydomain=None, xtitle="x", ytitle="", **kw) -> dict:
    xs = {"field": x, "type": "quantitative", "title": xtitle, "axis": _AXIS,
          "scale": {"domain": [float(v) for v in xdomain], "nice": False, "zero": False}}
    ys = {"field": y, "type": "quantitative", "title": ytitle, "axis": _YAXIS}
    if ydomain is not None:
        ys["scale"] = {"domain": [float(v) for v in ydomain], "nice": False, "zero": False}
    return {"x": xs, "y": ys, **kw}


def _rows(**columns) -> list[dict]:
    cols = {k: np.round(np.asarray(v, dtype=np.float64), 8) for k, v in columns.items()}
    return [dict(zip(cols, map(float, vals))) for vals in zip(*cols.values())]


def crosshair_charts(dist: Dist, z: float) -> tuple[dict, dict]:
    """Two Vega-Lite specs on the same x axis: the pdf with the area z shaded left of
    x = ppf(z) and x marked under it; the cdf with the crosshair from z across and down to x."""
    z = _check_z(z)
    lo, hi = dist.plot_range()
    xs, pdf = _curves(dist, lo, hi, 300)
    pdf = np.nan_to_num(pdf, nan=0.0)
    top = _pdf_top(dist, pdf)
    pdf = np.minimum(pdf, top)
    x = float(dist.ppf(z))
    xc = min(max(x, lo), hi)
    px = min(float(np.nan_to_num(dist.pdf(x), nan=0.0, posinf=top)), top)
    curve = {"values": _rows(x=xs, p=pdf, F=dist.cdf(xs))}
    mark = {"values": [{"x": xc, "z": z, "p": px, "zero": 0.0, "lo": lo}]}
    right = xc > (lo + hi) / 2

    def on_pdf(x_field, y_field):
        return _xy(x_field, y_field, (lo, hi), (0, top), "", "pdf  p(x)")

    def on_cdf(x_field, y_field):
        return _xy(x_field, y_field, (lo, hi), (-0.02, 1.04), "x", "cdf  z = F(x)")

    pdf_spec = _chart([
        {"data": curve, "transform": [{"filter": f"datum.x <= {xc!r}"}],
         "mark": {"type": "area", "color": RED, "opacity": 0.22},
         "encoding": on_pdf("x", "p")},
        {"data": curve, "mark": {"type": "line", "color": BLUE, "strokeWidth": 3},
         "encoding": on_pdf("x", "p")},
        {"data": mark, "mark": {"type": "rule", "color": RED, "strokeWidth": 3},
         "encoding": {**on_pdf("x", "zero"), "y2": {"field": "p"}}},
        {"data": mark, "mark": {"type": "point", "filled": True, "color": RED, "size": 140,
                                "opacity": 1},
         "encoding": on_pdf("x", "zero")},
    ], f"{dist}", height=230)
    dashed = {"type": "rule", "color": RED, "strokeWidth": 3, "strokeDash": [9, 5]}
    cdf_spec = _chart([
        {"data": curve, "mark": {"type": "line", "color": BLUE, "strokeWidth": 3},
         "encoding": on_cdf("x", "F")},
        {"data": mark, "mark": dashed,
         "encoding": {**on_cdf("lo", "z"), "x2": {"field": "x"}}},
        {"data": mark, "mark": dashed,
         "encoding": {**on_cdf("x", "z"), "y2": {"field": "zero"}}},
        {"data": {"values": [{"x": lo, "y": z, "c": GREEN}, {"x": xc, "y": z, "c": RED},
                             {"x": xc, "y": 0.0, "c": RED}]},
         "mark": {"type": "point", "filled": True, "size": 140, "opacity": 1},
         "encoding": {**on_cdf("x", "y"),
                      "color": {"field": "c", "type": "nominal", "scale": None}}},
        {"data": mark, "mark": {"type": "text", "color": GREEN, "fontSize": 16,
                                "fontWeight": "bold", "align": "left", "dx": 10, "dy": -12},
         "encoding": {**on_cdf("lo", "z"),
                      "text": {"value": f"z = {z:.4f}"}}},
        {"data": mark, "mark": {"type": "text", "color": RED, "fontSize": 16,
                                "fontWeight": "bold", "align": "right" if right else "left",
                                "dx": -10 if right else 10, "dy": -14},
         "encoding": {**on_cdf("x", "zero"),
                      "text": {"value": f"x = ppf(z) = {x:.5g}"}}},
    ], height=250)
    return pdf_spec, cdf_spec


def _hist_rows(x, lo: float, hi: float, bins: int) -> tuple[list[dict], int]:
    counts, edges = np.histogram(x, bins=bins, range=(lo, hi))
    return (_rows(a=edges[:-1], b=edges[1:], d=counts / (len(x) * (edges[1] - edges[0]))),
            int(len(x) - counts.sum()))


def sample_charts(dist: Dist, z, x, x_direct) -> list[dict]:
    """Three Vega-Lite histograms (as densities): the zs over U(0, 1), x = ppf(z) and numpy's
    draws, each of the latter with the pdf drawn over it."""
    n = len(x)
    bins = int(np.clip(np.sqrt(n), 10, 60))
    lo, hi = dist.plot_range()
    xs, pdf = _curves(dist, lo, hi, 300)
    curve = {"values": _rows(x=xs, p=np.nan_to_num(pdf))}
    specs = []
    for sample, title, color, a, b, name in (
            (z, f"the latent: {n:,} z ~ U(0, 1)", GREEN, 0.0, 1.0, "z"),
            (x, "the data: x = ppf(z)", RED, lo, hi, "x"),
            (x_direct, "numpy's own sampler", GREY, lo, hi, "x")):
        rows, off = _hist_rows(sample, a, b, bins)
        layers = [{"data": {"values": rows},
                   "mark": {"type": "rect", "color": color, "opacity": 0.55},
                   "encoding": {**_xy("a", "d", (a, b), None, name, "density"),
                                "x2": {"field": "b"}, "y2": {"datum": 0}}}]
        if name == "z":
            layers.append({"data": {"values": [{"a": 0.0, "b": 1.0, "d": 1.0}]},
                           "mark": {"type": "rule", "color": "black", "strokeWidth": 2.5},
                           "encoding": {**_xy("a", "d", (0, 1), None, name, "density"),
                                        "x2": {"field": "b"}}})
        else:
            layers.append({"data": curve, "mark": {"type": "line", "color": BLUE,
                                                   "strokeWidth": 3},
                           "encoding": _xy("x", "p", (lo, hi), None, name, "density")})
        if off:
            title += f" ({off:,} off the chart)"
        specs.append(_chart(layers, title, height=320))
    return specs


def likelihood_charts(x, mu: float, sigma: float) -> list[dict]:
    """Two Vega-Lite charts of the normal log-likelihood relative to its maximum: in mu (at
    sigma_hat) and in sigma (at mu_hat), with the MLE (red) and the true value (dashed)."""
    x = _sample_1d(x, 2)
    mu_hat, sigma_hat = normal_mle(x)
    if sigma_hat <= 0:
        raise ValueError("all points are equal: the likelihood has no maximum in sigma")
    best = float(normal_log_likelihood(x, mu_hat, sigma_hat))
    mus = np.linspace(mu - 1.2 * sigma, mu + 1.2 * sigma, 300)
    sigmas = np.linspace(0.4 * sigma, 1.8 * sigma, 300)
    specs = []
    for grid, ll, hat, true, name, at in (
            (mus, normal_log_likelihood(x, mus, sigma_hat) - best, mu_hat, mu, "μ",
             f"σ = σ̂ = {sigma_hat:.4g}"),
            (sigmas, normal_log_likelihood(x, mu_hat, sigmas) - best, sigma_hat, sigma, "σ",
             f"μ = μ̂ = {mu_hat:.4g}")):
        keep = ll > -25  # the rest is far below the chart
        dom = (grid[0], grid[-1])
        ydom, ytitle = (-20, 1.5), "log-likelihood − max"
        specs.append(_chart([
            {"data": {"values": [{"a": dom[0], "b": dom[1], "lo": -1.92, "hi": 0.0}]},
             "mark": {"type": "rect", "color": BLUE, "opacity": 0.1},
             "encoding": {**_xy("a", "lo", dom, ydom, name, ytitle), "x2": {"field": "b"},
                          "y2": {"field": "hi"}}},
            {"data": {"values": _rows(t=grid[keep], ll=ll[keep])},
             "mark": {"type": "line", "color": BLUE, "strokeWidth": 3, "clip": True},
             "encoding": _xy("t", "ll", dom, ydom, name, ytitle)},
            {"data": {"values": [{"t": hat}]}, "mark": {"type": "rule", "color": RED,
                                                        "strokeWidth": 3},
             "encoding": {"x": _xy("t", "t", dom, None, name)["x"]}},
            {"data": {"values": [{"t": true}]},
             "mark": {"type": "rule", "color": "black", "strokeWidth": 2, "strokeDash": [7, 4]},
             "encoding": {"x": _xy("t", "t", dom, None, name)["x"]}},
        ], f"in {name}, at {at}: MLE {name}̂ = {hat:.4g} (red), true {name} = {true:g} (dashed)",
            height=320))
    return specs
