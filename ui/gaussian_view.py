"""The Gaussian explorer's view: what a link reopens, and its downloadable PNG figures.

``ViewState`` is the explorer's state in the URL (distribution, parameters, z, n, seed);
``parse_state`` reads it from a hand-edited or garbled link, keeping every valid parameter
and naming each one it drops. The figures are matplotlib PNGs for downloads (imported lazily;
no pyplot), with the live charts' colours (:mod:`ui.charts`). The maths is
:mod:`genlib.distributions`; nothing here calls Streamlit.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from genlib import distributions as gd
from ui.charts import NUMPY_GREY, PDF_BLUE, X_RED, Z_GREEN, pdf_top

__all__ = ["ViewState", "parse_state", "PAGE_MAX_N", "Z_MIN", "Z_MAX",
           "inverse_transform_figure", "inverse_transform_png", "sample_figure_png",
           "likelihood_figure_png"]

PAGE_MAX_N = 100_000            # what the explorer page offers (genlib draws up to gd.MAX_N)
Z_MIN, Z_MAX = 1e-4, 1 - 1e-4  # the explorer's z slider


# ----------------------------------------------------------------------------- URL state


@dataclass(frozen=True)
class ViewState:
    """What a link to the explorer reopens: the distribution, z, n and the seed."""

    dist: gd.Dist = field(default_factory=gd.default)
    z: float = 0.8413
    n: int = 1_000
    seed: int = 0

    def to_query(self) -> dict[str, str]:
        def fmt(v: float) -> str:
            return np.format_float_positional(v, trim="-")

        return {"dist": self.dist.family, **{k: fmt(v) for k, v in self.dist.params},
                "z": fmt(self.z), "n": str(self.n), "seed": str(self.seed)}


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


def _dist(family: str, query: Mapping, problems: list[str]) -> gd.Dist:
    """The family's member the link describes, keeping every valid parameter.

    A parameter that is not a number or lies outside its domain is dropped (its default
    used) and named. Parameters valid alone but not together (a uniform's a >= b, a member
    too extreme to draw) drop the fewest linked values that make a valid member.
    """
    spec = gd.FAMILIES[family]
    values, given = {}, []
    for p in spec.params:
        values[p.name] = p.default
        text = _one(query, p.name)
        if text is None:
            continue
        try:
            values[p.name] = gd.check_param(family, p.name, _number(text, p.name))
            given.append(p.name)
        except ValueError as e:
            problems.append(f"{e}; using {p.name} = {p.default:g}")
    try:
        return gd.make(family, **values)
    except ValueError as e:
        reason = str(e)
    for k in range(1, len(given) + 1):
        for dropped in combinations(given, k):
            try:
                dist = gd.make(family, **{**values,
                                          **{n: spec.param(n).default for n in dropped}})
            except ValueError:
                continue
            using = ", ".join(f"{n} = {spec.param(n).default:g}" for n in dropped)
            problems.append(f"{reason}; using {using}")
            return dist
    problems.append(f"{reason}; showing the default {spec.label.lower()}")  # pragma: no cover
    return gd.default(family)  # pragma: no cover (the defaults are valid)


def parse_state(query: Mapping) -> tuple[ViewState, list[str]]:
    """Read a :class:`ViewState` from URL query parameters, tolerating garbage.

    Each field that is missing keeps its default; each that is invalid is replaced by its
    default and adds a message naming it and saying why, while the valid fields are kept
    (so the page can show the messages and still draw the view the link meant).
    """
    problems: list[str] = []
    base = ViewState()
    family = _one(query, "dist") or "normal"
    if family not in gd.FAMILIES:
        problems.append(f"dist={family[:40]!r} is not a distribution here "
                        f"(choose one of {', '.join(gd.FAMILIES)}); showing the normal")
        family = "normal"
    dist = _dist(family, query, problems)
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
            n = gd.check_n(_number(text, "n"), PAGE_MAX_N)
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


# ----------------------------------------------------------------------------- PNG figures

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


def inverse_transform_figure(dist: gd.Dist, z: float | None = None, dpi: int = 72,
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
        xs, pdf = dist.curve(lo, hi)
        ax_pdf.plot(xs, pdf, color=PDF_BLUE, lw=2.5)
        ax_pdf.set_ylim(0, pdf_top(dist, pdf))
        ax_pdf.set_ylabel("pdf  p(x)")
        ax_pdf.set_title(f"{dist}: the pdf, and the cdf whose inverse turns z into x",
                         loc="left", fontsize=13)
        ax_cdf.plot(xs, dist.cdf(xs), color=PDF_BLUE, lw=2.5)
        ax_cdf.set_ylim(-0.02, 1.04)
        ax_cdf.set_yticks([0, 0.25, 0.5, 0.75, 1])
        ax_cdf.set_ylabel("cdf  z = F(x)")
        ax_cdf.set_xlabel("x")
        ax_cdf.set_xlim(lo, hi)
        if z is not None:
            x = dist.point(z)  # checks 0 < z < 1
            z = float(z)
            xc = min(max(x, lo), hi)
            left = xs <= xc
            ax_pdf.fill_between(xs[left], np.nan_to_num(pdf[left]), color=X_RED, alpha=0.22,
                                lw=0)
            ax_pdf.plot([xc, xc], [0, float(dist.pdf(x))], color=X_RED, lw=2.5)
            ax_pdf.plot([xc], [0], "o", color=X_RED, ms=9, clip_on=False)
            ax_cdf.plot([lo, xc, xc], [z, z, -0.02], color=X_RED, lw=2.5, ls="--")
            ax_cdf.plot([lo], [z], "o", color=Z_GREEN, ms=10, clip_on=False)
            ax_cdf.plot([xc, xc], [z, -0.02], "o", color=X_RED, ms=8, clip_on=False)
            ax_cdf.annotate(f"z = {z:.4f}", (lo, z), xytext=(12, 8), textcoords="offset points",
                            color=Z_GREEN, fontsize=13, fontweight="bold")
            right = xc > (lo + hi) / 2
            ax_cdf.annotate(f"x = ppf(z) = {x:.5g}", (xc, 0.04), xytext=(-8 if right else 8, 0),
                            textcoords="offset points", color=X_RED, fontsize=13,
                            fontweight="bold", ha="right" if right else "left")
    return fig, ax_pdf, ax_cdf


def inverse_transform_png(dist: gd.Dist, z: float, dpi: int = 150) -> bytes:
    """The inverse-transform figure with its crosshair and labels, as PNG (for downloads)."""
    return _png(inverse_transform_figure(dist, z)[0], dpi)


def _density_hist(ax, x, lo, hi, bins, color, label):
    """Histogram as a density over all n points (points off [lo, hi] still count in n)."""
    counts, edges = np.histogram(x, bins=bins, range=(lo, hi))
    ax.stairs(counts / (len(x) * (edges[1] - edges[0])), edges, fill=True, color=color,
              alpha=0.45, label=label)
    off = int(len(x) - counts.sum())
    if off:
        ax.text(0.98, 0.97, f"{off:,} off the chart", transform=ax.transAxes, ha="right",
                va="top", fontsize=11, color=NUMPY_GREY)


def sample_figure_png(dist: gd.Dist, z, x, x_direct, dpi: int = 100) -> bytes:
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
        _density_hist(ax_z, z, 0, 1, bins, Z_GREEN, "zs")
        ax_z.plot([0, 1], [1, 1], color="k", lw=2, label="U(0, 1)")
        ax_z.set_ylim(0, None)
        ax_z.set_title(f"the latent: {n:,} z ~ U(0, 1)")
        ax_z.set_xlabel("z")
        for ax, sample, title, color in (
                (ax_x, x, "the data: x = ppf(z)", X_RED),
                (ax_d, x_direct, "numpy's own sampler", NUMPY_GREY)):
            _density_hist(ax, sample, lo, hi, bins, color, "sample")
            ax.plot(xs, pdf, color=PDF_BLUE, lw=2.2, label="pdf")
            ax.set_title(title)
            ax.set_xlabel("x")
            ax.set_xlim(lo, hi)
        ax_x.legend(loc="upper left", fontsize=11, frameon=False)
        ax_z.set_ylabel("density")
        return _png(fig, dpi)


_TEX = {"mu": r"\mu", "sigma": r"\sigma"}


def likelihood_figure_png(x, mu: float, sigma: float, dpi: int = 100) -> bytes:
    """Log-likelihood of a normal sample in mu (at sigma_hat) and in sigma (at mu_hat),
    relative to its maximum, with the MLEs and the true values marked (PNG)."""
    import matplotlib

    profiles = gd.likelihood_profiles(x, mu, sigma, num=400)
    with matplotlib.rc_context(_RC):
        fig = _figure(12.0, 3.9, dpi)
        fig.subplots_adjust(left=0.07, right=0.99, top=0.86, bottom=0.17, wspace=0.18)
        for ax, prof in zip(fig.subplots(1, 2), profiles):
            name = _TEX[prof.param]
            other = _TEX["sigma" if prof.param == "mu" else "mu"]
            title = rf"in ${name}$, at ${other} = \hat{other}$ = {prof.other_hat:.4g}"
            ax.plot(prof.grid, prof.ll, color=PDF_BLUE, lw=2.5)
            ax.axhspan(-1.92, 0, color=PDF_BLUE, alpha=0.08, lw=0)  # the 95% likelihood interval
            ax.axvline(prof.hat, color=X_RED, lw=2.2,
                       label=rf"MLE $\hat{{{name}}}$ = {prof.hat:.4g}")
            ax.axvline(prof.true, color="k", lw=1.8, ls="--",
                       label=rf"true ${name}$ = {prof.true:.4g}")
            ax.set_ylim(-20, 1.5)
            ax.set_xlim(prof.grid[0], prof.grid[-1])
            ax.set_xlabel(f"${name}$")
            ax.set_title(f"log-likelihood {title}", fontsize=13)
            ax.legend(loc="lower left", fontsize=11, frameon=True, framealpha=0.9)
        fig.axes[0].set_ylabel("ℓ − max ℓ")
        return _png(fig, dpi)
