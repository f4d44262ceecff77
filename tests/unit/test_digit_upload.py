"""genlib.digit_upload: a photo or drawing of one digit -> a 28 x 28 MNIST-like image.

MNIST's recipe (fit a 20 x 20 box keeping the aspect ratio, centre of mass at the centre),
both polarities, transparency, unusual modes (16-bit, palette, 1-bit, EXIF rotation), large
images at a bounded cost, and clear errors for bad files. Every image is built here.
"""

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from genlib.digit_upload import MAX_BYTES, prepare_digit, preview_png


@pytest.fixture(scope="module")
def sample():
    from genlib import load_mnist

    return load_mnist("sample")


def _encode(image, fmt: str = "PNG", **save) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save)
    return buf.getvalue()


def _corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def _box(img: np.ndarray) -> tuple[int, int]:
    """Height and width of the non-zero part."""
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def _centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    yy, xx = np.indices(img.shape)
    return float((yy * img).sum() / img.sum()), float((xx * img).sum() / img.sum())


# ----------------------------------------------------------------------------- the recipe


def test_upload_of_a_dark_on_light_photo_recovers_the_digit(sample):
    """A big JPEG of an MNIST digit, black ink on white, off-centre, comes back MNIST-like."""
    digit = sample.test.images[3]
    big = np.asarray(Image.fromarray((digit * 255).astype(np.uint8)).resize((280, 280)))
    canvas = np.zeros((500, 700), np.uint8)
    canvas[40:320, 300:580] = big
    got = prepare_digit(_encode(255 - canvas, "JPEG"))
    assert got.dtype == np.float32 and got.shape == (28, 28)
    assert got.min() >= 0 and got.max() <= 1
    assert _corr(got, digit) > 0.85


def test_upload_of_light_on_dark_png_keeps_polarity(sample):
    """A light-on-dark PNG (MNIST's own look) is not inverted."""
    digit = sample.test.images[7]
    got = prepare_digit(_encode((digit * 255).astype(np.uint8)))
    assert _corr(got, digit) > 0.9


def test_digit_fits_a_20_by_20_box_keeping_its_aspect_ratio():
    """A tall stroke becomes 20 pixels tall and keeps its 3:1 shape; a wide one 20 wide."""
    img = np.full((300, 300), 255, np.uint8)
    img[30:270, 100:180] = 0  # 240 x 80: black ink on white
    h, w = _box(prepare_digit(_encode(img)))
    assert h == 20 and 6 <= w <= 8
    h, w = _box(prepare_digit(_encode(np.ascontiguousarray(img.T))))
    assert w == 20 and 6 <= h <= 8


def test_upload_centres_the_centre_of_mass():
    """A blob in a corner ends up with its centre of mass within a pixel of (14, 14)."""
    img = np.full((100, 100), 255, np.uint8)
    img[5:40, 60:75] = 0
    got = prepare_digit(_encode(img))
    cy, cx = _centre_of_mass(got)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert max(_box(got)) <= 20


def test_an_l_shaped_digit_is_centred_by_mass_not_by_its_box():
    """An L (heavy bottom bar) sits by its centre of mass, not by its bounding box's centre."""
    img = np.zeros((200, 200), np.uint8)
    img[20:180, 40:60] = 255
    img[150:180, 40:160] = 255
    got = prepare_digit(_encode(img))
    cy, cx = _centre_of_mass(got)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    rows = np.flatnonzero(got.any(axis=1))
    assert (rows[0] + rows[-1]) / 2 < 13.5  # the box sits above the centre


@pytest.mark.parametrize("ink", [0, 255])
def test_strokes_on_a_transparent_canvas_become_a_light_digit(sample, ink):
    """Black or white strokes drawn on a fully transparent canvas (a drawing app's PNG)
    give MNIST's light digit on black."""
    digit = sample.test.images[5]
    alpha = (np.asarray(Image.fromarray((digit * 255).astype(np.uint8)).resize((140, 140)))
             .astype(np.uint8))
    rgba = np.zeros((140, 140, 4), np.uint8)
    rgba[..., :3] = ink
    rgba[..., 3] = alpha
    got = prepare_digit(_encode(Image.fromarray(rgba, "RGBA")))
    assert _corr(got, digit) > 0.9


def test_palette_and_one_bit_images_work(sample):
    """A palette PNG and a 1-bit PNG of a digit give the same digit as their greyscale."""
    digit = (np.asarray(Image.fromarray((sample.test.images[2] * 255).astype(np.uint8))
                        .resize((560, 560))) > 127).astype(np.uint8) * 255
    want = prepare_digit(_encode(digit))
    for mode in ("P", "1"):
        got = prepare_digit(_encode(Image.fromarray(digit).convert(mode)))
        assert _corr(got, want) > 0.98, mode


