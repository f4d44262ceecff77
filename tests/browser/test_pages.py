"""Every page opens in a real Chromium with no exception; a screenshot of each is saved."""

from pathlib import Path

import pytest
from server import open_page

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["app.py"] + [str(p.relative_to(ROOT)) for p in sorted((ROOT / "pages").glob("*.py"))]


@pytest.mark.parametrize("path", PAGES, ids=[Path(p).stem for p in PAGES])
def test_page_renders_in_chromium(page, server, screenshot_dir, path):
    """The page finishes its script, shows no stException, and names the dataset in use."""
    open_page(page, server, path)
    page.screenshot(path=str(screenshot_dir / f"{Path(path).stem}.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stSidebar']").get_by_text("Dataset:").count() >= 1
