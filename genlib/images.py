"""Image helpers: tiling digits into grids and converting them to uint8 / PNG."""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["tile", "to_uint8", "to_png", "encode_png", "upscale"]


def tile(images, n_cols: int | None = None, pad: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile images of shape (n, h, w) into one (rows * (h + pad) - pad, ...) array.

    Parameters
    ----------
    images : array, shape (n, h, w) or (n, h * w) with h = w = 28
    n_cols : images per row (default: ceil(sqrt(n)))
    pad : pixels between tiles, filled with ``pad_value``. Empty cells are filled too.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"tile needs images of shape (n, h, w) with n >= 1, got {images.shape}")
    n, h, w = images.shape
    n_cols = int(n_cols or np.ceil(np.sqrt(n)))
    if n_cols < 1:
        raise ValueError(f"n_cols must be >= 1, got {n_cols}")
    n_rows = -(-n // n_cols)
    out = np.full((n_rows * (h + pad) - pad, n_cols * (w + pad) - pad), pad_value, np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, n_cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = img
    return out


def to_uint8(image) -> np.ndarray:
    """Map float values in [0, 1] (clipped) to uint8 0..255."""
    return (np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def upscale(image, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer factor: crisp pixels on a projector."""
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    image = np.asarray(image)
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def to_png(image, scale: int = 1, invert: bool = False) -> bytes:
    """Encode a 2-D image in [0, 1] (or a grid from :func:`tile`) as grayscale PNG bytes."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"to_png needs a 2-D image, got shape {image.shape}")
    if invert:
        image = 1.0 - image
    return encode_png(upscale(to_uint8(image), scale))


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a 2-D uint8 grayscale image, in half Pillow's time on digit grids.

    Most rows of an upscaled grid repeat the row above, so PNG's "Up" filter (each byte
    minus the one above it, mod 256) turns them into zeros, which zlib compresses almost
    for free (Pillow's adaptive filtering tries every filter on every row).
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8 or image.size == 0:
        raise ValueError(f"encode_png needs a non-empty 2-D uint8 image, got {image.dtype} "
                         f"{image.shape}")
    h, w = image.shape
    rows = np.empty((h, w + 1), np.uint8)  # each row: its filter type byte, then the row
    rows[0, 0], rows[0, 1:] = 0, image[0]  # the first row as it is ("None")
    rows[1:, 0] = 2  # the others "Up"
    np.subtract(image[1:], image[:-1], out=rows[1:, 1:])  # uint8: wraps mod 256, as PNG wants
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit grayscale, no interlace
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + _chunk(b"IEND", b""))
