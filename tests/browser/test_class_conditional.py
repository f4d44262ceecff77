"""Class-conditional sampling in Chromium: each tab shows content; Resample changes the draw."""

from server import open_page, wait_idle

PAGE = "pages/2_Class_Conditional_Sampling.py"
TABS = ["Pick a digit", "All classes", "Prior and imbalance", "As a classifier",
        "Training digits"]


def sample_src(page) -> str:
    """The src of the samples grid (the second image of the first tab)."""
    return page.locator("[data-testid='stImage'] img").nth(1).get_attribute("src")


def test_every_tab_renders_without_exception(page, server, screenshot_dir):
    """Each tab opens, shows images or a chart, and no exception appears."""
    open_page(page, server, PAGE)
    for i, name in enumerate(TABS):
        page.get_by_role("tab", name=name).click()
        wait_idle(page)
        panel = page.get_by_role("tabpanel", name=name)
        assert panel.locator("[data-testid='stImage'], [data-testid='stVegaLiteChart']").count()
        page.screenshot(path=str(screenshot_dir / f"class_conditional_tab{i}.png"))
    assert page.locator("[data-testid='stException']").count() == 0


def test_resample_draws_new_digits(page, server):
    """Clicking Resample replaces the samples with a different image."""
    open_page(page, server, PAGE)
    before = sample_src(page)
    page.get_by_role("button", name="Resample").click()
    wait_idle(page)
    page.wait_for_function(
        "src => document.querySelectorAll(\"[data-testid='stImage'] img\")[1].src !== src",
        arg=before, timeout=30_000)
    assert sample_src(page) != before
    assert page.locator("[data-testid='stException']").count() == 0
