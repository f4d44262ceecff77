"""One server-wide cap on live trainers: the Playground's panels and the Diffusion page's
Training tab count against GENLAB_MAX_TRAINERS with the GAN page, and a refusal says what
happened and what the user gets instead."""

import time

import pytest

from ui import trainer_cap

from .conftest import open_page

GAN = "pages/4_GAN_Live_Training.py"
PLAYGROUND = "pages/7_Playground.py"
DIFFUSION = "pages/6_Diffusion.py"


def cap_warning(at) -> str:
    return " ".join(w.value for w in at.warning if "GENLAB_MAX_TRAINERS" in w.value)


def playground_on_flow(at=None):
    """The Playground with a neural model (a trainer on Play) in panel a."""
    at = at or open_page(PLAYGROUND)
    at.selectbox(key="pg_data").set_value("eight").run()
    at.selectbox(key="pg_model").set_value("flow").run()
    assert not at.exception
    return at


def diffusion_training_tab():
    at = open_page(DIFFUSION)
    at.session_state["df_tab"] = "Training"
    at.run()
    assert not at.exception, at.exception
    return at


def held(at, key: str):
    """A training session in the page's state, or None."""
    value = at.session_state[key] if key in at.session_state else None
    return value[1] if isinstance(value, tuple) else value


def release(*runners) -> None:
    """Free the trainers and wait for their threads (a thread still inside TensorFlow when
    the interpreter exits aborts it)."""
    runners = [r for r in runners if r is not None]
    for r in runners:
        if not r.released:
            r.release()
    deadline = time.monotonic() + 120
    while any(r.running for r in runners) and time.monotonic() < deadline:
        time.sleep(0.2)


def test_past_the_cap_a_playground_panel_does_not_train_and_says_why(monkeypatch):
    """Cap 0: Play and Step on a neural panel build no trainer; the panel keeps its Play
    button and the training points, and one warning names the limit and what still works."""
    monkeypatch.setenv("GENLAB_MAX_TRAINERS", "0")
    at = playground_on_flow()
    for button in ("pg_play_a", "pg_step_a"):
        at.button(key=button).click().run()
        assert not at.exception and not at.error
        text = cap_warning(at)
        assert "GENLAB_MAX_TRAINERS=0" in text and "training points" in text, text
        assert held(at, "pg_live_a") is None
        assert not at.session_state["pg_playing_a"]
        assert at.button(key="pg_play_a").label == "Play"  # not a Pause for nothing
        assert at.image, "the panel still shows its canvas"
    at.run()  # said once, not on every later run
    assert not cap_warning(at)


def test_past_the_cap_diffusion_training_does_not_start_and_says_why(monkeypatch, tmp_path):
    """Cap 0: Train starts no training session; the settings and Train stay, and the warning
    says the other tabs keep sampling with the shipped model."""
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GENLAB_MAX_TRAINERS", "0")
    at = diffusion_training_tab()
    at.button(key="df_t_go").click().run()
    assert not at.exception and not at.error
    text = cap_warning(at)
    assert "GENLAB_MAX_TRAINERS=0" in text and "shipped model" in text, text
    assert held(at, "df_runner") is None
    assert at.button(key="df_t_go") is not None
    assert at.number_input(key="df_t_steps") is not None


def test_the_three_pages_share_one_count(monkeypatch, tmp_path):
    """With one place left, a GAN trainer takes it: the Playground and the Diffusion tab are
    refused; once the GAN session goes back to the pretrained model, the Playground gets it,
    and then the GAN page is refused."""
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GENLAB_MAX_TRAINERS", str(trainer_cap.active_trainers() + 1))
    gan, pg, diff = open_page(GAN), playground_on_flow(), diffusion_training_tab()
    try:
        gan.button(key="gan_play").click().run()
        assert held(gan, "gan_live") is not None and not cap_warning(gan)
        pg.button(key="pg_play_a").click().run()
        assert cap_warning(pg) and held(pg, "pg_live_a") is None
        diff.button(key="df_t_go").click().run()
        assert cap_warning(diff) and held(diff, "df_runner") is None

        gan.button(key="gan_pretrained").click().run()  # its trainer is released
        deadline = time.monotonic() + 30
        while trainer_cap.active_trainers() >= trainer_cap.max_trainers():
            assert time.monotonic() < deadline, "the GAN trainer's place was not freed"
            time.sleep(0.2)
        pg.button(key="pg_play_a").click().run()
        assert not cap_warning(pg) and not pg.exception
        assert held(pg, "pg_live_a") is not None
        gan.button(key="gan_play").click().run()
        assert cap_warning(gan) and not gan.exception
    finally:
        release(held(gan, "gan_live"), held(pg, "pg_live_a"), held(diff, "df_runner"))
