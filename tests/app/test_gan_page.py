"""AppTest of the GAN live-training page: play, pause, step and reset drive the step count.

Training runs in a background thread (genlib.live), so a run shows whatever the thread has
published by then: the tests re-run the page until the count moves, with a deadline.
"""

import io
import shutil
import threading
import time
import zipfile
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from genlib import gan

pytest.importorskip("tensorflow")

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/4_GAN_Live_Training.py"


def step_count(at) -> int:
    return int(next(m for m in at.metric if m.label == "Step").value.replace(",", ""))


def run_until_step_exceeds(at, step: int, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.25)
        at.run()
        if step_count(at) > step:
            return step_count(at)
    raise AssertionError(f"the step count stayed at {step_count(at)} for {timeout_s} s")


def run_until_built(at, timeout_s: float = 120.0) -> None:
    """Re-run the page until the trainer asked for (Play, Step, Reset) exists and its queued
    steps ran: the page never waits for TensorFlow itself, it shows "starting..."."""
    deadline = time.monotonic() + timeout_s
    while True:
        live = at.session_state["gan_live"] if "gan_live" in at.session_state else None
        if live is None or (not live.starting and (live.playing or not live.running)):
            break
        assert time.monotonic() < deadline, "the trainer was not built in time"
        time.sleep(0.2)
    at.run()


@pytest.fixture
def at():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(PAGE).run()
    assert not at.exception and not at.error
    yield at
    if at.session_state["gan_live"] if "gan_live" in at.session_state else None:
        at.session_state["gan_live"].release()  # no training thread outlives its test


def test_starts_on_the_pretrained_gan_without_tensorflow(at):
    """The first render shows the shipped checkpoint (many steps) and its 8 x 8 grid."""
    assert step_count(at) > 1000
    assert any("pretrained" in i.value for i in at.info)
    assert len(at.image) >= 1


def test_play_advances_pause_freezes_reset_restarts(at):
    """Play: the step count grows run after run; Pause: it stays; Reset: back to 0."""
    start = step_count(at)
    at.button(key="gan_play").click().run()  # starts the training thread
    assert not at.exception and not at.error, [e.value for e in at.error]
    run_until_built(at)
    assert at.session_state["gan_live"].playing
    first = run_until_step_exceeds(at, start)
    second = run_until_step_exceeds(at, first)
    run_until_step_exceeds(at, second)
    at.button(key="gan_pause").click().run()
    assert not at.session_state["gan_live"].playing  # pausing waits for the thread
    paused = step_count(at)
    time.sleep(0.5)
    at.run()
    assert step_count(at) == paused
    at.button(key="gan_reset").click().run()
    assert not at.exception and not at.error
    run_until_built(at)
    assert step_count(at) == 0
    at.run()
    assert step_count(at) == 0  # reset leaves it paused


def test_step_button_trains_exactly_n_steps(at):
    """Step with N = 7 from a reset trainer gives step 7; no pretrained banner any more."""
    at.button(key="gan_reset").click().run()
    at.number_input(key="gan_step_n").set_value(7)
    at.button(key="gan_step").click().run()  # queued until the new trainer exists
    assert not at.exception and not at.error
    run_until_built(at)
    assert step_count(at) == 7
    assert not any("pretrained" in i.value for i in at.info)


def test_changing_settings_while_playing_keeps_the_page_clean(at):
    """Changing a live setting while playing keeps the page error-free."""
    at.button(key="gan_play").click().run()
    run_until_built(at)
    at.radio(key="gan_loss").set_value("least-squares").run()
    at.select_slider(key="gan_lr_d").set_value(1e-3).run()
    assert not at.exception and not at.error
    assert at.session_state["gan_live"].trainer.settings["loss"] == "least-squares"
    assert at.session_state["gan_live"].trainer.settings["lr_d"] == 1e-3


def test_a_link_sets_preset_and_seed_and_the_url_follows():
    """?preset=dcgan&seed=5 opens the DCGAN with seed 5; a bad seed is named, not fatal."""
    at = AppTest.from_file(str(ROOT / "pages" / "4_GAN_Live_Training.py"), default_timeout=120)
    at.query_params["preset"] = "dcgan"
    at.query_params["seed"] = "5"
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="gan_preset").value == "dcgan"
    assert at.number_input(key="gan_seed").value == 5
    assert "dcgan" in next(i.value for i in at.info if "pretrained" in i.value)
    at.number_input(key="gan_seed").set_value(9).run()
    assert at.query_params["seed"] == "9" and at.query_params["preset"] == "dcgan"

    bad = AppTest.from_file(str(ROOT / "pages" / "4_GAN_Live_Training.py"), default_timeout=120)
    bad.query_params["seed"] = "minus one"
    bad.run()
    assert not bad.exception
    assert any("minus one" in w.value for w in bad.warning)
    assert bad.number_input(key="gan_seed").value == 0


