"""AppTest of the GAN live-training page: play, pause, step and reset drive the step count."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

pytest.importorskip("tensorflow")

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/4_GAN_Live_Training.py"


def step_count(at) -> int:
    return int(next(m for m in at.metric if m.label == "Step").value.replace(",", ""))


@pytest.fixture
def at():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(PAGE).run()
    assert not at.exception and not at.error
    return at


def test_starts_on_the_pretrained_gan_without_tensorflow(at):
    """The first render shows the shipped checkpoint (many steps) and its 8 x 8 grid."""
    assert step_count(at) > 1000
    assert any("pretrained" in i.value for i in at.info)
    assert len(at.image) >= 1


def test_play_advances_pause_freezes_reset_restarts(at):
    """Play: the step count grows run after run; Pause: it stays; Reset: back to 0."""
    start = step_count(at)
    at.button(key="gan_play").click().run()  # draws, then trains the first slice
    assert not at.exception and not at.error, [e.value for e in at.error]
    first = step_count(at)
    assert first >= start
    at.run()  # one more refresh of the live fragment
    second = step_count(at)
    assert second > first
    at.run()
    assert step_count(at) > second
    at.button(key="gan_pause").click().run()
    paused = step_count(at)
    at.run()
    assert step_count(at) == paused
    at.button(key="gan_reset").click().run()
    assert not at.exception and not at.error
    assert step_count(at) == 0
    at.run()
    assert step_count(at) == 0  # reset leaves it paused


def test_step_button_trains_exactly_n_steps(at):
    """Step with N = 7 from a reset trainer gives step 7; no pretrained banner any more."""
    at.button(key="gan_reset").click().run()
    at.number_input(key="gan_step_n").set_value(7)
    at.button(key="gan_step").click().run()
    assert not at.exception and not at.error
    assert step_count(at) == 7
    assert not any("pretrained" in i.value for i in at.info)


def test_changing_settings_while_playing_keeps_the_page_clean(at):
    """Changing a live setting while playing keeps the page error-free."""
    at.button(key="gan_play").click().run()
    at.radio(key="gan_loss").set_value("least-squares").run()
    at.select_slider(key="gan_lr_d").set_value(1e-3).run()
    assert not at.exception and not at.error
    assert at.session_state["gan_model"].settings["loss"] == "least-squares"
    assert at.session_state["gan_model"].settings["lr_d"] == 1e-3
