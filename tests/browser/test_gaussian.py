"""The Gaussian explorer in Chromium: the z slider drives x = ppf(z); a link reopens a view."""

import re

from playwright.sync_api import expect
from server import open_page, page_url, wait_idle

from genlib import distributions as gd

PAGE = "pages/1_Gaussian_Explorer.py"
SLOW = 60_000  # ms: a loaded 2-core machine reruns the page in seconds


def metric(page, label: str):
    """The value of the metric labelled exactly ``label``."""
    return (page.locator("[data-testid='stMetric']")
            .filter(has=page.get_by_text(label, exact=True))
            .locator("[data-testid='stMetricValue']"))


def test_z_slider_key_press_moves_x_to_ppf_of_z(page, server):
    """Nudging the z slider with the keyboard shows the new x = ppf(z) and redraws the charts."""
    open_page(page, server, PAGE)
    expect(metric(page, "x = ppf(z)")).to_have_text("239.99")
    thumb = page.locator("[data-testid='stSlider']").filter(has_text="Latent z").get_by_role(
        "slider")
    thumb.focus()
    thumb.press("ArrowRight")
    expect(metric(page, "z")).to_have_text("0.8414", timeout=SLOW)
    expect(metric(page, "x = ppf(z)")).to_have_text(f"{float(gd.default().ppf(0.8414)):.5g}",
                                                    timeout=SLOW)
    expect(page.locator("[data-testid='stVegaLiteChart']").first).to_be_visible()
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def test_link_reopens_the_view_and_garbage_is_explained(page, server):
    """A shared link restores distribution, z and n; a garbage field gets a visible warning."""
    page.goto(page_url(server, PAGE) + "?dist=exponential&rate=2&z=0.5&n=300&seed=1&n=abc")
    wait_idle(page)
    expect(metric(page, "x = ppf(z)")).to_have_text(
        f"{float(gd.make('exponential', rate=2).ppf(0.5)):.5g}", timeout=SLOW)
    expect(page.get_by_text("'abc' is not a number")).to_have_count(1)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"rate=2.*n=1000"))  # rewritten to a valid view


def test_one_bad_parameter_in_a_link_keeps_the_others(page, server):
    """?mu=150&sigma=-3: the warning names sigma; the view and the URL keep mu = 150."""
    page.goto(page_url(server, PAGE) + "?dist=normal&mu=150&sigma=-3&z=0.25")
    wait_idle(page)
    expect(page.get_by_text("using sigma = 40")).to_have_count(1, timeout=SLOW)
    expect(metric(page, "x = ppf(z)")).to_have_text(
        f"{float(gd.make('normal', mu=150, sigma=40).ppf(0.25)):.5g}", timeout=SLOW)
    expect(page).to_have_url(re.compile(r"mu=150&sigma=40"))
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
