"""Sample a distribution by pushing a uniform z through its inverse cdf; likelihood and MLE."""

import numpy as np
import streamlit as st

import ui
from genlib import distributions as gd
from ui import charts, talk
from ui import gaussian_view as gv

ui.setup_page("Gaussian Explorer", ":material/ssid_chart:", dataset=False)  # no digits here
ss = st.session_state


# Caches are keyed on (family, params): plain tuples hash much faster than a dataclass.
@st.cache_data(max_entries=8, show_spinner="Sampling...")
def sampled(family: str, params: tuple, n: int, seed: int):
    """The seeded samples with their KS tests, and their charts (Vega-Lite specs)."""
    dist = gd.Dist(family, params)
    s = gd.compare_samplers(dist, n, seed)
    lik = (charts.likelihood_charts(gd.likelihood_profiles(s.x, **dist.kw))
           if family == "normal" and n > 1 else None)
    return s, charts.sample_charts(dist, s.z, s.x, s.x_direct), lik


@st.cache_data(max_entries=4, show_spinner="Drawing the figure...")
def figure_png(kind: str, family: str, params: tuple, z: float, n: int, seed: int) -> bytes:
    """A figure as PNG for download, rendered by matplotlib only when asked for."""
    dist = gd.Dist(family, params)
    if kind == "inverse_transform":
        return gv.inverse_transform_png(dist, z)
    s = gd.compare_samplers(dist, n, seed)
    if kind == "histograms":
        return gv.sample_figure_png(dist, s.z, s.x, s.x_direct, dpi=150)
    return gv.likelihood_figure_png(s.x, **dist.kw, dpi=150)


def chart_row(specs: list[dict], prefix: str) -> None:
    for i, (col, spec) in enumerate(zip(st.columns(len(specs)), specs)):
        col.vega_lite_chart(spec, width="stretch", height=spec["height"], key=f"{prefix}{i}")


def png_button(label: str, kind: str, *args) -> None:
    st.download_button(label, lambda: figure_png(kind, *args), file_name=f"{kind}.png",
                       mime="image/png", key=f"g_{kind}_png", on_click="ignore",
                       icon=":material/download:")


@st.cache_data(max_entries=8, show_spinner=False)
def mle_table(params: tuple, seed: int) -> list[dict]:
    return gd.mle_by_n(gd.Dist("normal", params), seed)


