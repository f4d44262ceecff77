"""The sidebar's data source: a bad upload keeps the dataset, a good one replaces it."""

import numpy as np
from playwright.sync_api import expect
from server import open_page, wait_idle


def _upload(page, path):
    page.get_by_text("Use your own MNIST file").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    wait_idle(page)


def _caption(page) -> str:
    sidebar = page.locator("[data-testid='stSidebar']")
    return sidebar.locator("[data-testid='stCaptionContainer']").filter(
        has_text="Dataset:").inner_text()


def test_malformed_upload_shows_message_and_keeps_dataset(page, server, tmp_path):
    """An HTML page named .npz: a clear message, the previous dataset stays, sample offered."""
    open_page(page, server, "app.py")
    before = _caption(page)
    bad = tmp_path / "mnist.npz"
    bad.write_text("<html>Not Found</html>")
    _upload(page, bad)
    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar.get_by_text("Could not use that file")).to_be_visible(timeout=30_000)
    assert sidebar.get_by_text("Could not use that file").count() == 1
    assert "mnist.npz" in sidebar.locator("[data-testid='stAlert']").inner_text()
    assert sidebar.get_by_role("button", name="Use the embedded sample").count() == 1
    assert _caption(page) == before
    assert page.locator("[data-testid='stException']").count() == 0


def test_valid_upload_becomes_the_dataset(page, server, tmp_path):
    """A Keras-layout .npz upload is used at once and named in the sidebar."""
    rng = np.random.default_rng(0)
    good = tmp_path / "tiny.npz"
    np.savez(good, x_train=rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
             y_train=np.arange(50) % 10,
             x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), y_test=np.arange(20) % 10)
    open_page(page, server, "app.py")
    _upload(page, good)
    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar.get_by_text("MNIST from tiny.npz")).to_be_visible(timeout=30_000)
    caption = _caption(page)
    assert "tiny.npz" in caption and "50 training / 20 held-out" in caption
    assert page.locator("[data-testid='stException']").count() == 0
