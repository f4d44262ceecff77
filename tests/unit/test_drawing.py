"""genlib.drawing: the drawing pad's strokes -> a 28 x 28 MNIST-like digit.

Strokes drawn like the pad draws them, MNIST's recipe (box, centre of mass) applied to them,
the judge reading drawn digits as the digits they are, and clear errors for the inputs a
browser may send (empty pad, a dot, a pad covered in ink, malformed or oversized lists).
"""

import json

import numpy as np
import pytest

from genlib import drawing
from genlib.digit_upload import digit_from_ink

ONE = [drawing.line(0.5, 0.15, 0.5, 0.85)]
ZERO = [drawing.ellipse(0.5, 0.5, 0.22, 0.33)]
SEVEN = [drawing.line(0.25, 0.2, 0.75, 0.2) + drawing.line(0.75, 0.2, 0.45, 0.85)]


def _box(img: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def test_digit_is_mnist_shaped_and_centred():
    """float32 (28, 28) in [0, 1]; fits the 20 x 20 box; centre of mass within a pixel of 14."""
    for strokes in (ONE, ZERO, SEVEN):
        d = drawing.digit_from_strokes(strokes)
        assert d.shape == (28, 28) and d.dtype == np.float32
        assert 0.0 <= d.min() and d.max() <= 1.0 and d.max() > 0.9
        assert max(_box(d > 0)) <= 21 and max(_box(d > 0.2)) >= 19
        yy, xx = np.indices(d.shape)
        cy, cx = (yy * d).sum() / d.sum(), (xx * d).sum() / d.sum()
        assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0


def test_pen_width_resembles_mnist(mnist):
    """A drawn 0, 1 and 7 ink as many pixels as real digits of their class (5th-95th pct)."""
    for strokes, label in ((ONE, 1), (ZERO, 0), (SEVEN, 7)):
        real = (mnist.train.images[mnist.train.labels == label] > 0.5).mean(axis=(1, 2))
        drawn = float((drawing.digit_from_strokes(strokes) > 0.5).mean())
        lo, hi = np.percentile(real, [5, 95])
        assert lo < drawn < hi, (label, drawn, lo, hi)


def test_render_matches_the_line_geometry():
    """A horizontal line of the pad's pen is inked across its length and pen-wide, nowhere else."""
    ink = drawing.render_strokes([drawing.line(0.2, 0.5, 0.8, 0.5)], side=100, pen=0.1)
    assert ink.shape == (100, 100) and ink.dtype == np.float32
    col = ink[:, 50]
    assert 8 <= int((col > 0.5).sum()) <= 12  # pen 0.1 of 100 px
    assert ink[50, 20:81].min() > 0.9 and ink[:30].max() == 0 and ink[70:].max() == 0
    assert ink[50, :10].max() == 0 and ink[50, 91:].max() == 0  # round caps of radius 5


def test_judge_reads_drawn_digits(judge):
    """The shipped judge reads a vertical stroke as 1, a loop as 0 and a 7 as 7."""
    for strokes, label in ((ONE, 1), (ZERO, 0), (SEVEN, 7)):
        assert judge.predict(drawing.digit_from_strokes(strokes)[None])[0] == label


def test_strokes_survive_json():
    """What the browser sends (JSON lists) gives the same digit as the Python lists."""
    a = drawing.digit_from_strokes(SEVEN)
    b = drawing.digit_from_strokes(json.loads(json.dumps(SEVEN)))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("strokes, words", [
    ([], "empty"),
    ([[]], "empty"),
    ([[[0.5, 0.5]]], "dot"),
    ([drawing.line(0.5, 0.5, 0.52, 0.51)], "dot"),
    ([drawing.line(0.0, y, 1.0, y) for y in np.linspace(0, 1, 30)], "ink"),
])
def test_unusable_drawings_say_why(strokes, words):
    """An empty pad, a dot, a pad covered in ink: a ValueError naming the problem."""
    with pytest.raises(ValueError, match=words):
        drawing.digit_from_strokes(strokes)


@pytest.mark.parametrize("strokes", [
    "a string", [1, 2], [[["x", "y"]]], [[[0.1, 0.2, 0.3]]], [[[float("nan"), 0.5]]],
    [[[0.1, 0.2]]] * (drawing.MAX_STROKES + 1),
    [[[0.5, 0.5]] * (drawing.MAX_POINTS + 1)],
])
def test_malformed_strokes_are_a_value_error(strokes):
    """Whatever a browser sends, a bad list of strokes is a ValueError, never another error."""
    with pytest.raises(ValueError):
        drawing.digit_from_strokes(strokes)


def test_points_outside_the_pad_are_clipped():
    """A stroke leaving the pad is drawn to its edge (points clipped to [0, 1])."""
    inside = drawing.render_strokes([drawing.line(0.5, 0.2, 0.5, 1.0)])
    outside = drawing.render_strokes([drawing.line(0.5, 0.2, 0.5, 1.0) + [[0.5, 3.0]]])
    np.testing.assert_array_equal(inside, outside)


def test_digit_from_ink_needs_ink():
    """An all-black ink map is a ValueError, not a division by zero."""
    with pytest.raises(ValueError, match="no ink"):
        digit_from_ink(np.zeros((40, 40)))
