"""genlib.distributions against scipy.stats: ppf/pdf/cdf, samplers, KS, likelihood; and the
explorer's view of it (ui.gaussian_view: URL state, PNG figures; ui.charts: live charts)."""

import numpy as np
import pytest
from scipy import optimize, stats

from genlib import distributions as gd
from ui import charts
from ui import gaussian_view as gv

FAMILIES = list(gd.FAMILIES)
Z = np.concatenate([[1e-6, 1e-4], np.linspace(0.01, 0.99, 99), [1 - 1e-4]])
# Non-default members too, so a swapped or mis-scaled parameter cannot hide behind defaults.
MEMBERS = [
    ("normal", dict(mu=-3.0, sigma=0.5)),
    ("exponential", dict(rate=2.5)),
    ("uniform", dict(a=-2.0, b=5.0)),
    ("lognormal", dict(mu=1.0, sigma=0.3)),
    ("gamma", dict(k=0.7, theta=3.0)),
    ("beta", dict(alpha=0.5, beta=3.0)),
    ("t", dict(nu=2.5, mu=1.0, sigma=2.0)),
    ("cauchy", dict(x0=-1.0, gamma=0.5)),
]
REFERENCE = {  # scipy.stats, written out independently of Dist.frozen
    "normal": lambda p: stats.norm(loc=p["mu"], scale=p["sigma"]),
    "exponential": lambda p: stats.expon(scale=1 / p["rate"]),
    "uniform": lambda p: stats.uniform(loc=p["a"], scale=p["b"] - p["a"]),
    "lognormal": lambda p: stats.lognorm(s=p["sigma"], scale=np.exp(p["mu"])),
    "gamma": lambda p: stats.gamma(a=p["k"], scale=p["theta"]),
    "beta": lambda p: stats.beta(p["alpha"], p["beta"]),
    "t": lambda p: stats.t(df=p["nu"], loc=p["mu"], scale=p["sigma"]),
    "cauchy": lambda p: stats.cauchy(loc=p["x0"], scale=p["gamma"]),
}
IDS = [m[0] for m in MEMBERS]


