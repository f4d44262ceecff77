"""The GAN page at a phone's width (390 px) and a laptop's (1400 px): the 8 x 8 grid, the
picture the page is about, comes before the controls on a phone."""

import pytest
from server import open_page

pytest.importorskip("tensorflow")

PAGE = "pages/4_GAN_Live_Training.py"
GRID = ".st-key-gan_grid_box img"
PLAY = ".st-key-gan_play button"


@pytest.mark.parametrize("width", [390, 1400])
def test_grid_comes_before_the_controls_on_a_phone(browser, server, screenshot_dir, width):
    """At 390 px the grid's top is above the Play button's; at 1400 px the controls row sits
    above the grid as before. Screenshots go to test-output/screenshots/."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        open_page(page, server, PAGE)
        # one measurement of all three, in page coordinates
        grid, play, chart = page.evaluate("""() => [
            document.querySelector('.st-key-gan_grid_box img'),
            document.querySelector('.st-key-gan_play button'),
            [...document.querySelectorAll("[data-testid='stMetric']")]
                .find(m => m.innerText.includes('D loss'))]
            .map(el => el.getBoundingClientRect().top + window.scrollY)""")
        page.screenshot(path=str(screenshot_dir / f"gan_{width}.png"))
        page.locator(PLAY).first.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir / f"gan_{width}_controls.png"))
        assert page.locator("[data-testid='stException']").count() == 0
        if width < 640:
            assert grid < play < chart, (grid, play, chart)  # picture, controls, charts
        else:
            assert play < grid and play < chart
    finally:
        context.close()