def test_exif_rotation_is_undone(sample):
    """A phone JPEG stored sideways with EXIF orientation 6 comes out upright."""
    upright = Image.fromarray((255 - sample.test.images[4] * 255).astype(np.uint8)).resize(
        (280, 280))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    sideways = _encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif)
    want = prepare_digit(_encode(upright, "JPEG"))
    assert _corr(prepare_digit(sideways), want) > 0.95


# ----------------------------------------------------------------------------- 16-bit, large


def _sixteen_bit(img8: np.ndarray, lo: int, hi: int) -> bytes:
    """An 8-bit image mapped to 16-bit levels lo..hi, as a PNG PIL opens in mode I;16."""
    img16 = (lo + img8.astype(np.float64) / 255 * (hi - lo)).round().astype(np.uint16)
    data = _encode(img16)
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    return data


@pytest.mark.parametrize("dark_on_light", [False, True])
def test_a_16_bit_greyscale_png_works_as_a_digit(sample, dark_on_light):
    """A valid 16-bit greyscale PNG (mode I;16) gives the digit its 8-bit twin gives, in
    either polarity (PIL's 8-bit conversion would clip every level above 255 to white)."""
    img8 = (np.asarray(Image.fromarray((sample.test.images[9] * 255).astype(np.uint8))
                       .resize((112, 112))))
    if dark_on_light:
        img8 = 255 - img8
    got = prepare_digit(_sixteen_bit(img8, 0, 65535))
    want = prepare_digit(_encode(img8))
    np.testing.assert_allclose(got, want, atol=0.03)
    assert _corr(got, sample.test.images[9]) > 0.9


def test_a_faint_16_bit_png_is_not_mangled(sample):
    """16-bit levels 5,000..60,000 (dark ink on light paper) still show the digit."""
    img8 = 255 - np.asarray(Image.fromarray((sample.test.images[1] * 255).astype(np.uint8)))
    got = prepare_digit(_sixteen_bit(img8, 5_000, 60_000))
    assert _corr(got, sample.test.images[1]) > 0.9


def test_a_large_rgba_image_is_shrunk_before_it_is_converted(sample):
    """A 16-megapixel RGBA photo costs numpy a few MB (not the ~0.5 GB of converting it whole
    first) and its digit is still found."""
    digit = Image.fromarray((255 - sample.test.images[6] * 255).astype(np.uint8)).resize(
        (2000, 2000))
    big = Image.new("RGBA", (4000, 4000), (255, 255, 255, 255))
    big.paste(digit.convert("RGBA"), (1500, 800))
    data = _encode(big, compress_level=1)
    del big
    tracemalloc.start()
    try:
        got = prepare_digit(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"{peak / 1e6:.0f} MB"
    assert _corr(got, sample.test.images[6]) > 0.85


def test_preview_png_is_an_8_bit_png_a_browser_shows():
    """preview_png turns a 16-bit upload into an 8-bit greyscale PNG, keeps RGBA, shrinks."""
    img8 = np.zeros((900, 600), np.uint8)
    img8[100:800, 250:350] = 255
    preview = Image.open(io.BytesIO(preview_png(_sixteen_bit(img8, 0, 65535))))
    assert preview.format == "PNG" and preview.mode == "L" and max(preview.size) == 400
    assert np.asarray(preview).max() == 255
    rgba = Image.open(io.BytesIO(preview_png(_encode(Image.new("RGBA", (30, 20), (1, 2, 3, 4))))))
    assert rgba.mode == "RGBA" and rgba.size == (30, 20)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"hello, this is a text file" * 10, "not an image"),
    (_encode(np.full((50, 50), 200, np.uint8)), "no digit"),
    (_encode(np.random.default_rng(0).integers(118, 138, (60, 60), dtype=np.uint8)), "no digit"),
    (_encode(Image.new("RGBA", (40, 40), (0, 0, 0, 0))), "no digit"),
    (b"\x89PNG\r\n\x1a\n" + bytes(200), "damaged|truncated|not an image"),
])
def test_malformed_uploads_give_clear_messages(data, message):
    """Empty files, non-images, blank, low-contrast noise, fully transparent and garbage PNGs
    raise ValueError with a readable message."""
    with pytest.raises(ValueError, match=message):
        prepare_digit(data)


def test_huge_image_is_refused_before_decoding():
    """An image declaring 100 megapixels is refused from its header, without decoding it."""
    data = _encode(Image.new("1", (10_000, 10_000)))  # tiny file, huge canvas
    with pytest.raises(ValueError, match="megapixels"):
        prepare_digit(data)


def test_too_many_bytes_are_refused():
    """A file over MAX_BYTES is refused before PIL sees it."""
    with pytest.raises(ValueError, match="MB"):
        prepare_digit(b"\0" * (MAX_BYTES + 1))


def test_truncated_image_is_a_clear_error(sample):
    """A PNG cut in half is reported as damaged."""
    data = _encode((sample.test.images[0] * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="damaged|truncated|not an image"):
        prepare_digit(data[: len(data) // 2])
