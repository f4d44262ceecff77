"""The Diffusion page in Chromium: opens cleanly, the scrubber moves the strip, screenshots."""

from playwright.sync_api import expect
from server import open_page

PAGE = "pages/6_Diffusion.py"
SLOW = 60_000  # ms: a loaded 2-core machine reruns the page in seconds


def _scrub_images(page):
    """The src of the step picture and of the strip (both change with the scrubber)."""
    fragment = page.locator("[data-testid='stMain'] [data-testid='stImage'] img")
    return fragment.nth(0).get_attribute("src"), fragment.nth(1).get_attribute("src")


def test_page_opens_and_the_scrubber_moves_the_strip(page, server, screenshot_dir):
    seconds = open_page(page, server, PAGE)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    main = page.locator("[data-testid='stMain']")
    expect(main.get_by_text("Step 20/20", exact=False)).to_be_visible(timeout=SLOW)
    before = _scrub_images(page)
    thumb = page.locator(".st-key-df_scrub").get_by_role("slider")
    thumb.focus()
    thumb.press("Home")  # step 0: the starting noise
    expect(main.get_by_text("Step 0/20", exact=False)).to_be_visible(timeout=SLOW)
    after = _scrub_images(page)
    assert before[0] != after[0] and before[1] != after[1]
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    # Streamlit scrolls inside its own container: a tall viewport shows the whole tab
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshot_dir / "diffusion_1400.png"))
    for tab in ("Forward process", "Samples", "VAE prior vs learned prior"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(500)
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
        name = tab.split()[0].lower()
        page.screenshot(path=str(screenshot_dir / f"diffusion_1400_{name}.png"))
    print(f"opened in {seconds:.2f} s")


def test_other_tabs_render_and_narrow_screen(browser, server, screenshot_dir):
    context = browser.new_context(viewport={"width": 390, "height": 2400})
    page = context.new_page()
    try:
        open_page(page, server, PAGE)
        page.screenshot(path=str(screenshot_dir / "diffusion_390.png"))
        for tab in ("Forward process", "Samples", "VAE prior vs learned prior"):
            page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(300)
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
        page.screenshot(path=str(screenshot_dir / "diffusion_390_prior.png"))
    finally:
        context.close()