@pytest.mark.parametrize("family,params", MEMBERS, ids=IDS)
def test_ppf_matches_scipy(family, params):
    """The fast ppf (closed forms, scipy.special) equals scipy.stats' ppf."""
    dist = gd.make(family, **params)
    np.testing.assert_allclose(dist.ppf(Z), REFERENCE[family](params).ppf(Z), rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("family,params", MEMBERS, ids=IDS)
def test_pdf_and_cdf_match_scipy(family, params):
    """pdf and cdf equal scipy.stats' for the family's parameterisation (rate, k/theta, ...)."""
    dist = gd.make(family, **params)
    ref = REFERENCE[family](params)
    x = ref.ppf(np.linspace(0.02, 0.98, 41))
    np.testing.assert_allclose(dist.pdf(x), ref.pdf(x), rtol=1e-12)
    np.testing.assert_allclose(dist.cdf(x), ref.cdf(x), rtol=1e-12)


def test_normal_pdf_is_the_textbook_formula():
    """N(200, 40)'s pdf is exp(-(x-mu)^2 / 2 sigma^2) / (sigma sqrt(2 pi))."""
    x = np.linspace(0, 400, 9)
    expected = np.exp(-((x - 200) ** 2) / (2 * 40**2)) / (40 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(gd.default().pdf(x), expected, rtol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_cdf_inverts_ppf(family):
    """cdf(ppf(z)) = z for every family's default member."""
    dist = gd.default(family)
    np.testing.assert_allclose(dist.cdf(dist.ppf(Z)), Z, rtol=1e-8, atol=1e-12)


def test_default_is_the_tutorials_normal():
    """The default preset is N(200, 40)."""
    assert gd.default() == gd.make("normal", mu=200, sigma=40)


@pytest.mark.parametrize("family,params", MEMBERS, ids=IDS)
def test_inverse_transform_sample_is_x_equals_ppf_of_uniform_z(family, params):
    """Draws are (z, ppf(z)) with z in (0, 1), float64, shape (n,)."""
    dist = gd.make(family, **params)
    z, x = gd.inverse_transform_sample(dist, 5_000, rng=1)
    assert z.shape == x.shape == (5_000,) and x.dtype == np.float64
    assert ((z > 0) & (z < 1)).all()
    np.testing.assert_array_equal(x, dist.ppf(z))


@pytest.mark.parametrize("family,params", MEMBERS, ids=IDS)
def test_both_samplers_pass_a_ks_test_against_scipy(family, params):
    """20,000 draws by the inverse transform and by numpy fit the scipy reference (KS)."""
    dist = gd.make(family, **params)
    ref = REFERENCE[family](params)
    _, x = gd.inverse_transform_sample(dist, 20_000, rng=3)
    assert stats.kstest(x, ref.cdf).pvalue > 1e-3
    assert stats.kstest(gd.direct_sample(dist, 20_000, rng=3), ref.cdf).pvalue > 1e-3


def test_normal_sample_moments_match_mu_and_sigma():
    """200,000 inverse-transform draws of N(200, 40) have mean ~200 and std ~40."""
    _, x = gd.inverse_transform_sample(gd.default(), 200_000, rng=0)
    assert abs(x.mean() - 200) < 4 * 40 / np.sqrt(len(x))
    assert abs(x.std() - 40) < 0.5


def test_seed_repeats_and_fresh_rng_differs():
    """The same seed gives the same draws; rng=None gives fresh ones."""
    dist = gd.default()
    np.testing.assert_array_equal(gd.inverse_transform_sample(dist, 100, 7)[1],
                                  gd.inverse_transform_sample(dist, 100, 7)[1])
    assert not np.array_equal(gd.inverse_transform_sample(dist, 100)[1],
                              gd.inverse_transform_sample(dist, 100)[1])


def test_larger_sample_extends_smaller_one():
    """The first k draws of a seed do not depend on n (so prefixes show n growing)."""
    dist = gd.default("gamma")
    small = gd.inverse_transform_sample(dist, 10, 5)[1]
    np.testing.assert_array_equal(gd.inverse_transform_sample(dist, 1_000, 5)[1][:10], small)


def test_a_million_points_can_be_drawn():
    """The benchmark's size, 1,000,000 points, is in range."""
    z, x = gd.inverse_transform_sample(gd.default(), 1_000_000, 0)
    assert len(x) == 1_000_000 and np.isfinite(x).all()


@pytest.mark.parametrize("family,params,reason", [
    ("normal", dict(mu=200, sigma=0), "must be > 0"),
    ("normal", dict(mu=200, sigma=-40), "must be > 0"),
    ("normal", dict(mu=float("nan"), sigma=40), "NaN"),
    ("normal", dict(mu=200, sigma=float("inf")), "infinite"),
    ("normal", dict(mu="200", sigma=40), "must be a number"),
    ("normal", dict(mu=True, sigma=40), "must be a number"),
    ("normal", dict(mu=200), "needs the parameter 'sigma'"),
    ("normal", dict(mu=200, sigma=40, rate=1), "no parameter 'rate'"),
    ("uniform", dict(a=1, b=1), "a < b"),
    ("beta", dict(alpha=0, beta=2), "must be > 0"),
    ("exponential", dict(rate=-1), "must be > 0"),
    ("normal", dict(mu=1e300, sigma=1), "too large"),
    ("gaussian", dict(mu=0, sigma=1), "unknown distribution"),
])
def test_bad_parameters_raise_valueerror_with_reason(family, params, reason):
    """Bad parameters raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=reason):
        gd.make(family, **params)


def test_too_extreme_distribution_is_refused():
    """A member whose central mass cannot be drawn (t with nu near 0) raises ValueError."""
    with pytest.raises(ValueError, match="too extreme"):
        gd.make("t", nu=1e-3, mu=0, sigma=1)


@pytest.mark.parametrize("n", [0, -5, 2.5, gd.MAX_N + 1, "10", None, float("nan")])
def test_n_out_of_range_raises(n):
    """n must be a whole number in [1, MAX_N]."""
    with pytest.raises(ValueError, match="n"):
        gd.inverse_transform_sample(gd.default(), n, 0)


def test_z_outside_unit_interval_raises():
    """ppf refuses z outside [0, 1] or NaN."""
    for z in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="z must lie"):
            gd.default().ppf([0.5, z])


def test_ks_test_matches_scipy():
    """ks_test returns scipy.stats.kstest's statistic and p-value."""
    dist = gd.default()
    x = gd.direct_sample(dist, 500, 0)
    ref = stats.kstest(x, stats.norm(200, 40).cdf)
    assert gd.ks_test(x, dist) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)


def test_ks_test_rejects_the_wrong_distribution():
    """A sample of N(200, 40) tested against N(220, 40) gets a tiny p-value."""
    x = gd.direct_sample(gd.default(), 2_000, 0)
    assert gd.ks_test(x, gd.make("normal", mu=220, sigma=40))[1] < 1e-6


def test_normal_log_likelihood_matches_scipy_sum_of_logpdf():
    """The sufficient-statistics log-likelihood equals sum(norm.logpdf) over a grid."""
    x = gd.direct_sample(gd.default(), 300, 1)
    mus, sigmas = np.linspace(150, 250, 7), np.linspace(20, 60, 5)
    got = gd.normal_log_likelihood(x, mus[:, None], sigmas[None, :])
    ref = stats.norm.logpdf(x[:, None, None], mus[:, None], sigmas[None, :]).sum(axis=0)
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_normal_mle_matches_scipy_fit_and_maximises_the_likelihood():
    """normal_mle equals scipy's norm.fit and a numerical maximum of the log-likelihood."""
    x = gd.direct_sample(gd.default(), 1_000, 2)
    mu_hat, sigma_hat = gd.normal_mle(x)
    assert (mu_hat, sigma_hat) == pytest.approx(stats.norm.fit(x), rel=1e-10)
    res = optimize.minimize(lambda p: -gd.normal_log_likelihood(x, p[0], np.exp(p[1])),
                            [150.0, np.log(20.0)], method="Nelder-Mead",
                            options=dict(xatol=1e-8, fatol=1e-10, maxiter=4000))
    assert (res.x[0], np.exp(res.x[1])) == pytest.approx((mu_hat, sigma_hat), rel=1e-5)


def test_likelihood_rejects_bad_input():
    """sigma <= 0, NaN samples and too few points raise ValueError."""
    with pytest.raises(ValueError, match="sigma"):
        gd.normal_log_likelihood([1.0, 2.0], 0.0, 0.0)
    with pytest.raises(ValueError, match="NaN"):
        gd.normal_mle([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="at least 2"):
        gd.normal_mle([1.0])


def test_mle_by_n_uses_prefixes_and_tightens():
    """Each row's MLE is that of the seed's first n draws; the error bound shrinks as 1/sqrt(n)."""
    dist = gd.default()
    rows = gd.mle_by_n(dist, seed=4, sizes=(10, 1_000, 100_000))
    _, x = gd.inverse_transform_sample(dist, 1_000, 4)
    assert (rows[1]["mu_hat"], rows[1]["sigma_hat"]) == pytest.approx(gd.normal_mle(x))
    assert [r["se_mu"] for r in rows] == pytest.approx([40 / np.sqrt(n) for n in (10, 1e3, 1e5)])
    assert rows[-1]["mu_error"] < 4 * rows[-1]["se_mu"]


def test_sanity_checks_reproduce_the_tutorial():
    """For N(200, 40): ppf(0.5) = 200, ppf(0.8413) ~ 240, ppf(0.9772) ~ 280, all agreeing."""
    rows = gd.sanity_checks(gd.default())
    assert [round(r["ppf"]) for r in rows] == [200, 240, 280]
    assert [r["expected"] for r in rows] == [200, 240, 280]
    assert all(r["ok"] for r in rows)


def test_sanity_checks_round_trip_for_other_families():
    """For other families the rows check cdf(ppf(z)) = z."""
    rows = gd.sanity_checks(gd.default("gamma"))
    assert all(r["ok"] and r["expected"] is None for r in rows)


# ----------------------------------------------------------------------------- the view (ui)


@pytest.mark.parametrize("family,params", MEMBERS, ids=IDS)
def test_view_state_round_trips_through_the_query_string(family, params):
    """parse_state(state.to_query()) gives the same state back, with no problems."""
    state = gv.ViewState(gd.make(family, **params), z=0.1234, n=42_000, seed=99)
    back, problems = gv.parse_state(state.to_query())
    assert problems == [] and back == state


def test_empty_query_gives_the_default_view():
    """No query parameters: N(200, 40), the default z, n and seed."""
    assert gv.parse_state({}) == (gv.ViewState(), [])


@pytest.mark.parametrize("query,field", [
    ({"dist": "bogus"}, "dist="),
    ({"dist": "normal", "sigma": "-3"}, "must be > 0"),
    ({"mu": "abc"}, "not a number"),
    ({"mu": "nan"}, "NaN"),
    ({"sigma": "inf"}, "infinite"),
    ({"dist": "uniform", "a": "3", "b": "1"}, "a < b"),
    ({"z": "1.5"}, "z = 1.5"),
    ({"z": "<script>"}, "not a number"),
    ({"n": "0"}, "out of range"),
    ({"n": "1000000"}, "out of range"),
    ({"n": "2.5"}, "whole number"),
    ({"seed": "-1"}, "seed"),
    ({"seed": "1e400"}, "seed"),
])
def test_garbage_in_the_query_string_is_reported_and_replaced(query, field):
    """Each bad field yields a message saying why, and a valid default in its place."""
    state, problems = gv.parse_state(query)
    assert len(problems) == 1 and field in problems[0]
    assert isinstance(state.dist, gd.Dist) and 0 < state.z < 1 and 1 <= state.n <= 100_000


def test_query_values_given_as_lists_use_the_last():
    """Repeated keys (?n=5&n=7) use the last value."""
    assert gv.parse_state({"n": ["5", "7"]})[0].n == 7


def _layers(spec):
    return {layer["mark"]["type"]: layer for layer in reversed(spec["layer"])}


def test_crosshair_charts_put_x_at_ppf_of_z_and_shade_left_of_it():
    """The live pdf/cdf charts mark x = ppf(z), shade the pdf up to it, and label z and x."""
    dist = gd.default()
    pdf_spec, cdf_spec = charts.crosshair_charts(dist, 0.8413)
    x = float(dist.ppf(0.8413))
    rule = _layers(pdf_spec)["rule"]["data"]["values"][0]
    assert rule["x"] == pytest.approx(x) and rule["p"] == pytest.approx(float(dist.pdf(x)))
    assert _layers(pdf_spec)["area"]["transform"] == [{"filter": f"datum.x <= {x!r}"}]
    texts = [layer["encoding"]["text"]["value"] for layer in cdf_spec["layer"]
             if layer["mark"]["type"] == "text"]
    assert texts == ["z = 0.8413", "x = ppf(z) = 239.99"]
    assert (pdf_spec["layer"][0]["encoding"]["x"]["scale"]["domain"]
            == cdf_spec["layer"][0]["encoding"]["x"]["scale"]["domain"])  # one shared x axis


def test_crosshair_rejects_z_at_the_ends():
    """z = 0 or 1 (ppf = -inf/+inf for a normal) is refused with a reason."""
    with pytest.raises(ValueError, match="strictly between"):
        charts.crosshair_charts(gd.default(), 1.0)


def test_sample_charts_are_densities_of_the_whole_sample():
    """Each histogram's bars integrate to the share of points on the chart (at most 1)."""
    dist = gd.default("cauchy")
    s = gd.compare_samplers(dist, 4_000, 0)
    for spec, sample in zip(charts.sample_charts(dist, s.z, s.x, s.x_direct),
                            (s.z, s.x, s.x_direct)):
        bars = spec["layer"][0]["data"]["values"]
        area = sum((b["b"] - b["a"]) * b["d"] for b in bars)
        lo, hi = bars[0]["a"], bars[-1]["b"]
        assert area == pytest.approx(np.mean((sample >= lo) & (sample <= hi)), abs=1e-6)


def test_likelihood_charts_peak_at_zero_at_the_mle():
    """The relative log-likelihood curves reach ~0 next to the marked MLE."""
    x = gd.direct_sample(gd.default(), 2_000, 0)
    mu_hat, sigma_hat = gd.normal_mle(x)
    specs = charts.likelihood_charts(gd.likelihood_profiles(x, 200, 40))
    for spec, hat in zip(specs, (mu_hat, sigma_hat)):
        curve = spec["layer"][1]["data"]["values"]
        best = max(curve, key=lambda r: r["ll"])
        assert best["ll"] == pytest.approx(0, abs=1e-2)
        assert spec["layer"][2]["data"]["values"][0]["t"] == pytest.approx(hat)


def test_figures_are_png():
    """The downloadable figures are PNG files."""
    dist = gd.default()
    s = gd.compare_samplers(dist, 500, 0)
    for png in (gv.inverse_transform_png(dist, 0.3, dpi=50),
                gv.sample_figure_png(dist, s.z, s.x, s.x_direct, dpi=50),
                gv.likelihood_figure_png(s.x, 200, 40, dpi=50)):
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_csv_has_a_header_and_one_row_per_draw():
    """The CSV download has z, x and numpy's draw for each of the n points."""
    s = gd.compare_samplers(gd.default(), 25, 0)
    lines = gd.sample_csv(s.z, s.x, s.x_direct).decode().splitlines()
    assert lines[0] == "z,x_inverse_transform,x_numpy" and len(lines) == 26
    np.testing.assert_allclose([float(v) for v in lines[1].split(",")],
                               [s.z[0], s.x[0], s.x_direct[0]], rtol=1e-9)


def test_a_bad_link_parameter_keeps_the_valid_ones():
    """One bad parameter is dropped and named; the link's valid parameters are kept (issue 18)."""
    state, problems = gv.parse_state({"dist": "normal", "mu": "150", "sigma": "-3", "z": "0.3"})
    assert state.dist == gd.make("normal", mu=150, sigma=40) and state.z == 0.3
    assert len(problems) == 1 and "sigma = -3" in problems[0] and "using sigma = 40" in problems[0]
    state, problems = gv.parse_state({"dist": "gamma", "k": "3", "theta": "abc"})
    assert state.dist == gd.make("gamma", k=3, theta=1)
    assert len(problems) == 1 and "theta='abc'" in problems[0]


def test_parameters_valid_alone_but_not_together_drop_the_fewest():
    """a = 3, b = 1 (each fine, a >= b together): one is reset, the other kept, both named."""
    state, problems = gv.parse_state({"dist": "uniform", "a": "3", "b": "1"})
    assert state.dist == gd.make("uniform", a=0, b=1)
    assert len(problems) == 1 and "a < b" in problems[0] and "using a = 0" in problems[0]
    state, problems = gv.parse_state({"dist": "uniform", "a": "-5", "b": "zzz"})
    assert state.dist == gd.make("uniform", a=-5, b=1) and len(problems) == 1


@pytest.mark.parametrize("family,name,value,reason", [
    ("normal", "sigma", 0.0, "must be > 0"),
    ("normal", "mu", float("nan"), "NaN"),
    ("gamma", "theta", "2", "must be a number"),
    ("normal", "rate", 1.0, "no parameter 'rate'"),
])
def test_check_param_checks_one_parameter_alone(family, name, value, reason):
    """check_param refuses a bad value with make's own reason; a good one comes back a float."""
    with pytest.raises(ValueError, match=reason):
        gd.check_param(family, name, value)
    assert gd.check_param("uniform", "a", 7) == 7.0  # a alone: a < b is make's business


def test_point_is_ppf_of_one_z_strictly_inside_the_unit_interval():
    """Dist.point(z) = ppf(z); z = 0, 1 or NaN is refused with a reason."""
    dist = gd.make("gamma", k=3, theta=2)
    assert dist.point(0.25) == pytest.approx(float(stats.gamma(3, scale=2).ppf(0.25)), rel=1e-12)
    for z in (0.0, 1.0):
        with pytest.raises(ValueError, match="strictly between"):
            dist.point(z)
    with pytest.raises(ValueError, match="NaN"):
        dist.point(float("nan"))


def test_curve_marks_an_infinite_pdf_as_nan():
    """Dist.curve gives evenly spaced xs and the pdf, NaN where the pdf is infinite."""
    xs, pdf = gd.make("gamma", k=0.5, theta=1).curve(0.0, 2.0, 5)
    np.testing.assert_allclose(xs, [0, 0.5, 1, 1.5, 2])
    assert np.isnan(pdf[0]) and np.isfinite(pdf[1:]).all()


def test_likelihood_profiles_are_the_log_likelihood_less_its_maximum():
    """Each profile is sum(logpdf) along its grid minus the maximum, the other at its MLE."""
    x = gd.direct_sample(gd.default(), 500, 5)
    mu_hat, sigma_hat = stats.norm.fit(x)
    prof_mu, prof_sigma = gd.likelihood_profiles(x, 200, 40, num=50)
    best = stats.norm.logpdf(x, mu_hat, sigma_hat).sum()
    want = stats.norm.logpdf(x[:, None], prof_mu.grid, sigma_hat).sum(0) - best
    np.testing.assert_allclose(prof_mu.ll, want, rtol=1e-9, atol=1e-7)
    assert (prof_mu.hat, prof_mu.true, prof_mu.other_hat) == pytest.approx((mu_hat, 200,
                                                                            sigma_hat))
    assert prof_sigma.param == "sigma" and prof_sigma.grid[0] == pytest.approx(16)
    assert prof_sigma.ll.max() <= 1e-9


def test_the_backend_draws_nothing():
    """genlib.distributions holds no chart, URL state or figure, and imports no plotting."""
    import subprocess
    import sys

    assert not {"ViewState", "parse_state", "crosshair_charts", "sample_figure_png"} & set(
        dir(gd))
    code = ("import sys, genlib.distributions as d; d.compare_samplers(d.default(), 9, 0); "
            "print(sorted(m for m in ('matplotlib', 'streamlit', 'ui') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60, cwd=str(__import__("pathlib").Path(
                             __file__).resolve().parents[2]))
    assert out.stdout.strip() == "[]"
