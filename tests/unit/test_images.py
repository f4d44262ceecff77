"""genlib.images: tiling and PNG conversion."""

import io

import numpy as np
import pytest
from PIL import Image

from genlib.images import encode_png, tile, to_png, to_uint8, upscale


def test_tile_places_each_image_in_its_cell():
    """Image i lands at row i // n_cols, column i % n_cols; gaps hold the pad value."""
    imgs = np.stack([np.full((28, 28), k / 10, np.float32) for k in range(5)])
    grid = tile(imgs, n_cols=3, pad=2, pad_value=1.0)
    assert grid.shape == (2 * 30 - 2, 3 * 30 - 2)
    assert grid[0, 0] == 0.0 and grid[0, 30] == pytest.approx(0.1)
    assert grid[30, 30] == pytest.approx(0.4)
    assert grid[28, 0] == 1.0 and grid[30, 60] == 1.0  # pad row, empty cell


def test_png_round_trips_pixels_and_scale():
    """to_png encodes [0, 1] as 0..255 and upscales by whole pixels."""
    img = np.linspace(0, 1, 28 * 28, dtype=np.float32).reshape(28, 28)
    back = np.asarray(Image.open(io.BytesIO(to_png(img, scale=3))))
    assert back.shape == (84, 84)
    np.testing.assert_array_equal(back, upscale(to_uint8(img), 3))


def test_png_grids_decode_to_the_same_pixels_as_pillows():
    """The encoder gives lossless 8-bit grayscale PNGs: Pillow decodes exactly the pixels
    that Pillow's own encoder would have stored, for grids of real digits at many sizes."""
    from genlib.data import load_mnist

    digits = load_mnist("sample").train.images
    for n, n_cols, scale in [(60, 6, 3), (1, 1, 6), (7, 3, 2), (40, 10, 1), (64, 8, 4)]:
        pixels = upscale(to_uint8(tile(digits[:n], n_cols)), scale)
        ref = io.BytesIO()
        Image.fromarray(pixels, mode="L").save(ref, format="PNG")
        ours = Image.open(io.BytesIO(encode_png(pixels)))
        assert ours.mode == "L" and ours.format == "PNG" and ours.size == (pixels.shape[1],
                                                                           pixels.shape[0])
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(Image.open(ref)))


def test_png_of_every_byte_value_round_trips():
    """Rows that differ by any amount (the "Up" filter wraps mod 256) decode exactly."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (37, 53), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(pixels)))), pixels)


def test_to_uint8_clips():
    """Values outside [0, 1] (unclipped Gaussian samples) are clipped, not wrapped."""
    np.testing.assert_array_equal(to_uint8(np.array([-0.5, 0.0, 1.0, 1.7])), [0, 0, 255, 255])


def test_bad_shapes_raise():
    """Tiling nothing or a 4-D array is a clear error."""
    with pytest.raises(ValueError):
        tile(np.zeros((0, 28, 28)))
    with pytest.raises(ValueError):
        to_png(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((28, 28), np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        encode_png(np.zeros((0, 28), np.uint8))
