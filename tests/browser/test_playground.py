"""The 2-D playground in Chromium: the world map, a garbled link, CSV uploads, a GAN playing
live, and the page at 1400 and 390 px."""

import re

import numpy as np
from playwright.sync_api import expect
from server import open_page, page_url, wait_idle

PAGE = "pages/7_Playground.py"
SLOW = 120_000  # ms: TensorFlow loads and compiles on a loaded 2-core machine
CANVAS = ".st-key-pg_panel_a [data-testid='stImage'] img"


def _no_exception(page):
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def test_world_map_opens_with_table_and_verdict(page, server, screenshot_dir):
    """Default page: the canvas, the A / B / C metrics, the table and a verdict."""
    open_page(page, server, PAGE)
    _no_exception(page)
    main = page.locator("[data-testid='stMain']")
    expect(page.locator(CANVAS)).to_be_visible(timeout=SLOW)
    expect(main.get_by_text("A / B / C for every model on these points")).to_be_visible()
    expect(main.get_by_text("Verdict.", exact=False)).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 1900})
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshot_dir / "playground_1400.png"))


def test_a_garbled_link_warns_and_the_page_still_works(page, server):
    """?pg_n=lots&pg_model=<script>&pg_seed=inf: one warning naming them; defaults shown."""
    page.goto(page_url(server, PAGE) + "?pg_n=lots&pg_model=%3Cscript%3E&pg_seed=inf"
              "&pg_data=atlantis")
    wait_idle(page)
    _no_exception(page)
    warning = page.locator("[data-testid='stAlertContentWarning']")
    expect(warning).to_contain_text("pg_n")
    expect(warning).to_contain_text("pg_model")
    expect(warning).to_contain_text("pg_seed")
    expect(page.locator(CANVAS)).to_be_visible()
    assert "pg_seed=inf" not in page.url


def _upload(page, path):
    side = page.locator("[data-testid='stSidebar']")
    expander = side.get_by_text("Use your own points (CSV of x, y)")
    if not side.locator("[data-testid='stFileUploaderDropzoneInput']").count():
        expander.click()
    side.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    wait_idle(page)


def test_csv_uploads_good_and_bad(page, server, tmp_path):
    """A bad CSV is named with its reason; a good one becomes the dataset."""
    open_page(page, server, PAGE)
    bad = tmp_path / "broken.csv"
    bad.write_text("x,y\n" + "1,2\n" * 30 + "3,banana\n")
    _upload(page, bad)
    side = page.locator("[data-testid='stSidebar']")
    expect(side.get_by_text(re.compile("banana.*is not a number"))).to_be_visible(timeout=SLOW)
    good = tmp_path / "spiral_points.csv"
    a = np.linspace(0.5, 4 * np.pi, 400)
    good.write_text("x,y\n" + "".join(f"{t * np.cos(t):.4f},{t * np.sin(t):.4f}\n" for t in a))
    _upload(page, good)
    _no_exception(page)
    main = page.locator("[data-testid='stMain']")
    expect(main.get_by_text("spiral_points.csv", exact=False)).to_be_visible(timeout=SLOW)
    expect(main.get_by_text("support estimated", exact=False)).to_be_visible()


def test_gan_plays_live_and_the_canvas_redraws(page, server, screenshot_dir):
    """Play on eight Gaussians: the step count rises and the canvas changes while training;
    Pause stops it."""
    page.goto(page_url(server, PAGE) + "?pg_data=eight&pg_model=gan")
    wait_idle(page)
    page.locator(".st-key-pg_play_a button").click()
    panel = page.locator(".st-key-pg_panel_a")
    expect(panel.get_by_text(re.compile(r"Step [1-9][\d,]*\."))).to_be_visible(timeout=SLOW)
    first = page.locator(CANVAS).get_attribute("src")
    expect(panel.get_by_text(re.compile(r"Training: \d"))).to_be_visible(timeout=SLOW)
    page.wait_for_timeout(1500)
    assert page.locator(CANVAS).get_attribute("src") != first
    page.screenshot(path=str(screenshot_dir / "playground_1400_gan.png"))
    page.locator(".st-key-pg_pause_a button").click()
    expect(page.locator(".st-key-pg_play_a button")).to_be_visible(timeout=SLOW)
    _no_exception(page)


def test_narrow_screen_and_side_by_side(browser, server, screenshot_dir):
    """At 390 px, with two panels: everything stacks, nothing fails."""
    context = browser.new_context(viewport={"width": 390, "height": 3200})
    page = context.new_page()
    try:
        page.goto(page_url(server, PAGE) + "?pg_side=true&pg_data=moons&pg_model_b=gmm")
        wait_idle(page)
        _no_exception(page)
        expect(page.locator(".st-key-pg_panel_b [data-testid='stImage'] img")).to_be_visible()
        page.screenshot(path=str(screenshot_dir / "playground_390.png"))
    finally:
        context.close()
