"""The GAN page's best presets in Chromium: a link opens the pretrained best DCGAN or mlp and
its grid, with no exception, at a phone's and a laptop's width."""

import pytest
from server import page_url, wait_idle

from genlib import gan

SHIPPED = [p for p in gan.BEST if gan.shipped_checkpoint_path(p).exists()]


@pytest.mark.parametrize("width", [390, 1400])
@pytest.mark.parametrize("preset", SHIPPED)
def test_a_link_opens_the_pretrained_best_gan(browser, server, screenshot_dir, preset, width):
    """?preset=<best> shows the shipped checkpoint's step count and its grid."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(page_url(server, "pages/4_GAN_Live_Training.py") + f"?preset={preset}")
        wait_idle(page)
        page.screenshot(path=str(screenshot_dir / f"gan_{preset}_{width}.png"))
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.locator(".st-key-gan_grid_box img").count() == 1
        step = f"{gan.GAN.load_pretrained(preset).step:,}"
        assert page.get_by_text(f"pretrained {preset} GAN").count() >= 1
        assert step in page.locator("[data-testid='stMetric']").first.inner_text()
    finally:
        context.close()
