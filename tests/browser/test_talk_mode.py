"""Talk mode and the guided tour in a real Chromium: type size, hidden controls, arrow keys.

Run under the shared lock:
``flock /tmp/genlab-browser.lock pytest tests/browser/test_talk_mode.py``.
"""

import pytest
from server import wait_idle

CARD = ".st-key-genlab_tour_card"
FONT = """(sel) => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize)"""


def goto(page, server, path: str) -> None:
    page.goto(server.url + path)
    page.wait_for_selector("[data-testid='stApp']", timeout=120_000)
    wait_idle(page)


def sidebar_open(page) -> bool:
    """Whether the sidebar shows (collapsed, Streamlit slides it off the left edge)."""
    return page.evaluate("() => { const r = document.querySelector(\"[data-testid='stSidebar']\")"
                         ".getBoundingClientRect(); return r.width > 50 && r.right > 50; }")


def no_overflow(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_talk_mode_enlarges_type_and_collapses_sidebar(page, server):
    """?talk=1: body text and headings are larger than without it; the sidebar starts closed."""
    goto(page, server, "/")
    normal_p = page.evaluate(FONT, "[data-testid='stMain'] [data-testid='stMarkdownContainer'] p")
    normal_h1 = page.evaluate(FONT, "h1")
    assert sidebar_open(page)
    goto(page, server, "/?talk=1")
    talk_p = page.evaluate(FONT, "[data-testid='stMain'] [data-testid='stMarkdownContainer'] p")
    talk_h1 = page.evaluate(FONT, "h1")
    assert talk_p >= 1.25 * normal_p, (normal_p, talk_p)  # measured: 17 px -> 22 px
    assert talk_h1 >= 1.25 * normal_h1, (normal_h1, talk_h1)
    assert not sidebar_open(page)
    assert no_overflow(page)


def test_talk_mode_lasts_across_pages(page, server):
    """Talk mode set on the home page still applies on a page opened from its links."""
    goto(page, server, "/?talk=1")
    page.locator("[data-testid='stMain'] [data-testid='stPageLink'] a").nth(1).click()
    wait_idle(page)
    page.wait_for_selector("h1:has-text('Class-conditional')", timeout=120_000)
    wait_idle(page)
    assert page.evaluate(FONT, "h1") > 55  # 2.75 rem of 22 px (46.75 px without talk mode)
    assert not sidebar_open(page)


def test_hidden_widget_is_not_visible(page, server):
    """?hide=cc_seed,cc_resample hides those controls; the digit picker stays."""
    goto(page, server, "/Class_Conditional_Sampling?hide=cc_seed,cc_resample")
    assert page.locator(".st-key-cc_seed").count() == 1
    assert page.locator(".st-key-cc_seed").is_hidden()
    assert page.locator(".st-key-cc_resample").is_hidden()
    assert page.locator(".st-key-cc_digit").is_visible()


def test_arrow_right_moves_the_tour_and_typing_does_not(page, server, screenshot_dir):
    """ArrowRight goes to the next step (and page); an arrow key typed in a field does not."""
    goto(page, server, "/Gaussian_Explorer?tour=1")
    card = page.locator(CARD)
    assert "1 of 7" in card.inner_text()
    field = page.locator(".st-key-g_n input")
    field.click()
    field.press("ArrowRight")
    wait_idle(page)
    assert "1 of 7" in card.inner_text()
    page.locator("h1").first.click()  # focus leaves the field
    page.keyboard.press("ArrowRight")
    wait_idle(page)
    assert "2 of 7" in page.locator(CARD).inner_text()
    page.keyboard.press("ArrowRight")  # the page's last step: on to the next page
    wait_idle(page)
    page.wait_for_selector("h1:has-text('Class-conditional')", timeout=120_000)
    wait_idle(page)
    assert "3 of 7" in page.locator(CARD).inner_text()
    page.keyboard.press("ArrowLeft")
    wait_idle(page)
    page.wait_for_selector("h1:has-text('Gaussian explorer')", timeout=120_000)
    assert "2 of 7" in page.locator(CARD).inner_text()
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.parametrize("width", [1400, 390])
@pytest.mark.parametrize("path,name", [
    ("/?talk=1", "home"),
    ("/Gaussian_Explorer?talk=1&tour=1", "gaussian_tour1"),
    ("/Class_Conditional_Sampling?talk=1&tour=4", "class_tour4"),
    ("/VAE_Latent_Space?talk=1&tour=5&hide=vae_random,vae_reset", "vae_tour5"),
])
def test_talk_mode_screenshots(browser, server, screenshot_dir, width, path, name):
    """Talk-mode pages at a laptop's and a phone's width: no exception, nothing wider than
    the window; screenshots in test-output/screenshots/talk_*.png."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        goto(page, server, path)
        page.wait_for_timeout(800)  # the tour scrolls its widget into view
        page.screenshot(path=str(screenshot_dir / f"talk_{name}_{width}.png"))
        assert page.locator("[data-testid='stException']").count() == 0
        assert no_overflow(page)
    finally:
        context.close()


def test_dark_theme_screenshot(browser, server, screenshot_dir):
    """A viewer whose system is dark gets the dark theme ([theme.dark] in config.toml)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = context.new_page()
    try:
        goto(page, server, "/Class_Conditional_Sampling?talk=1&tour=4")
        background = page.evaluate(
            "() => getComputedStyle(document.querySelector('[data-testid=stApp]'))"
            ".backgroundColor")
        assert background == "rgb(11, 13, 18)"
        page.wait_for_timeout(800)
        page.screenshot(path=str(screenshot_dir / "talk_class_tour4_dark_1400.png"))
    finally:
        context.close()
