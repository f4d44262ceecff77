"""Compare Models in Chromium: pick two models, compute, and the table and chart appear."""

from server import open_page, wait_idle

PAGE = "pages/5_Compare_Models.py"


def test_compute_a_small_scoreboard(page, server, screenshot_dir):
    """Clearing the models, choosing two fast ones and computing shows a table and a chart."""
    open_page(page, server, PAGE)
    box = page.locator("[data-testid='stMultiSelect']")
    box.get_by_role("button", name="Clear all").click()
    wait_idle(page)
    for name in ("Real held-out digits", "Class means (10 images)"):
        box.locator("input").fill(name)
        page.get_by_role("option", name=name).click()
        wait_idle(page)
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Compute the scoreboard").click()
    wait_idle(page, 300_000)
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=60_000)
    page.wait_for_selector("[data-testid='stVegaLiteChart']", timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(screenshot_dir / "compare_small_scoreboard.png"))
