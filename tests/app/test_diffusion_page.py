"""The Diffusion page in AppTest: every tab, the scrubber and Play, links, bad input, training."""

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from genlib import diffusion as df
from genlib import diffusion_edits as de
from genlib import diffusion_knobs as dk
from genlib import diffusion_train as dtr
from genlib import drawing
from genlib import images as gim
from genlib.data import load_mnist
from ui import diffusion_edit_view as edit_view
from ui import diffusion_knobs_view as knobs_view
from ui import diffusion_view as dv
from ui.drawing_pad import pad_key, upload_key

from .conftest import open_page

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/6_Diffusion.py"
TABS = ["Reverse process", "Forward process", "Samples", "What the knobs do", "Your digit",
        "Interpolation", "VAE prior vs learned prior", "Training"]


def _open(query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def _tab(at, name: str) -> AppTest:
    at.session_state["df_tab"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def _charts(at) -> list:
    return at.get("vega_lite_chart")


def _values(chart) -> list[dict]:
    """A chart's data rows (Streamlit sends inline values as an Arrow table)."""
    import pyarrow as pa

    return pa.ipc.open_stream(chart.proto.data.data).read_all().to_pylist()


# ----------------------------------------------------------------------------- reverse process


def test_page_opens_on_a_trajectory_with_every_control(at):
    keys = {w.key for w in [*at.selectbox, *at.slider, *at.radio, *at.number_input]}
    assert {"df_digit", "df_guidance", "df_steps", "df_sampler", "df_seed", "df_scrub"} <= keys
    assert at.slider(key="df_scrub").value == at.slider(key="df_steps").value == 20
    assert [t.label for t in at.tabs] == TABS
    assert at.button(key="df_play").label == "Play"
    assert at.get("download_button")[0].label == "Download GIF"
    assert len(at.image) >= 2
    assert not at.error and not at.warning


def test_scrubber_changes_the_picture_not_the_trajectory(at):
    before = [img.value for img in at.image][:2]
    view = dv.trajectory_view(dv.model_source("latent", False), dv.Settings(3, 1.5, 20,
                                                                           "euler", 0))
    at.slider(key="df_scrub").set_value(3).run()
    after = [img.value for img in at.image][:2]
    assert not at.exception
    assert before[0] != after[0] and before[1] != after[1]
    # the same cached run: the scrubber looked its pictures up
    assert dv.trajectory_view(dv.model_source("latent", False),
                              dv.Settings(3, 1.5, 20, "euler", 0)) is view
    assert ("step", 3) in view._png


def test_play_walks_the_scrubber_from_noise_to_the_digit_then_stops(at):
    """Play at the last step starts from step 0; each frame (a run here) moves it on."""
    at.slider(key="df_steps").set_value(6).run()
    at.button(key="df_play").click().run()
    assert at.session_state["df_playing"] and at.slider(key="df_scrub").value == 0
    assert at.button(key="df_play").label == "Pause"
    seen = [0]
    for _ in range(6):
        at.run()
        seen.append(at.slider(key="df_scrub").value)
    assert seen == list(range(7))
    assert not at.session_state["df_playing"] and at.button(key="df_play").label == "Play"
    assert not at.exception


def test_moving_the_scrubber_pauses_play(at):
    at.button(key="df_play").click().run()
    at.run()
    at.slider(key="df_scrub").set_value(10).run()
    assert not at.session_state["df_playing"]
    at.run()
    assert at.slider(key="df_scrub").value == 10


def test_gif_is_the_whole_run_from_noise_to_the_digit():
    """The GIF: one frame per step (up to 60), the first the noise, the last the sample."""
    s = dv.Settings(7, 1.5, 12, "euler", 3)
    view = dv.TrajectoryView(dv.load_model("latent"), s)
    gif = Image.open(io.BytesIO(view.gif()))
    assert gif.format == "GIF" and gif.n_frames == 13
    for k in (0, 12):  # frame k: x_t beside the guess at step k, as the page tiles them
        gif.seek(k)
        frame = np.asarray(gif.convert("L"))
        want = gim.upscale(gim.to_uint8(gim.tile(np.stack(
            [view.traj.images[k, 0], view.traj.guess_images[k, 0]]), 2, pad=2)), 6)
        np.testing.assert_array_equal(frame, want)
    assert gif.info["duration"] == 1000  # the digit is held
    model = dv.load_model("latent")
    long = dv.TrajectoryView(model, dv.Settings(7, 1.5, 200, "euler", 3))
    assert Image.open(io.BytesIO(long.gif())).n_frames == 60


# ----------------------------------------------------------------------------- links


def test_a_link_sets_the_controls_and_the_tab():
    at = _open({"df_digit": "7", "df_steps": "12", "df_guidance": "3", "df_sampler": "stochastic",
                "df_seed": "42", "df_tab": "Interpolation"})
    assert not at.exception and not at.warning
    assert at.selectbox(key="df_digit").value == "7"
    assert at.slider(key="df_steps").value == 12 and at.slider(key="df_guidance").value == 3.0
    assert at.radio(key="df_sampler").value == "stochastic"
    assert at.number_input(key="df_seed").value == 42
    assert at.slider(key="df_ip_frames") is not None  # the Interpolation tab is the open one
    with pytest.raises(KeyError):
        at.slider(key="df_scrub")


@pytest.mark.parametrize("key, bad", [("df_steps", "500"), ("df_steps", "0"), ("df_steps", "inf"),
                                      ("df_guidance", "-1"), ("df_guidance", "nan"),
                                      ("df_guidance", "1e9"), ("df_digit", "11"),
                                      ("df_sampler", "heun"), ("df_seed", "1e400"),
                                      ("df_tab", "Nowhere")])
def test_a_bad_link_value_is_named_and_the_rest_kept(key, bad):
    other = ("df_seed", "5") if key != "df_seed" else ("df_steps", "8")
    at = _open({key: bad, other[0]: other[1]})
    assert not at.exception
    assert key in " ".join(w.value for w in at.warning)
    assert at.query_params.get(other[0]) == other[1]


# ----------------------------------------------------------------------------- other tabs


def test_forward_time_slider_updates_the_shares(at):
    _tab(at, "Forward process").slider(key="df_fwd_t").set_value(0.8).run()
    values = {m.label: m.value for m in at.metric}
    assert values["Signal share 1 − t"] == "20%" and values["Noise share t"] == "80%"


def test_samples_and_prior_tabs_show_grids(at):
    assert len(_tab(at, "Samples").image) >= 1
    assert len(_tab(at, "VAE prior vs learned prior").image) >= 2
    assert not at.error


def test_knob_charts_come_from_the_shipped_table(at):
    """On the sample, the charts open at once from the shipped measurements."""
    _tab(at, "What the knobs do")
    charts = _charts(at)
    assert len(charts) == 2
    values = _values(charts[0])
    shown = {v["figure"] for v in values}
    assert shown == set(knobs_view.FIGURES.values())
    rows = dk.load_table(dv.load_model("latent"), load_mnist("sample"))
    want = [r["consistency"] for r in rows if r["steps"] == 20 and r["sampler"] == "euler"]
    got = [v["value"] for v in values if v["figure"] == "class consistency"]
    assert got == want
    with pytest.raises(KeyError):
        at.button(key="df_knobs_go")  # nothing to measure


def test_knob_charts_are_measured_on_request_when_nothing_shipped_applies(at, monkeypatch):
    """No table for this model/data: a button; pressed, a progress bar, then the charts."""
    monkeypatch.setattr(dk, "load_table", lambda *a, **k: None)
    monkeypatch.setattr(dk, "GUIDANCE_GRID", (0.0, 3.0))
    monkeypatch.setattr(dk, "STEPS_GRID", (1, 20))
    monkeypatch.setattr(dk, "N_SAMPLES", 60)
    _tab(at, "What the knobs do")
    assert not _charts(at) and at.button(key="df_knobs_go") is not None
    at.button(key="df_knobs_go").click().run()
    assert not at.exception and len(_charts(at)) == 2
    cons = {v["guidance"]: v["value"] for v in _values(_charts(at)[0])
            if v["figure"] == "class consistency"}
    assert cons[3.0] > cons[0.0]


def test_sdedit_on_a_held_out_digit_shows_the_strip_and_what_survives(at):
    _tab(at, "Your digit").radio(key="df_sd_source").set_value("A held-out digit").run()
    assert not at.exception and not at.error
    kept = [v["kept"] for v in _values(_charts(at)[0])]
    assert kept[0] == pytest.approx(1.0) and kept[0] > kept[-1]
    assert len(kept) == 11


def test_sdedit_on_a_drawn_digit_matches_genlib(at):
    """A drawn 1, denoised towards a 3: the chart's figures are genlib's on the same digit."""
    strokes = [drawing.line(0.5, 0.15, 0.5, 0.85)]
    _tab(at, "Your digit")
    at.session_state[pad_key("df_sd")] = {"strokes": strokes}
    at.run()
    assert not at.exception and not at.error
    digit = drawing.digit_from_strokes(strokes)
    r = de.sdedit(dv.load_model("latent"), digit, edit_view.SDEDIT_TIMES, rng=0, digit=3,
                  guidance=1.5, steps=20, sampler="euler")
    want = de.similarity(r.edited[:, 0], digit)
    np.testing.assert_allclose([v["kept"] for v in _values(_charts(at)[0])], want, atol=1e-6)


def test_sdedit_with_a_bad_upload_says_why(at):
    _tab(at, "Your digit")
    at.file_uploader(key=upload_key("df_sd")).set_value(("x.png", b"not an image", "image/png"))
    at.run()
    assert not at.exception
    assert not _charts(at)
    assert "Could not use that picture" in " ".join(w.value for w in at.warning)


def test_interpolation_strip_follows_its_seeds_and_frames(at):
    _tab(at, "Interpolation").slider(key="df_ip_frames").set_value(5).run()
    before = at.image[0].value
    at.number_input(key="df_ip_b").set_value(9).run()
    assert not at.exception and not at.error
    assert at.image[0].value != before
    assert "seed 0 (left) to that of seed 9" in at.image[0].proto.imgs[0].caption
    it = edit_view.interpolation(dv.model_source("latent", False), (0, 9), 5,
                                 dv.Settings(3, 1.5, 20, "euler", 0))
    want = de.interpolate(dv.load_model("latent"), (0, 9), 5, digit=3, guidance=1.5, steps=20)
    np.testing.assert_array_equal(it.images, want.images)


# ----------------------------------------------------------------------------- bad input


def test_damaged_shipped_model_is_named(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    for suffix in (".npz", ".json"):
        shutil.copy(df.shipped_path("latent").with_suffix(suffix), weights)
    (weights / "diffusion_latent.npz").write_bytes(b"PK\x03\x04 truncated")
    monkeypatch.setattr(df, "WEIGHTS_DIR", weights)
    dv.load_model.clear()
    try:
        at = open_page(PAGE)
        message = " ".join(e.value for e in at.error)
        assert "cannot be loaded" in message and "damaged or replaced" in message
        assert "diffusion\\_latent\\.npz" in message  # the file, named (Markdown-escaped)
    finally:
        dv.load_model.clear()


def test_corrupt_trained_weights_fall_back_to_the_shipped_model(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path))
    mine = dtr.user_weights_path("latent")
    mine.parent.mkdir(parents=True)
    shutil.copy(df.shipped_path("latent").with_suffix(".json"), mine.with_suffix(".json"))
    mine.write_bytes(b"garbage")
    at = open_page(PAGE)
    at.session_state["df_mine"] = True
    at.run()
    assert not at.exception
    assert any("Your trained weights cannot be used" in e.value for e in at.error)
    assert at.slider(key="df_scrub").value == 20  # the shipped model's run is shown


# ----------------------------------------------------------------------------- training


def _run_until(at, done, timeout: float = 240.0) -> AppTest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return at
        time.sleep(0.5)
    raise AssertionError("timed out: " + " | ".join(m.value for m in [*at.info, *at.error]))


def test_training_continues_in_the_background_and_saves_to_the_cache(tmp_path, monkeypatch):
    """Continue 100 steps: progress and the fixed-noise grid while training, then a file in
    the cache folder (never the shipped one), which the page can then sample with."""
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path))
    shipped = df.shipped_path("latent").read_bytes()
    at = _tab(open_page(PAGE), "Training")
    at.number_input(key="df_t_steps").set_value(100)
    at.button(key="df_t_go").click().run()
    assert at.button(key="df_t_cancel") is not None
    _run_until(at, lambda a: any("saved to" in i.value for i in a.info))
    mine = dtr.user_weights_path("latent")
    assert mine.is_file() and str(mine).startswith(str(tmp_path))
    assert df.shipped_path("latent").read_bytes() == shipped
    model = df.DiffusionModel.load(mine)
    assert model.manifest["step"] == df.DiffusionModel.load_pretrained().manifest["step"] + 100
    at.toggle(key="df_mine_toggle").set_value(True).run()
    assert any("Sampling with your trained weights" in c.value for c in at.caption)
    at.radio(key="df_t_start").set_value("mine")  # and once more, from that file
    at.button(key="df_t_go").click().run()
    _run_until(at, lambda a: a.session_state["df_runner"] is None if "df_runner" in
               a.session_state else True)
    assert df.DiffusionModel.load(mine).manifest["step"] == model.manifest["step"] + 100


