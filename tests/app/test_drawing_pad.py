"""AppTest: the drawing pad (ui.drawing_pad) on the VAE, class-conditional and GAN pages.

A stroke ending is the pad's state set in session state (what setStateValue sends), then a
run. Checked against the models themselves: the VAE's encoding of the same strokes, the
classifiers' readings of a drawn 1 and 0.
"""

import io
import json

import numpy as np
import pytest
from PIL import Image

from genlib import drawing, vae
from ui.drawing_pad import pad_key, upload_key

from .conftest import open_page

ONE = [drawing.line(0.5, 0.15, 0.5, 0.85)]
ZERO = [drawing.ellipse(0.5, 0.5, 0.22, 0.33)]
VAE, CC, GAN = ("pages/3_VAE_Latent_Space.py", "pages/2_Class_Conditional_Sampling.py",
                "pages/4_GAN_Live_Training.py")


def _draw(at, key: str, strokes):
    at.session_state[pad_key(key)] = {"strokes": strokes}
    at.run()
    assert not at.exception, at.exception
    return at


def _judge_says(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("The judge reads it as")]


def _sliders(at, model: str = "conv") -> np.ndarray:
    d = vae.load_model(model).latent_dim
    return np.array([at.slider(key=f"vae_z_{model}_{i}").value for i in range(d)])


@pytest.fixture(scope="module")
def vae_at():
    return open_page(VAE)


def test_vae_drawing_goes_on_the_sliders(vae_at):
    """A drawn 1: the sliders hold its mean encoding (as the VAE encodes the same strokes)."""
    at = _draw(vae_at, "vae", ONE)
    model = vae.load_model("conv")
    want = np.clip(model.encode(drawing.digit_from_strokes(ONE))[0][0], -3, 3).round(2)
    np.testing.assert_allclose(_sliders(at), want, atol=0.011)
    assert _judge_says(at) == ["The judge reads it as **1** (100% sure)."]
    assert any(img.proto.imgs and img.proto.imgs[0].caption.startswith("As MNIST (top)")
               for img in at.image)


def test_vae_drawing_is_marked_on_the_scatter(vae_at):
    """The encoded-digits scatter gets a point at the drawing's code, in the chart's dims."""
    at = _draw(vae_at, "vae", ZERO)
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    marked = [s for s in specs if "layer" in s]
    assert len(marked) == 2  # the Encoded digits tab and the Your digit tab
    z = _sliders(at)
    i, j = at.selectbox(key="vae_sx_conv").value, at.selectbox(key="vae_sy_conv").value
    point = marked[0]["layer"][1]["data"]["values"][0]
    assert point["what"] == "your digit"
    np.testing.assert_allclose([point["x"], point["y"]], [z[i], z[j]], atol=0.006)


def test_vae_steering_is_kept_until_a_new_drawing(vae_at):
    """After a drawing, moving a slider sticks on later runs; a new stroke sets them again."""
    at = _draw(vae_at, "vae", ONE)
    at.slider(key="vae_z_conv_0").set_value(2.5).run()
    at.run()
    assert at.slider(key="vae_z_conv_0").value == 2.5
    at = _draw(at, "vae", ONE + [drawing.line(0.3, 0.2, 0.5, 0.15)])
    assert at.slider(key="vae_z_conv_0").value != 2.5


@pytest.mark.parametrize("strokes, words", [
    ([], "Draw a digit on the pad"),
    ([[[0.5, 0.5]]], "that is a dot"),
    ([drawing.line(0.0, y, 1.0, y) for y in np.linspace(0, 1, 30)], "of the pad is ink"),
    ("not strokes", "Draw a digit on the pad"),
    ([[["a", "b"]]], "not [x, y] number pairs"),
])
def test_unusable_drawings_give_a_message(vae_at, strokes, words):
    """Empty pad, a dot, a pad covered in ink, garbage: a message, no exception, no digit."""
    at = _draw(vae_at, "vae", strokes)
    shown = [a.value for a in (*at.info, *at.warning)]
    assert any(words in m for m in shown), shown
    assert not _judge_says(at)


def test_the_upload_beside_the_pad_takes_over_until_the_next_stroke(vae_at):
    """Drawing then uploading: the upload is used; a new stroke: the drawing again."""
    at = _draw(vae_at, "vae", ZERO)
    canvas = np.zeros((200, 200), np.uint8)
    canvas[30:170, 90:110] = 255  # a bright vertical bar on black: a 1
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    at.file_uploader(key=upload_key("vae")).set_value(("one.png", buf.getvalue(), "image/png"))
    at.run()
    assert not at.exception
    assert _judge_says(at) == ["The judge reads it as **1** (100% sure)."]
    assert any("From your upload" in c.value for c in at.caption)
    at = _draw(at, "vae", [drawing.ellipse(0.5, 0.5, 0.2, 0.3)])  # a new stroke
    assert _judge_says(at)[0].startswith("The judge reads it as **0**")
    assert any("From your drawing" in c.value for c in at.caption)


@pytest.mark.parametrize("strokes, label", [(ONE, "1"), (ZERO, "0")])
def test_bayes_classifier_reads_the_drawing(strokes, label):
    """Class-conditional page: a drawn 1 is a 1 and a loop a 0, for the judge and the
    Bayes classifier alike; p(y | x) is a chart, log p(x | y) a 10-row table."""
    at = _draw(open_page(CC), "cc", strokes)
    metric = [m for m in at.metric if m.label == "The Bayes classifier says"]
    assert [m.value for m in metric] == [label]
    assert _judge_says(at)[0].startswith(f"The judge reads it as **{label}**")
    table = at.dataframe[-1].value
    assert list(table["digit y"]) == list(range(10))
    assert np.isclose(table["p(y | x)"].sum(), 1, atol=1e-3)
    assert table["log p(x | y)"].idxmax() == int(label)
    assert any("held-out" in m.value and "typical" in m.value for m in at.markdown)


def test_gan_finds_its_closest_samples_to_the_drawing():
    """GAN page: G's closest samples and the closest real digits are shown with distances."""
    at = _draw(open_page(GAN), "gan", ONE)
    captions = [img.proto.imgs[0].caption for img in at.image if img.proto.imgs]
    assert any(c.startswith("G's 8 samples closest to your digit") for c in captions)
    assert any(c.startswith("For scale: the closest of") for c in captions)
    assert any(m.value.startswith("Closest sample at distance") for m in at.markdown)
