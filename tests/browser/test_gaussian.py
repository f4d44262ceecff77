"""The Gaussian explorer in Chromium: the z slider drives x = ppf(z); a link reopens a view."""

from server import open_page, page_url, wait_idle

from genlib import distributions as gd

PAGE = "pages/1_Gaussian_Explorer.py"


def metric(page, label: str) -> str:
    return (page.locator("[data-testid='stMetric']").filter(has_text=label)
            .locator("[data-testid='stMetricValue']").inner_text().strip())


def test_z_slider_key_press_moves_x_to_ppf_of_z(page, server):
    """Nudging the z slider with the keyboard shows the new x = ppf(z) and redraws the charts."""
    open_page(page, server, PAGE)
    assert metric(page, "x = ppf(z)") == "239.99"
    thumb = page.locator("[data-testid='stSlider']").filter(has_text="Latent z").get_by_role(
        "slider")
    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stMetricValue]')]"
                           ".some(e => e.innerText.trim() === '0.8414')", timeout=60_000)
    wait_idle(page)
    assert metric(page, "x = ppf(z)") == f"{float(gd.default().ppf(0.8414)):.5g}"
    assert page.locator("[data-testid='stException']").count() == 0


def test_link_reopens_the_view_and_garbage_is_explained(page, server):
    """A shared link restores distribution, z and n; a garbage field gets a visible warning."""
    page.goto(page_url(server, PAGE) + "?dist=exponential&rate=2&z=0.5&n=300&seed=1&n=abc")
    page.wait_for_selector("[data-testid='stApp']")
    wait_idle(page)
    assert metric(page, "x = ppf(z)") == f"{float(gd.make('exponential', rate=2).ppf(0.5)):.5g}"
    assert page.get_by_text("'abc' is not a number").count() == 1
    assert page.locator("[data-testid='stException']").count() == 0
    assert "rate=2" in page.url and "n=1000" in page.url  # the URL is rewritten to a valid view
