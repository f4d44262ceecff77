"""AppTest behaviour of talk mode (?talk=1, ?hide=) and the guided tour (?tour=N)."""

from pathlib import Path

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from ui import talk, tour

ROOT = Path(__file__).resolve().parents[2]
GAUSSIAN = "pages/1_Gaussian_Explorer.py"
CLASSES = "pages/2_Class_Conditional_Sampling.py"


def app(**params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    return at


def styles(at) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def card(at) -> str:
    """The tour card's heading line ('' when no card shows)."""
    return next((m.value.split("  \n")[0] for m in at.markdown
                 if m.value.startswith("**Guided tour")), "")


def title(at) -> str:
    return at.title[0].value


@pytest.fixture
def page_config(monkeypatch):
    """Every st.set_page_config call's keyword arguments (AppTest does not record them)."""
    calls = []
    real = streamlit.set_page_config

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(streamlit, "set_page_config", spy)
    return calls


# ----------------------------------------------------------------------------- talk mode


def test_talk_link_collapses_sidebar_and_enlarges_type(page_config):
    """?talk=1 starts with the sidebar collapsed and injects the projector style sheet."""
    at = app(talk="1").run()
    assert not at.exception
    assert page_config[-1]["initial_sidebar_state"] == "collapsed"
    assert "html { font-size: 22px !important; }" in styles(at)


def test_without_talk_nothing_changes(page_config):
    """No talk parameter: the sidebar as before ("auto") and no talk-mode style sheet."""
    at = app().run()
    assert page_config[-1]["initial_sidebar_state"] == "auto"
    assert "font-size: 22px" not in styles(at)


def test_talk_mode_lasts_across_pages_and_talk_0_ends_it(page_config):
    """Talk mode stays on after a page switch without the parameter; ?talk=0 turns it off."""
    at = app(talk="1").run()
    at.switch_page(CLASSES).run()
    assert "talk" not in at.query_params or at.query_params["talk"] == "1"
    assert page_config[-1]["initial_sidebar_state"] == "collapsed"
    assert "font-size: 22px" in styles(at)
    at.query_params["talk"] = "0"
    at.run()
    assert page_config[-1]["initial_sidebar_state"] == "auto"
    assert "font-size: 22px" not in styles(at)


def test_bad_talk_value_is_named_and_dropped():
    """?talk=maybe: one warning names it; the page works and talk mode stays off."""
    at = app(talk="maybe").run()
    assert not at.exception
    assert any("talk" in w.value and "maybe" in w.value for w in at.warning)
    assert "font-size: 22px" not in styles(at)


def test_hide_makes_display_none_rules():
    """?hide=cc_seed,cc_resample writes a display:none rule for each key's container."""
    at = app(hide="cc_seed,cc_resample").run()
    at.switch_page(CLASSES).run()
    assert not at.exception
    sheet = styles(at)
    assert ".st-key-cc_seed, .st-key-cc_resample { display: none !important; }" in sheet
    assert not at.warning


def test_bad_hide_values_are_named_in_one_warning():
    """Bad keys are named in a single warning; the valid keys are kept and hidden."""
    at = app(hide="g_z,<b>x</b>,a b,cc_seed").run()
    warnings = [w.value for w in at.warning if "hide" in w.value]
    assert len(warnings) == 1
    assert "x" in warnings[0] and "a b" in warnings[0]
    assert ".st-key-g_z, .st-key-cc_seed { display: none" in styles(at)
    assert at.query_params["hide"] == "g_z,cc_seed"
    assert "<b>" not in warnings[0]  # shown as text, never as markup


def test_hide_keeps_at_most_40_keys():
    """A list of 45 keys hides the first 40 and says that 5 were left out."""
    keys = [f"k{i}" for i in range(45)]
    shown, bad, over = talk.parse_hide(",".join(keys))
    assert shown == tuple(keys[:40]) and bad == [] and over == 5
    at = app(hide=",".join(keys)).run()
    assert any("5 key(s) past the first 40" in w.value for w in at.warning)


def test_empty_hide_shows_everything_again():
    """?hide= (empty) clears the hidden keys kept in the session."""
    at = app(hide="g_z").run()
    at.query_params["hide"] = ""
    at.run()
    assert "display: none" not in styles(at)


# ----------------------------------------------------------------------------- the tour


def test_tour_steps_are_well_formed():
    """6-8 steps, each on an existing page with a short text; pages in the tour's order."""
    assert 6 <= len(tour.STEPS) <= 8
    order = [p.name for p in sorted((ROOT / "pages").glob("*.py"))]
    seen = [Path(s.page).name for s in tour.STEPS]
    assert all(name in order for name in seen)
    assert [order.index(n) for n in seen] == sorted(order.index(n) for n in seen)
    for step in tour.STEPS:
        sentences = step.text.count(". ") + step.text.count("? ") + 1
        assert 2 <= sentences <= 5, step.title
        assert all(talk.WIDGET_KEY.fullmatch(k) for k in step.targets)


def test_start_button_opens_step_1_on_its_page():
    """The home page's tour button opens step 1 on the Gaussian explorer."""
    at = app().run()
    at.button(key="tour_start").click().run()
    assert not at.exception
    assert title(at).startswith("Gaussian explorer")
    assert "1 of 7" in card(at)


@pytest.mark.parametrize("n", [3, 5])
def test_tour_link_opens_step_n_on_its_page(n):
    """?tour=N on the home page goes to step N's page and shows step N there."""
    at = app(tour=str(n)).run()
    assert not at.exception
    assert f"{n} of {len(tour.STEPS)}: {tour.STEPS[n - 1].title}" in card(at)
    expected = {3: "Class-conditional", 5: "VAE latent space"}[n]
    assert title(at).startswith(expected)


def test_tour_step_sets_its_page_parameters():
    """Step 4 (why samples blur) chooses the diagonal covariance; Back to 3 the full one."""
    at = app(tour="4").run()
    assert at.radio(key="cc_cov").value == "diag"
    at.button(key="tour_back").click().run()
    assert "3 of" in card(at)
    assert at.radio(key="cc_cov").value == "full"
    at.button(key="tour_next").click().run()
    assert "4 of" in card(at) and at.radio(key="cc_cov").value == "diag"


def test_next_and_back_move_within_a_page():
    """Next on step 1 shows step 2 on the same page; Back returns to step 1."""
    at = app(tour="1").run()
    at.button(key="tour_next").click().run()
    assert "2 of" in card(at) and title(at).startswith("Gaussian explorer")
    at.button(key="tour_back").click().run()
    assert "1 of" in card(at)


def test_next_on_a_pages_last_step_goes_to_the_next_page():
    """Step 2 is the Gaussian explorer's last: Next switches to the class-conditional page."""
    at = app(tour="2").run()
    assert title(at).startswith("Gaussian explorer")
    at.button(key="tour_next").click().run()
    assert not at.exception
    assert title(at).startswith("Class-conditional")
    assert "3 of" in card(at)


def test_finish_ends_the_tour_and_tour_0_ends_it_too():
    """Finish on the last step removes the card; so does ?tour=0."""
    last = len(tour.STEPS)
    at = app(tour=str(last)).run()
    assert f"{last} of {last}" in card(at)
    at.button(key="tour_next").click().run()
    assert card(at) == ""
    at = app(tour="2").run()
    at.query_params["tour"] = "0"
    at.run()
    assert card(at) == ""


def test_bad_tour_value_is_named():
    """?tour=99 or ?tour=inf: a warning names it; the page works without a tour."""
    for bad in ("99", "inf"):
        at = app(tour=bad).run()
        assert not at.exception
        assert any("tour" in w.value for w in at.warning)
        assert card(at) == ""


def test_tour_follows_the_presenter_to_another_page():
    """During the tour, opening a page by hand moves the tour to that page's first step."""
    at = app(tour="1").run()
    at.switch_page(CLASSES).run()
    assert "3 of" in card(at)
    at.switch_page("app.py").run()
    assert at.button(key="tour_continue")  # the home page offers the way back
    at.button(key="tour_continue").click().run()
    assert title(at).startswith("Class-conditional")
