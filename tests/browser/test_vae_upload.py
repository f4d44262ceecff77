"""The VAE page in Chromium: uploading a digit image, and a malformed upload."""

import numpy as np
from PIL import Image
from playwright.sync_api import expect
from server import open_page, wait_idle

PAGE = "pages/3_VAE_Latent_Space.py"


def _upload(page, path):
    page.get_by_role("tab", name="Your digit").click()
    main = page.locator("[data-testid='stMain']")
    main.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    wait_idle(page)


def test_uploaded_digit_is_reconstructed_and_set_on_the_sliders(page, server, tmp_path):
    """A dark-on-light drawing of a '1': converted, reconstructed, then put on the sliders."""
    canvas = np.full((300, 200), 255, np.uint8)
    canvas[40:260, 90:115] = 0  # a thick vertical stroke
    path = tmp_path / "one.png"
    Image.fromarray(canvas).save(path)
    open_page(page, server, PAGE)
    _upload(page, path)
    main = page.locator("[data-testid='stMain']")
    expect(main.get_by_text("As MNIST (top), reconstructed")).to_be_visible(timeout=30_000)
    main.get_by_role("button", name="Put it on the sliders").click()
    wait_idle(page)
    page.get_by_role("tab", name="Explore").click()
    values = main.locator("[data-testid='stSliderThumbValue']").all_inner_texts()
    assert sum(float(v) != 0 for v in values if v.strip()) >= 3, values  # all 0 before
    assert page.locator("[data-testid='stException']").count() == 0


def test_malformed_upload_gives_a_clear_message(page, server, tmp_path):
    """A text file named .png: 'not an image' in an error box, no traceback."""
    path = tmp_path / "digit.png"
    path.write_text("this is not a picture")
    open_page(page, server, PAGE)
    _upload(page, path)
    alert = page.locator("[data-testid='stMain'] [data-testid='stAlert']")
    expect(alert.filter(has_text="not an image")).to_be_visible(timeout=30_000)
    assert page.locator("[data-testid='stException']").count() == 0
