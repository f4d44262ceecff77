"""The sidebar's data source: a bad upload keeps the dataset, a good one replaces it."""

import re
import zlib
from pathlib import Path

import numpy as np
from playwright.sync_api import expect
from server import open_page, wait_idle


def _upload(page, path_or_file):
    """Upload a path, or a {name, mimeType, buffer} dict (any name, even one with a slash)."""
    page.get_by_text("Use your own MNIST file").click()
    files = path_or_file if isinstance(path_or_file, dict) else str(path_or_file)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(files)
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


def _rss_mib(server) -> float:
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024


def test_gzip_bomb_upload_is_refused_and_memory_stays_bounded(page, server, tmp_path):
    """A ~500 KB .csv.gz of 300,000 rows: refused at the digit limit, the server barely grows."""
    row = ("0," * 784 + "0\n").encode()
    bomb = tmp_path / "bomb.csv.gz"
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(bomb, "wb") as f:
        block = row * 500
        for _ in range(600):
            f.write(z.compress(block))
        f.write(z.flush())
    assert bomb.stat().st_size < 1_000_000
    open_page(page, server, "app.py")
    before, rss = _caption(page), _rss_mib(server)
    _upload(page, bomb)
    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar.get_by_text("Could not use that file")).to_be_visible(timeout=60_000)
    alert = sidebar.locator("[data-testid='stAlert']").first.inner_text()
    assert "100,000" in alert and "bomb.csv.gz" in alert
    assert _caption(page) == before
    # 100,000 float32 digits are 300 MiB at most; the 470 MB of text is never held
    assert _rss_mib(server) - rss < 700
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_file_name_is_shown_as_typed_not_as_markdown(page, server, tmp_path):
    """A name full of Markdown (bold, a link, an icon, maths) appears literally in the message."""
    name = "**bold** [link](x) :material/home: $x$ a_b_.npz"
    open_page(page, server, "app.py")
    _upload(page, {"name": name, "mimeType": "application/octet-stream",
                   "buffer": b"<html>Not Found</html>"})
    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar.get_by_text("Could not use that file")).to_be_visible(timeout=30_000)
    text = sidebar.locator("[data-testid='stAlert']").first.inner_text().replace("\u200b", "")
    assert name in text
    assert sidebar.locator("[data-testid='stAlert'] strong, [data-testid='stAlert'] a").count() == 0
