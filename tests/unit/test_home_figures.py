"""The home page's figures: labels readable (inside the figure, not on top of each other)."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from ui import home_figures  # noqa: E402


@pytest.mark.parametrize("name", ["good_samples", "generative_vs_discriminative"])
def test_labels_stay_inside_the_figure_and_apart(name):
    """Every text box lies inside the figure, and no two annotation boxes overlap."""
    import matplotlib.pyplot as plt

    fig = getattr(home_figures, name)()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = fig.bbox
    boxes = []
    for ax in fig.axes:
        for text in [ax.title, *ax.texts]:
            if not text.get_text():
                continue
            box = (text.get_bbox_patch() or text).get_window_extent(renderer)
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1, text.get_text()
            assert frame.y0 <= box.y0 and box.y1 <= frame.y1, text.get_text()
            if text is not ax.title:
                boxes.append((text.get_text(), box))
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            assert not box_a.overlaps(box_b), (a, b)
    plt.close(fig)
