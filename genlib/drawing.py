"""A digit drawn on a square pad, as strokes, -> a 28 x 28 MNIST-like image.

The drawing pad (``ui.drawing_pad``) sends its strokes when one ends: a list of strokes, each
a list of ``[x, y]`` points in [0, 1] of the pad's side (x to the right, y down). Here they
are drawn as round-capped lines of the pad's pen width onto a small ink map, which
:func:`genlib.digit_upload.digit_from_ink` turns into a digit by MNIST's recipe (20 x 20 box,
centre of mass at the centre).

The strokes come from a browser, so they are checked like any user input: a malformed or
oversized list, an empty pad, a single dot or a pad covered in ink is a ValueError with a
message for the user.
"""

from __future__ import annotations

import math

import numpy as np

from genlib.digit_upload import digit_from_ink

__all__ = ["PEN", "MAX_POINTS", "MAX_STROKES", "check_strokes", "render_strokes",
           "digit_from_strokes", "stroke_length", "line", "ellipse"]

# MNIST's pen: strokes are ~2.5 px wide on a digit ~20 px tall. With a pen of 10% of the
# side, a 0, 1 or 7 drawn over ~2/3 of the pad inks as many pixels as the median real digit
# of its class (20th-60th percentile), after the 20 x 20 box.
PEN = 0.1
MAX_STROKES = 200
MAX_POINTS = 20_000  # in all strokes; a minute of drawing at 60 points a second is ~3,600
MIN_EXTENT = 0.1  # a drawing smaller than this share of the side is a dot, not a digit
MAX_COVER = 0.5  # more than this share of the pad in ink is a scribble, not a digit
_SIDE = 112  # the ink map's side: 4 x 28, fine enough for the 20 x 20 box


def check_strokes(strokes) -> list[np.ndarray]:
    """The strokes as float64 arrays of shape (n_points, 2) in [0, 1].

    Raises ValueError (a message for a user) for anything but a list of lists of [x, y]
    number pairs, or more than ``MAX_STROKES`` strokes / ``MAX_POINTS`` points.
    """
    if strokes is None:
        return []
    if not isinstance(strokes, (list, tuple)):
        raise ValueError("the pad sent something that is not a list of strokes")
    if len(strokes) > MAX_STROKES:
        raise ValueError(f"the drawing has {len(strokes)} strokes (at most {MAX_STROKES}): "
                         "clear the pad and draw one digit")
    out, total = [], 0
    for stroke in strokes:
        if not isinstance(stroke, (list, tuple, np.ndarray)):
            raise ValueError("the pad sent a stroke that is not a list of points")
        total += len(stroke)
        if total > MAX_POINTS:
            raise ValueError(f"the drawing has over {MAX_POINTS:,} points: clear the pad and "
                             "draw one digit")
        if len(stroke) == 0:
            continue
        try:
            pts = np.array(stroke, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("the pad sent points that are not [x, y] number pairs") from None
        if pts.ndim != 2 or pts.shape[1] != 2 or not np.all(np.isfinite(pts)):
            raise ValueError("the pad sent points that are not [x, y] number pairs")
        out.append(np.clip(pts, 0.0, 1.0))
    return out


def render_strokes(strokes, side: int = _SIDE, pen: float = PEN) -> np.ndarray:
    """The strokes drawn as light ink on black: float32 (side, side) in [0, 1].

    Lines of width ``pen`` x ``side`` with round caps and joins, as the pad draws them.
    """
    from PIL import Image, ImageDraw

    strokes = check_strokes(strokes)
    if side < 8:
        raise ValueError(f"side must be at least 8 pixels, got {side}")
    # draw at 4x and shrink: anti-aliased edges, as the browser's canvas has
    big = side * 4
    img = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(img)
    width = max(1.0, pen * big)
    r = width / 2
    for pts in strokes:
        xy = [(float(x) * big, float(y) * big) for x, y in pts]
        if len(xy) > 1:
            draw.line(xy, fill=255, width=int(round(width)), joint="curve")
        for x, y in (xy[0], xy[-1]) if len(xy) > 1 else xy:  # round caps
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    img = img.resize((side, side), Image.Resampling.BOX)
    return np.asarray(img, np.float32) / 255.0


def digit_from_strokes(strokes, pen: float = PEN) -> np.ndarray:
    """The pad's strokes -> float32 (28, 28) in [0, 1], light digit on black (MNIST's recipe).

    Raises ValueError with a message for a user for an empty pad, a single dot (a drawing
    smaller than a tenth of the pad) or a pad mostly covered in ink.
    """
    strokes = check_strokes(strokes)
    if not strokes:
        raise ValueError("the pad is empty: draw a digit")
    pts = np.concatenate(strokes)
    extent = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])))
    if extent < MIN_EXTENT:
        raise ValueError("that is a dot, not a digit: draw the digit larger, over most of "
                         "the pad")
    ink = render_strokes(strokes, pen=pen)
    cover = float(np.mean(ink > 0.5))
    if cover > MAX_COVER:
        raise ValueError(f"{cover:.0%} of the pad is ink: clear it and draw one digit with "
                         "thin strokes")
    return digit_from_ink(ink)


def stroke_length(strokes) -> float:
    """Total length of the strokes in pad sides (for tests and benchmarks)."""
    return float(sum(np.sum(np.hypot(*np.diff(p, axis=0).T)) for p in check_strokes(strokes)
                     if len(p) > 1))


def line(x0: float, y0: float, x1: float, y1: float, n: int = 20) -> list[list[float]]:
    """A straight stroke from (x0, y0) to (x1, y1) as ``n`` points (for tests and demos)."""
    t = np.linspace(0.0, 1.0, max(2, int(n)))
    return np.column_stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t]).round(4).tolist()


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 48) -> list[list[float]]:
    """A closed elliptical stroke (a zero) as ``n`` + 1 points (for tests and demos)."""
    t = np.linspace(0.0, 2 * math.pi, max(8, int(n)) + 1)
    return np.column_stack([cx + rx * np.sin(t), cy - ry * np.cos(t)]).round(4).tolist()
