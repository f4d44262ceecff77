"""AppTest behaviour of the Gaussian explorer: z drives x = ppf(z), links, bad input."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from genlib import distributions as gd

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "1_Gaussian_Explorer.py")


def open_page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update({k: str(v) for k, v in query.items()})
    at.run()
    assert not at.exception, at.exception
    return at


def shown_x(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "x = ppf(z)")


@pytest.fixture(scope="module")
def default_page() -> AppTest:
    return open_page()


def test_default_view_is_the_tutorials_normal(default_page):
    """With no link state the page shows N(200, 40) at z = 0.8413, so x = 239.99, and no errors."""
    at = default_page
    assert at.selectbox(key="g_dist").value == "normal"
    assert (at.number_input(key="g_normal_mu").value,
            at.number_input(key="g_normal_sigma").value) == (200, 40)
    assert shown_x(at) == "239.99"
    assert not at.error and not at.warning


def test_moving_z_changes_x_to_ppf_of_z(default_page):
    """Moving the z slider updates the shown x to ppf(z) of the current distribution."""
    at = default_page
    for z in (0.9772, 0.1, 0.5):
        at.slider(key="g_z").set_value(z).run()
        assert shown_x(at) == f"{float(gd.default().ppf(z)):.5g}"
    assert at.query_params["z"] == "0.5"


def test_query_string_restores_the_view():
    """A link with distribution, parameters, z, n and seed reopens exactly that view."""
    query = dict(dist="gamma", k="3", theta="2", z="0.25", n="500", seed="7")
    at = open_page(**query)
    assert at.selectbox(key="g_dist").value == "gamma"
    assert (at.number_input(key="g_gamma_k").value,
            at.number_input(key="g_gamma_theta").value) == (3, 2)
    assert (at.slider(key="g_z").value, at.number_input(key="g_n").value,
            at.number_input(key="g_seed").value) == (0.25, 500, 7)
    assert shown_x(at) == f"{float(gd.make('gamma', k=3, theta=2).ppf(0.25)):.5g}"
    assert not at.warning and not at.error
    assert {k: at.query_params[k] for k in query} == query


def test_link_beyond_a_sliders_range_keeps_the_exact_value():
    """mu = 1000 (valid, past the slider's end): the number input keeps it, the slider clips."""
    at = open_page(mu="1000", sigma="0.5")
    assert at.number_input(key="g_normal_mu").value == 1000
    assert at.slider(key="g_normal_mu_s").value == gd.FAMILIES["normal"].param("mu").hi
    assert shown_x(at) == f"{float(gd.make('normal', mu=1000, sigma=0.5).ppf(0.8413)):.5g}"


def test_the_page_writes_its_state_into_the_url(default_page):
    """After a parameter change the URL holds the new view, so a copied link reopens it."""
    at = default_page
    at.slider(key="g_normal_mu_s").set_value(150.0).run()
    assert at.number_input(key="g_normal_mu").value == 150  # slider and number input agree
    assert at.query_params["dist"] == "normal" and at.query_params["mu"] == "150"
    assert shown_x(at) == f"{float(gd.make('normal', mu=150, sigma=40).ppf(0.5)):.5g}"


def test_garbage_in_the_url_shows_a_message_and_a_valid_view():
    """A hand-edited URL with garbage: a warning per bad field, the default view, no traceback."""
    at = open_page(dist="normal", sigma="-3", z="abc", n="99999999", seed="x")
    text = " ".join(w.value for w in at.warning)
    for reason in ("must be > 0", "'abc' is not a number", "out of range", "seed"):
        assert reason in text
    assert shown_x(at) == "239.99" and not at.error
    assert at.query_params["sigma"] == "40" and at.query_params["n"] == "1000"


def test_one_bad_link_parameter_keeps_the_valid_ones():
    """mu = 150 with sigma = -3: sigma is named and reset, mu = 150, z and n are kept (issue 18)."""
    at = open_page(dist="normal", mu="150", sigma="-3", z="0.25", n="300")
    text = " ".join(w.value for w in at.warning)
    assert "sigma = -3" in text and "using sigma = 40" in text
    assert (at.number_input(key="g_normal_mu").value,
            at.number_input(key="g_normal_sigma").value) == (150, 40)
    assert (at.slider(key="g_z").value, at.number_input(key="g_n").value) == (0.25, 300)
    assert shown_x(at) == f"{float(gd.make('normal', mu=150, sigma=40).ppf(0.25)):.5g}"
    assert at.query_params["mu"] == "150" and at.query_params["sigma"] == "40"


def test_unknown_distribution_in_the_url_falls_back_to_the_normal():
    """dist=<garbage> names the problem and shows the normal."""
    at = open_page(dist="<script>")
    assert "is not a distribution here" in " ".join(w.value for w in at.warning)
    assert at.selectbox(key="g_dist").value == "normal"


def test_typed_sigma_zero_shows_an_error_and_keeps_the_last_valid_view():
    """sigma <= 0 typed into the number input: a clear error; the figures stay on the last view."""
    at = open_page(mu="100", sigma="20", z="0.9772")
    at.number_input(key="g_normal_sigma").set_value(0.0).run()
    assert not at.exception
    assert any("must be > 0" in e.value and "last valid view" in e.value for e in at.error)
    assert shown_x(at) == f"{float(gd.make('normal', mu=100, sigma=20).ppf(0.9772)):.5g}"
    assert at.query_params["sigma"] == "20"


def test_switching_distribution_shows_its_own_controls():
    """Choosing Cauchy shows its x0/gamma controls, its x = ppf(z), and the likelihood note."""
    at = open_page()
    at.selectbox(key="g_dist").set_value("cauchy").run()
    assert at.number_input(key="g_cauchy_gamma").value == 1
    assert shown_x(at) == f"{float(gd.default('cauchy').ppf(0.8413)):.5g}"
    assert any("normal" in i.value.lower() for i in at.info)
    assert at.query_params["dist"] == "cauchy" and "x0" in at.query_params


def test_draw_a_new_sample_changes_the_seed_and_the_ks_table():
    """The sample button moves to the next seed (kept in the URL) and redraws the sample."""
    at = open_page(n="200")
    table = [m.value for m in at.markdown if "KS statistic" in m.value]
    at.button(key="g_resample").click().run()
    assert at.number_input(key="g_seed").value == 1 and at.query_params["seed"] == "1"
    assert [m.value for m in at.markdown if "KS statistic" in m.value] != table


def test_likelihood_section_reports_the_mles_of_the_sample():
    """The likelihood text names mu-hat and sigma-hat of the n points drawn with the seed."""
    at = open_page(n="300", seed="3")
    mu_hat, sigma_hat = gd.normal_mle(gd.inverse_transform_sample(gd.default(), 300, 3)[1])
    text = " ".join(m.value for m in at.markdown)
    assert f"**{mu_hat:.4g}**" in text and f"**{sigma_hat:.4g}**" in text


def test_the_page_keeps_a_presenters_talk_and_tour_parameters_in_its_link():
    """Rewriting its own view into the URL leaves talk, hide and tour in place."""
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    for k, v in {"talk": "1", "hide": "g_seed", "dist": "gamma", "k": "3", "theta": "2"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    assert at.query_params["talk"] == "1" and at.query_params["hide"] == "g_seed"
    assert at.query_params["dist"] == "gamma"
