"""Fixtures the AppTest modules share: a page opened from app.py as a user would open it."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def open_page(page: str, timeout: float = 120) -> AppTest:
    """Start at app.py, switch to ``page`` (e.g. "pages/2_X.py"), assert it ran cleanly."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def at(request):
    """The page named by the test module's ``PAGE``, freshly opened."""
    return open_page(request.module.PAGE)
