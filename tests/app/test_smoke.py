"""AppTest smoke: the home page and every file in pages/ (found automatically) run cleanly."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "pages").glob("*.py"))


def test_home_renders_without_exception():
    """app.py runs, explains, and links to every page."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert "generative model" in " ".join(m.value for m in at.markdown)
    assert any("Dataset:" in c.value for c in at.sidebar.caption)
    assert at.image and all(i.url.startswith("data:image/") for img in at.image
                            for i in img.proto.imgs)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_renders_without_exception(page):
    """Each page, reached from app.py as a user would, runs without an exception."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(str(page.relative_to(ROOT))).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    uses_digits = "dataset=False" not in page.read_text(encoding="utf-8")
    # a page that uses no digits shows no MNIST choice (it would only confuse)
    assert any("Dataset:" in c.value for c in at.sidebar.caption) == uses_digits
    assert bool([r for r in at.sidebar.radio if r.key == "_source_radio"]) == uses_digits
    # pictures arrive inside the page's message (ui.inline_image), not as media files that
    # a late fetch under load, or one behind the wrong replica, would miss (a 404)
    urls = [i.url for img in at.image for i in img.proto.imgs]
    assert all(u.startswith("data:image/") for u in urls), [u[:40] for u in urls]
