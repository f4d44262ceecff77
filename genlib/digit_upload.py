"""Turn a photo or drawing of one handwritten digit into a 28 x 28 MNIST-like image.

MNIST's recipe (LeCun et al.): the digit is size-normalised to fit a 20 x 20 box keeping its
aspect ratio (anti-aliased, hence grey levels), then placed in a 28 x 28 field so that its
centre of mass sits at the centre. MNIST digits are light ink on a black background, so a
dark-on-light image is inverted first.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

__all__ = ["prepare_digit", "digit_from_ink", "preview_png", "MAX_BYTES", "MAX_PIXELS"]

MAX_BYTES = 20 * 1024 * 1024  # a phone photo is a few MB
MAX_PIXELS = 50_000_000  # decoding more would take seconds and gigabytes
_WORK_SIDE = 400  # big images are shrunk to about this before the fine work


def _open(data: bytes):
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ValueError("the file is empty")
    if len(data) > MAX_BYTES:
        raise ValueError(f"the file is {len(data) / 2**20:.0f} MB; upload an image under "
                         f"{MAX_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ValueError(f"the image is {w} x {h} pixels; use one under "
                                 f"{MAX_PIXELS // 1_000_000} megapixels")
            if w < 1 or h < 1:
                raise ValueError("the image has no pixels")
            img.draft("L", (_WORK_SIDE, _WORK_SIDE))  # JPEG: decode at reduced size, fast
            img.load()
    except ValueError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as e:
        if isinstance(e, UnidentifiedImageError):
            raise ValueError("this is not an image PIL can read; upload a PNG or JPEG") from None
        raise ValueError(f"the image is too large to decode safely; use one under "
                         f"{MAX_PIXELS // 1_000_000} megapixels") from None
    except (OSError, SyntaxError, EOFError) as e:
        raise ValueError(f"the image is damaged or truncated ({e})") from None
    return img


_EXIF_ORIENTATION = 0x0112
# the transposition that undoes each EXIF orientation (as PIL.ImageOps.exif_transpose)
_UNDO_ORIENTATION = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE",
                     6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"}
_HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # more than 8 bits a channel


def _shrunk(img):
    """The image at most ``_WORK_SIDE`` pixels a side, upright, in the mode it came in.

    Shrinking comes first, so converting modes and every numpy array afterwards cost
    ~_WORK_SIDE^2 values, not the photo's megapixels (a 49-megapixel RGBA image took 4-8 s
    and 1.1 GB converted first). Palette and 1-bit images are converted before: PIL can only
    shrink them by dropping pixels, which loses thin strokes.
    """
    from PIL import Image

    try:
        orientation = img.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # a damaged EXIF block: leave the image as it is
        orientation = None
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    elif img.mode == "1":
        img = img.convert("L")
    if max(img.size) > _WORK_SIDE:
        img = img.copy() if img.readonly else img
        img.thumbnail((_WORK_SIDE, _WORK_SIDE), Image.Resampling.BOX)
    if orientation in _UNDO_ORIENTATION:  # phone photos carry their rotation in EXIF
        img = img.transpose(getattr(Image.Transpose, _UNDO_ORIENTATION[orientation]))
    return img


def _high_depth_gray(img) -> np.ndarray:
    """A 16-bit or 32-bit greyscale image in [0, 1], scaled by its nominal range (a 16-bit
    PNG's 0..65535) rather than clipped at 255 as PIL's conversion to 8 bits does."""
    gray = np.asarray(img, np.float64)
    if img.mode == "F":
        top = 1.0 if gray.max() <= 1 else 255.0 if gray.max() <= 255 else float(gray.max())
    else:  # 16-bit modes; a 32-bit "I" is usually a 16-bit PNG or TIFF widened
        top = 65535.0 if gray.max() <= 65535 else float(gray.max())
    return np.clip(gray / top, 0, 1).astype(np.float32)


def _to_gray(img) -> np.ndarray:
    """Grey levels in [0, 1] of the shrunk image; transparent pixels take the colour of the
    background."""
    img = _shrunk(img)
    if img.mode in _HIGH_DEPTH:
        return _high_depth_gray(img)
    if "A" in img.getbands():
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), np.float32) / 255.0
        gray = np.asarray(rgba.convert("L"), np.float32) / 255.0
        if alpha.min() < 1.0:
            # Drawn strokes on a transparent canvas: ink is where alpha is, so put the
            # strokes on the opposite of their own colour.
            ink = gray[alpha > 0.5]
            bg = 1.0 if ink.size == 0 or ink.mean() < 0.5 else 0.0
            gray = alpha * gray + (1 - alpha) * bg
        return np.clip(gray, 0, 1)
    return np.asarray(img.convert("L"), np.float32) / 255.0


def preview_png(data: bytes) -> bytes:
    """The uploaded image as an 8-bit PNG at most ``_WORK_SIDE`` pixels a side, upright: what
    a page shows as "your image" (a browser, or Streamlit's JPEG encoder, cannot show every
    mode an upload may have, e.g. 16-bit greyscale). Raises ValueError as prepare_digit."""
    from PIL import Image

    img = _shrunk(_open(data))
    if img.mode in _HIGH_DEPTH:
        img = Image.fromarray((_high_depth_gray(img) * 255).round().astype(np.uint8), "L")
    elif img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def prepare_digit(data: bytes) -> np.ndarray:
    """Image file bytes (PNG, JPEG, ...) -> float32 (28, 28) in [0, 1], light digit on black.

    Raises ValueError with a message for a user when the file is empty, not an image,
    too large, or shows no digit (a blank or uniform image).
    """
    gray = _to_gray(_open(data))
    # The background is the commonest border tone: invert dark-on-light images.
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    bg = float(np.median(border))
    ink = gray - bg if bg < 0.5 else bg - gray
    ink = np.clip(ink, 0, None)
    peak = float(ink.max())
    if peak < 0.15:
        raise ValueError("no digit found: the image is blank or has too little contrast")
    return digit_from_ink(ink)


def digit_from_ink(ink) -> np.ndarray:
    """An ink map (2-D, light digit on black, any size and scale) -> float32 (28, 28) in
    [0, 1] by MNIST's recipe: 20 x 20 box keeping the aspect ratio, centre of mass at the
    centre. Used for uploads and for the drawing pad's strokes. Raises ValueError if there
    is no ink."""
    from PIL import Image

    ink = np.clip(np.nan_to_num(np.asarray(ink, np.float32)), 0, None)
    if ink.ndim != 2 or ink.size == 0 or float(ink.max()) <= 0:
        raise ValueError("no digit found: there is no ink")
    ink = ink / float(ink.max())
    ink[ink < 0.2] = 0.0  # paper texture and JPEG noise are not ink
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = Image.fromarray((crop * 255).round().astype(np.uint8), "L")
    small = np.asarray(small.resize((nw, nh), Image.Resampling.LANCZOS), np.float32) / 255.0
    small = np.clip(small, 0, 1)
    # Centre of mass to pixel (14, 14) of the 28 x 28 field (integer shift, as MNIST did;
    # MNIST's own digits have their mean centre of mass there, in index coordinates).
    yy, xx = np.indices(small.shape)
    mass = small.sum()
    if mass <= 0:
        raise ValueError("no digit found: the ink is too faint")
    cy, cx = (yy * small).sum() / mass, (xx * small).sum() / mass
    top = int(np.clip(round(14 - cy), 0, 28 - nh))
    left = int(np.clip(round(14 - cx), 0, 28 - nw))
    out = np.zeros((28, 28), np.float32)
    out[top:top + nh, left:left + nw] = small
    return out
