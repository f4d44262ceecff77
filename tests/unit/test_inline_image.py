"""ui.inline_image: pictures sent inside the page's message as data: URLs (no media fetch)."""

import base64

import numpy as np
import pytest

from genlib import images as gim
from ui.inline_image import data_url


def test_png_and_jpeg_round_trip_to_the_same_bytes():
    png = gim.to_png(np.random.default_rng(0).random((28, 28)).astype(np.float32))
    url = data_url(png)
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 20
    assert data_url(jpeg).startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize("junk", [b"", b"hello", b"<svg></svg>", b"\x00" * 16])
def test_anything_else_is_refused_with_the_reason(junk):
    with pytest.raises(ValueError, match="not a PNG, JPEG or GIF"):
        data_url(junk)