def md_table(columns: dict) -> str:
    """A small markdown table (it reads at the page's font size, large on a projector)."""
    rows = zip(*columns.values())
    return "\n".join(["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
                     + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def key(family: str, name: str) -> str:
    return f"g_{family}_{name}"


def set_params(dist: gd.Dist) -> None:
    for p, (name, value) in zip(dist.spec.params, dist.params):
        ss[key(dist.family, name)] = value
        ss[key(dist.family, name) + "_s"] = float(min(max(value, p.lo), p.hi))


def set_state(view: gv.ViewState) -> None:
    ss.update(g_dist=view.dist.family, g_z=view.z, g_n=view.n, g_seed=view.seed)
    set_params(view.dist)


def from_slider(k: str) -> None:
    ss[k] = ss[k + "_s"]


def from_number(k: str, p: gd.Param) -> None:
    if np.isfinite(ss[k]):  # the slider follows, clipped to its range
        ss[k + "_s"] = float(min(max(ss[k], p.lo), p.hi))


def params_ui(family: str) -> dict:
    """A slider and a free number input per parameter (kept in sync); returns the values."""
    values = {}
    for p in gd.FAMILIES[family].params:
        k = key(family, p.name)
        ss.setdefault(k, p.default)
        ss.setdefault(k + "_s", float(min(max(ss[k], p.lo), p.hi)))
        left, right = st.columns([3, 2], vertical_alignment="bottom")
        decimals = max(0, -int(np.floor(np.log10(p.step))))
        left.slider(p.label, p.lo, p.hi, step=p.step, format=f"%.{decimals}f", key=k + "_s",
                    on_change=from_slider, args=(k,))
        right.number_input(f"{p.symbol} (type any value)", step=p.step, format="%g", key=k,
                           on_change=from_number, args=(k, p))
        values[p.name] = ss[k]
    return values


# A link reopens the exact view: read the URL once per visit (widget keys do not exist yet).
if "g_dist" not in ss:
    view, problems = gv.parse_state(st.query_params.to_dict())
    set_state(view)
    ss["g_last_valid"] = view.dist
    ss["g_url_problems"] = problems

st.title("Gaussian explorer: data from a uniform z")
st.markdown(
    "If $z \\sim U(0, 1)$ and $F$ is a cdf, then $x = F^{-1}(z)$, the **percent point "
    "function** (ppf), is distributed by $F$. Knowing a distribution is enough to *generate* "
    "data from it: the first idea of generative modelling."
)
for problem in ss.pop("g_url_problems", []):
    st.warning(f"Ignored part of the link: {problem}.", icon=":material/link_off:")

controls, picture = st.columns([2, 3], gap="large")
with controls:
    family = st.selectbox("Distribution", list(gd.FAMILIES), key="g_dist",
                          format_func=lambda f: gd.FAMILIES[f].label)
    spec = gd.FAMILIES[family]
    st.latex(spec.formula)
    values = params_ui(family)
    st.button(f"Reset to {gd.default(family)}", key="g_reset", on_click=set_params,
              args=(gd.default(family),), icon=":material/restart_alt:")
    try:
        dist = gd.make(family, **values)
        ss["g_last_valid"] = dist
    except ValueError as e:
        last = ss.get("g_last_valid")
        dist = last if last is not None and last.family == family else gd.default(family)
        st.error(f"{e}. Showing the last valid view, {dist}.", icon=":material/error:")
    z = st.slider("Latent z, a point of U(0, 1)", gv.Z_MIN, gv.Z_MAX, step=0.0001,
                  format="%.4f", key="g_z")
    x = float(dist.ppf(z))
    m1, m2 = st.columns(2)
    m1.metric("z", f"{z:.4f}")
    m2.metric("x = ppf(z)", f"{x:.5g}")

with picture:
    pdf_spec, cdf_spec = charts.crosshair_charts(dist, z)
    for spec, k in ((pdf_spec, "g_pdf_chart"), (cdf_spec, "g_cdf_chart")):
        st.vega_lite_chart(spec, width="stretch", height=spec["height"], key=k)
    lo, hi = dist.plot_range()
    off = "" if lo <= x <= hi else f" (x = {x:.4g} lies off the chart)"
    st.caption(f"Green dot: z on the cdf's axis. Across to the cdf, down to x = ppf(z){off}. "
               "The shaded area under the pdf, left of x, is z.")
    st.markdown("**Sanity checks from the tutorial**")
    rows = gd.sanity_checks(dist)
    columns = {"z": [f"{r['z']:.4f}" for r in rows], "ppf(z)": [f"{r['ppf']:.6g}" for r in rows]}
    if dist.family == "normal":
        columns["expected"] = [f"{r['label']} = {r['expected']:g}" for r in rows]
        columns["agrees (rounded)"] = ["✓" if r["ok"] else "✗" for r in rows]
    else:
        columns["cdf(ppf(z))"] = [f"{r['cdf_of_ppf']:.4f}" for r in rows]
        columns["round trip"] = ["✓" if r["ok"] else "✗" for r in rows]
    st.markdown(md_table(columns))

st.subheader("Sampling: n uniform zs in, n data points out")
c1, c2, c3 = st.columns([2, 2, 3], vertical_alignment="bottom")
n = c1.number_input("n, points to draw", 1, gv.PAGE_MAX_N, step=100, key="g_n")
seed = c2.number_input("seed", 0, 2**32 - 1, step=1, key="g_seed")
c3.button("Draw a new sample", key="g_resample", icon=":material/casino:", type="primary",
          on_click=lambda: ss.update(g_seed=(ss["g_seed"] + 1) % 2**32))
n, seed = int(n), int(seed)
sample, sample_specs, likelihood_specs = sampled(dist.family, dist.params, n, seed)
chart_row(sample_specs, "g_hist")
st.markdown(md_table({"sampler": ["inverse transform, x = ppf(z)", "numpy's own sampler"],
          "KS statistic D": [f"{sample.ks[0]:.4f}", f"{sample.ks_direct[0]:.4f}"],
          "p-value": [f"{sample.ks[1]:.3f}", f"{sample.ks_direct[1]:.3f}"]}))
st.caption("The Kolmogorov-Smirnov statistic is the largest gap between the sample's empirical "
           "cdf and the true cdf; a small p-value (< 0.05) would say the sample does not fit.")
state = (dist.family, dist.params, float(z), n, seed)
d1, d2, d3 = st.columns(3)
with d1:
    st.download_button("Sample (CSV)", lambda: gd.sample_csv(sample.z, sample.x, sample.x_direct),
                       file_name=f"sample_{dist.family}_n{n}_seed{seed}.csv", mime="text/csv",
                       key="g_csv", on_click="ignore", icon=":material/download:")
with d2:
    png_button("Inverse-transform figure (PNG)", "inverse_transform", *state)
with d3:
    png_button("Histograms (PNG)", "histograms", *state)

st.subheader("Likelihood and maximum likelihood")
if dist.family != "normal":
    st.info("The likelihood section follows the tutorial's normal distribution: choose "
            "Normal (Gaussian) above to see it.", icon=":material/info:")
elif n < 2:
    st.info("The maximum-likelihood σ needs at least 2 points: raise n.", icon=":material/info:")
else:
    mu, sigma = dist.kw["mu"], dist.kw["sigma"]
    mu_hat, sigma_hat = gd.normal_mle(sample.x)
    st.markdown(
        f"For the {n:,} points above, the log-likelihood $\\ell(\\mu, \\sigma) = \\sum_i "
        f"\\log \\mathcal{{N}}(x_i; \\mu, \\sigma)$ peaks at the **maximum-likelihood "
        f"estimates** $\\hat\\mu$ = mean = **{mu_hat:.4g}** (true {mu:g}) and $\\hat\\sigma$ "
        f"= std = **{sigma_hat:.4g}** (true {sigma:g}). The shaded band holds the values "
        "within 1.92 of the maximum: a 95% likelihood interval.")
    chart_row(likelihood_specs, "g_lik")
    png_button("Likelihood figure (PNG)", "likelihood", *state)
    table = mle_table(dist.params, seed)
    st.markdown(
        f"**Estimates tighten as n grows**: the standard error of $\\hat\\mu$ is "
        f"$\\sigma/\\sqrt{{n}}$ = {sigma / np.sqrt(n):.3g} here; 100 times more data makes "
        "it 10 times smaller. The same seed, its first n draws:")
    st.markdown(md_table({"n": [f"{r['n']:,}" for r in table],
              "μ̂": [f"{r['mu_hat']:.4f}" for r in table],
              "σ̂": [f"{r['sigma_hat']:.4f}" for r in table],
              "error of μ̂": [f"{r['mu_error']:.4f}" for r in table],
              "σ/√n": [f"{r['se_mu']:.4f}" for r in table]}))

# Keep the URL in step with the view (the last valid one), so a link reopens it exactly.
query = gv.ViewState(dist, float(z), n, seed).to_query()
# rewrite only this page's parameters: talk, hide and tour belong to the presenter's link
kept = {k: v for k, v in st.query_params.to_dict().items() if k in talk.LINK_KEYS}
if st.query_params.to_dict() != {**kept, **query}:
    st.query_params.from_dict({**kept, **query})