def test_cancel_stops_training_and_saves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path))
    at = _tab(open_page(PAGE), "Training")
    at.radio(key="df_t_start").set_value("restart")
    at.number_input(key="df_t_steps").set_value(50_000)
    at.button(key="df_t_go").click().run()
    runner = at.session_state["df_runner"]
    at.button(key="df_t_cancel").click().run()
    assert "nothing was saved" in " ".join(i.value for i in at.info)
    assert runner.released
    deadline = time.monotonic() + 120  # a build in progress finishes, then the thread ends
    while runner.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not runner.running and runner.trainer is None
    assert not dtr.user_weights_path("latent").exists()
    assert at.button(key="df_t_go") is not None


def test_page_never_imports_tensorflow():
    """Opening the page, scrubbing, Play and every tab but Training, without TensorFlow."""
    code = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=120).run()
at.switch_page({PAGE!r}).run()
at.slider(key="df_scrub").set_value(2).run()
at.button(key="df_play").click().run()
at.number_input(key="df_seed").set_value(3).run()
for tab in {TABS[1:-1]!r}:
    at.session_state["df_tab"] = tab
    at.run()
assert not at.exception, at.exception
print("TF", "tensorflow" in sys.modules or "keras" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ})
    assert "TF False" in out.stdout, out.stdout + out.stderr
