"""The server-wide cap on GAN trainers: past it, Play shows the pretrained model and says why."""

import logging
import time

import pytest

from ui import gan_controller

from .conftest import open_page

PAGE = "pages/4_GAN_Live_Training.py"


def cap_warning(at) -> str:
    return " ".join(w.value for w in at.warning if "GENLAB_MAX_TRAINERS" in w.value)


def step_count(at) -> int:
    return int(next(m for m in at.metric if m.label == "Step").value.replace(",", ""))


def live(at):
    """The session's training session, or None."""
    return at.session_state["gan_live"] if "gan_live" in at.session_state else None


def release(at) -> None:
    if live(at) is not None:
        live(at).release()


@pytest.mark.parametrize("raw, cap", [("3", 3), ("0", 0), ("", 12), ("lots", 12), ("-2", 12)])
def test_the_cap_comes_from_the_environment(monkeypatch, caplog, raw, cap):
    """GENLAB_MAX_TRAINERS sets the cap; unset or bad, the default (a bad value is logged)."""
    monkeypatch.setenv("GENLAB_MAX_TRAINERS", raw)
    with caplog.at_level(logging.WARNING, logger="genlab"):
        assert gan_controller.max_trainers() == cap
    assert ("not a whole number" in caplog.text) == (raw in ("lots", "-2"))


def test_past_the_cap_play_keeps_the_pretrained_model_and_says_why(monkeypatch):
    """With the cap at 0, Play builds no trainer: the checkpoint stays, one clear warning."""
    monkeypatch.setenv("GENLAB_MAX_TRAINERS", "0")
    at = open_page(PAGE)
    shown = step_count(at)
    at.button(key="gan_play").click().run()
    assert not at.exception and not at.error
    assert "GENLAB_MAX_TRAINERS=0" in cap_warning(at) and "pretrained" in cap_warning(at)
    assert live(at) is None
    assert not at.session_state["gan_playing"]
    assert step_count(at) == shown and len(at.image) >= 1  # the checkpoint's grid, as before
    assert at.button(key="gan_play").label == "Play"  # not a Pause button for nothing
    at.button(key="gan_reset").click().run()  # Reset asks for a new trainer too
    assert cap_warning(at) and not at.exception and step_count(at) == shown


def test_the_cap_counts_every_session_and_frees_a_place_when_one_stops(monkeypatch):
    """Cap 1: a second session's Play is refused while the first trains; once the first
    goes back to the pretrained model, the second one gets its trainer."""
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("GENLAB_MAX_TRAINERS", "1")
    first, second = open_page(PAGE), open_page(PAGE)
    try:
        first.button(key="gan_play").click().run()
        assert not cap_warning(first) and live(first) is not None
        assert gan_controller.active_trainers() == 1
        second.button(key="gan_play").click().run()
        assert cap_warning(second) and live(second) is None
        first.button(key="gan_pretrained").click().run()  # its trainer is released
        deadline = time.monotonic() + 30
        while gan_controller.active_trainers() and time.monotonic() < deadline:
            time.sleep(0.2)
        second.button(key="gan_play").click().run()
        assert not cap_warning(second) and not second.exception
        assert live(second) is not None
        assert gan_controller.active_trainers() == 1
    finally:
        release(first)
        release(second)