def test_a_training_error_pauses_and_says_so(at):
    """When the thread stops on its own (here: a diverging trainer), the next refresh shows
    Play again and the reason."""
    at.button(key="gan_reset").click().run()
    run_until_built(at)
    live = at.session_state["gan_live"]

    def diverge(*args, **kwargs):
        raise ValueError("training diverged at step 1")

    live.trainer.train_for = diverge
    at.button(key="gan_play").click().run()
    deadline = time.monotonic() + 30
    while live.playing and time.monotonic() < deadline:
        time.sleep(0.05)
    at.run()
    assert not at.exception
    assert any("diverged" in e.value for e in at.error)
    assert at.button(key="gan_play")  # back to paused


def test_streamlit_does_not_clear_the_keras_session_after_a_run(at, monkeypatch):
    """Streamlit clears Keras' session after every run once keras is imported (two full
    garbage collections and a kernel-cache flush, 2.5 times a second while the page plays,
    with Keras training in another thread); ui.keep_keras_session turns that off."""
    import keras

    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: calls.append(1))
    at.run()
    at.button(key="gan_step").click().run()  # trains: TensorFlow and keras are loaded
    run_until_built(at)
    at.run()
    assert not at.exception
    assert calls == []


@pytest.fixture
def downloads(monkeypatch):
    """What the page hands each download button, by key: bytes, text, or a callable that
    Streamlit runs only when the button is clicked."""
    seen = {}
    original = st.download_button

    def spy(label, data, *args, key=None, **kwargs):
        seen[key] = data
        return original(label, data, *args, key=key, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    return seen


def check_exports(files: dict, tmp_path: Path, png: bool = True) -> None:
    """Every export yields a valid file. A callable is called here, in the test's thread
    with no script run, as Streamlit calls it when the button is clicked."""
    def fetch(key):
        data = files[key]
        data = data() if callable(data) else data
        return data.encode() if isinstance(data, str) else data

    if png:
        assert fetch("gan_grid_png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert fetch("gan_csv").decode().splitlines()[0] == "step,d_loss,g_loss,d_real,d_fake"
    assert fetch("gan_gif")[:6] in (b"GIF87a", b"GIF89a")
    with zipfile.ZipFile(io.BytesIO(fetch("gan_weights"))) as z:
        z.extractall(tmp_path)
        name = next(n for n in z.namelist() if n.endswith(".npz"))
    model = gan.GAN.load(tmp_path / name)
    assert model.sample(2, rng=0).images.shape == (2, 28, 28)


def test_every_export_works_pretrained_after_step_and_while_playing(at, downloads, tmp_path):
    """Issue 18: pretrained, after Step and while playing, each export yields a valid file
    (the weights export used to read session state from outside the script run and fail
    after any Step or Play)."""
    at.run()  # with the spy in place
    check_exports(downloads, tmp_path / "pretrained")
    downloads.clear()
    at.button(key="gan_step").click().run()
    assert not at.exception and not at.error
    run_until_built(at)
    downloads.clear()
    at.run()
    check_exports(downloads, tmp_path / "step")
    downloads.clear()
    at.button(key="gan_play").click().run()
    assert not at.exception and not at.error
    run_until_built(at)
    check_exports(downloads, tmp_path / "playing", png=False)  # no grid PNG while playing
    assert at.session_state["gan_live"].playing


def test_a_damaged_shipped_checkpoint_is_named_and_the_page_carries_on(monkeypatch, tmp_path):
    """Issue 18: a shipped checkpoint whose hash does not match its manifest: the page names
    the file, offers the other preset, and can train from random weights."""
    for preset in gan.PRESETS:
        src = gan.shipped_checkpoint_path(preset)
        shutil.copy(src, tmp_path / src.name)
        shutil.copy(src.with_suffix(".json"), tmp_path / src.with_suffix(".json").name)
    damaged = tmp_path / "gan_mlp.npz"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(gan, "WEIGHTS_DIR", tmp_path)

    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120).run()
    assert not at.exception
    message = next(e.value for e in at.error if "cannot be used" in e.value)
    message = message.replace("\\", "")  # the path is escaped: shown as typed, not Markdown
    assert str(damaged) in message and "SHA-256" in message
    assert not at.metric  # no grid, no charts: nothing to show them from

    at.button(key="gan_other").click().run()  # the other preset still works
    assert not at.exception and not at.error
    assert at.selectbox(key="gan_preset").value == "dcgan"
    assert "dcgan" in next(i.value for i in at.info if "pretrained" in i.value)

    at.selectbox(key="gan_preset").set_value("mlp").run()  # back to the damaged one ...
    assert any(str(damaged) in e.value.replace("\\", "") for e in at.error)
    at.number_input(key="gan_step_n").set_value(3)
    at.button(key="gan_step").click().run()  # ... and train it from random weights
    try:
        assert not at.exception
        assert any("starting" in m.value for m in at.metric) or at.info  # says so
        run_until_built(at)
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert step_count(at) == 3
    finally:
        if at.session_state["gan_live"] if "gan_live" in at.session_state else None:
            at.session_state["gan_live"].release()


@pytest.fixture
def drawn_shares(monkeypatch):
    """The digit shares the page hands its bar chart, run by run."""
    from ui import charts

    seen = []
    original = charts.gan_shares_chart

    def spy(shares, *args, **kwargs):
        seen.append(list(shares))
        return original(shares, *args, **kwargs)

    monkeypatch.setattr(charts, "gan_shares_chart", spy)
    return seen


def test_the_share_chart_and_the_quality_panel_agree(at, drawn_shares):
    """Issue 18: one set of judged samples feeds the chart and the panel: the chart's shares
    give the panel's digit-coverage entropy, and no warning contradicts the other."""
    import numpy as np

    at.run()
    shares = np.array(drawn_shares[-1])
    assert shares.sum() == pytest.approx(1.0)
    entropy = -(shares[shares > 0] * np.log(shares[shares > 0])).sum()
    coverage = next(m.value for m in at.metric if m.label == "Digit coverage")
    assert coverage == f"{entropy:.2f} nats"
    rare = [k for k, s in enumerate(shares) if s < 0.04]
    panel_warns = [w.value for w in at.warning if "rarely or never makes" in w.value]
    chart_warns = [w.value for w in at.warning if "mode collapse" in w.value]
    assert bool(rare) == bool(panel_warns) == bool(chart_warns)


def test_no_collapse_verdict_on_noise_at_step_zero(at):
    """Issue 18: a freshly reset generator draws noise; the judge still names a digit for
    each (mostly one), but neither the chart nor the panel calls that mode collapse."""
    at.button(key="gan_reset").click().run()
    run_until_built(at)
    assert step_count(at) == 0
    assert not any("mode collapse" in w.value or "rarely" in w.value for w in at.warning)
    assert any("Not digits yet" in c.value for c in at.caption)
    assert any("No verdict on which digits" in c.value for c in at.caption)


def test_a_bad_seed_in_the_link_keeps_the_rest_of_it():
    """?preset=dcgan&seed=inf&other=1: the seed is named and reset, dcgan and other stay."""
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
    at.query_params["preset"] = "dcgan"
    at.query_params["seed"] = "inf"
    at.query_params["other"] = "1"
    at.run()
    assert not at.exception
    assert any("inf" in w.value for w in at.warning)
    assert at.selectbox(key="gan_preset").value == "dcgan"
    assert at.query_params["preset"] == ["dcgan"] or at.query_params["preset"] == "dcgan"
    assert "other" in at.query_params and at.query_params["seed"] in ("0", ["0"])


def test_the_page_shows_starting_and_a_status_line_until_the_trainer_runs(at):
    """Issue 18: Play returns at once; until the trainer runs the page says 'starting...' and
    what it is doing, then trains without another click."""
    at.button(key="gan_reset").click().run()  # a new trainer: built in the background
    at.button(key="gan_play").click().run()
    assert not at.exception
    live = at.session_state["gan_live"]
    if live.starting:
        assert any(m.value == "starting..." for m in at.metric)
        assert any("TensorFlow" in c.value or "Compiling" in c.value for c in at.caption)
    run_until_built(at)
    run_until_step_exceeds(at, 0)
    assert any(c.value.startswith(":material/memory: Training") for c in at.caption)


def until_on_tensorflow(trainer, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while trainer.on_numpy:
        assert trainer.tf_error is None, trainer.tf_error
        assert time.monotonic() < deadline, "TensorFlow never took over from numpy"
        time.sleep(0.1)


def test_play_trains_at_once_in_numpy_until_tensorflow_takes_over(at, monkeypatch):
    """Issue 18: Play on the mlp trains at once on numpy while the trainer's TensorFlow side
    is not built (held back here), and the status line says so; once it is built TensorFlow
    takes over, the step count goes on from where numpy left it, and the line says Training."""
    from genlib.gan_numpy_start import NumpyStartTrainer

    gate = threading.Event()
    build_tf = NumpyStartTrainer._build_tf

    def held_back(self, images):
        gate.wait(120)
        build_tf(self, images)

    monkeypatch.setattr(NumpyStartTrainer, "_build_tf", held_back)
    try:
        start = step_count(at)
        at.button(key="gan_play").click().run()
        run_until_built(at)
        trainer = at.session_state["gan_live"].trainer
        assert isinstance(trainer, NumpyStartTrainer) and trainer.on_numpy
        on_numpy = run_until_step_exceeds(at, run_until_step_exceeds(at, start))
        assert trainer.on_numpy
        assert any("Training in numpy while TensorFlow" in c.value for c in at.caption), \
            [c.value for c in at.caption]
    finally:
        gate.set()
    until_on_tensorflow(trainer)
    run_until_step_exceeds(at, on_numpy)
    assert not at.exception and not at.error
    status = [c.value for c in at.caption if c.value.startswith(":material/memory:")]
    assert status and status[0].startswith(":material/memory: Training"), status
    assert "numpy" not in status[0]
