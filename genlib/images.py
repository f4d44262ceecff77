"""Image helpers: tiling digits into grids and converting them to uint8 / PNG."""

from __future__ import annotations

import io

import numpy as np

__all__ = ["tile", "to_uint8", "to_png", "upscale"]


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
    """Encode a 2-D image in [0, 1] (or a grid from :func:`tile`) as PNG bytes."""
    from PIL import Image  # Pillow ships with Streamlit; only needed when encoding

    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"to_png needs a 2-D image, got shape {image.shape}")
    if invert:
        image = 1.0 - image
    buf = io.BytesIO()
    Image.fromarray(upscale(to_uint8(image), scale), mode="L").save(
        buf, format="PNG", compress_level=1)  # 2x faster than the default; grids stay small
    return buf.getvalue()
