"""The Diffusion page's model chooser in Chromium: pixel U-Net by click and by link, at 1400
and 390 px."""

from playwright.sync_api import expect
from server import open_page, page_url, wait_idle

PAGE = "pages/6_Diffusion.py"
SLOW = 60_000


def _no_exception(page):
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def test_choosing_the_pixel_model_reruns_the_reverse_process(browser, server, screenshot_dir):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    try:
        open_page(page, server, PAGE)
        main = page.locator("[data-testid='stMain']")
        before = page.locator(".st-key-df_rev_main [data-testid='stImage'] img").nth(0) \
            .get_attribute("src")
        page.locator(".st-key-df_model").get_by_role("radio", name="Pixels: a small U-Net") \
            .click()
        wait_idle(page, SLOW)
        _no_exception(page)
        expect(main.get_by_text("works on the pixels", exact=False)).to_be_visible()
        expect(main.get_by_text("Step 20/20", exact=False)).to_be_visible(timeout=SLOW)
        after = page.locator(".st-key-df_rev_main [data-testid='stImage'] img").nth(0) \
            .get_attribute("src")
        assert after != before
        expect(page.get_by_role("tab", name="VAE prior vs learned prior")).to_have_count(0)
        assert "df_model=pixel" in page.url
        page.screenshot(path=str(screenshot_dir / "diffusion_pixel_1400.png"))
        page.get_by_role("tab", name="Forward process").click()
        wait_idle(page, SLOW)
        _no_exception(page)
        page.screenshot(path=str(screenshot_dir / "diffusion_pixel_1400_forward.png"))
    finally:
        context.close()


def test_pixel_link_on_a_phone_shows_the_picture_first(browser, server, screenshot_dir):
    context = browser.new_context(viewport={"width": 390, "height": 2400})
    page = context.new_page()
    try:
        page.goto(page_url(server, PAGE) + "?df_model=pixel")
        wait_idle(page, SLOW)
        _no_exception(page)
        picture = page.locator(".st-key-df_main_picture").bounding_box()
        chooser = page.locator(".st-key-df_model").bounding_box()
        assert picture["y"] < chooser["y"] and picture["y"] < 844
        page.screenshot(path=str(screenshot_dir / "diffusion_pixel_390.png"))
    finally:
        context.close()


def test_pixel_knob_charts_open_from_the_shipped_table(browser, server, screenshot_dir):
    """The pixel model's knob tab shows both charts at once (its table ships), on a wide
    screen and on a phone; no "Measure them now" button."""
    for width in (1400, 390):
        context = browser.new_context(viewport={"width": width, "height": 1600})
        page = context.new_page()
        try:
            page.goto(page_url(server, PAGE) + "?df_model=pixel&df_tab=What+the+knobs+do")
            wait_idle(page, SLOW)
            _no_exception(page)
            main = page.locator("[data-testid='stMain']")
            expect(main.locator("[data-testid='stVegaLiteChart']")).to_have_count(2,
                                                                                  timeout=SLOW)
            expect(main.get_by_text("shipped with the model", exact=False)).to_be_visible()
            expect(page.locator(".st-key-df_knobs_go")).to_have_count(0)
            page.wait_for_timeout(500)  # the charts draw after their element appears
            main.locator("[data-testid='stVegaLiteChart']").first.scroll_into_view_if_needed()
            page.screenshot(path=str(screenshot_dir / f"diffusion_pixel_knobs_{width}.png"))
        finally:
            context.close()
