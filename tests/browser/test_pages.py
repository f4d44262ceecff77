"""Every page opens in a real Chromium, at a projector's width and a phone's, with no exception.

Screenshots of each land in test-output/screenshots/ (name_1400.png, name_390.png).
"""

from pathlib import Path

import pytest
from server import open_page

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["app.py"] + [str(p.relative_to(ROOT)) for p in sorted((ROOT / "pages").glob("*.py"))]
WIDTHS = {1400: 900, 390: 844}  # a laptop on a projector; a phone (iPhone 12-14)


def _uses_digits(path: str) -> bool:
    return "dataset=False" not in (ROOT / path).read_text(encoding="utf-8")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", PAGES, ids=[Path(p).stem for p in PAGES])
def test_page_renders_in_chromium(browser, server, screenshot_dir, path, width):
    """No stException, the dataset named where digits are used, nothing wider than the screen."""
    context = browser.new_context(viewport={"width": width, "height": WIDTHS[width]})
    page = context.new_page()
    try:
        open_page(page, server, path)
        page.screenshot(path=str(screenshot_dir / f"{Path(path).stem}_{width}.png"),
                        full_page=True)
        assert page.locator("[data-testid='stException']").count() == 0
        named = page.locator("[data-testid='stSidebar']").get_by_text("Dataset:").count() >= 1
        assert named == _uses_digits(path)
        overflow = page.evaluate("document.documentElement.scrollWidth") - width
        assert overflow <= 1, f"{overflow} px wider than the {width} px screen"
    finally:
        context.close()


def test_on_a_phone_the_vae_digit_comes_before_its_sliders(browser, server):
    """At 390 px the decoded digit is above the sliders and the digit chooser, not below."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        open_page(page, server, "pages/3_VAE_Latent_Space.py")
        digit = page.locator(".st-key-vae_main_digit img").first.bounding_box()
        slider = page.locator("[data-testid='stSlider']").first.bounding_box()
        assert digit["y"] < slider["y"]
    finally:
        context.close()
