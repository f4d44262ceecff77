"""The 2-D playground in AppTest: defaults, knobs, the link, uploads, side by side, training."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/7_Playground.py"


def _table(at) -> dict:
    df = at.dataframe[0].value
    return {r["Model"]: r for r in df.to_dict("records")}


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_page_opens_without_tensorflow():
    """Opening the page (closed-form default) never imports TensorFlow."""
    code = (
        "import sys\nfrom streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=120).run()\n"
        f"at.switch_page({PAGE!r}).run()\n"
        "assert not at.exception, at.exception\n"
        "print('tensorflow' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_defaults_show_the_world_map_table(at):
    """The world map's table has the Gaussian, the mixture, the KDE and the copying KDE;
    every row's shares add up to one; the tiny-bandwidth KDE is mostly copies."""
    rows = _table(at)
    assert {"Gaussian", "Gaussian mixture, k = 30", "KDE, bandwidth 0.02",
            "KDE, bandwidth 0.001"} <= set(rows)
    for r in rows.values():
        assert r["A: off-support"] + r["B: copy"] + r["C: good"] == pytest.approx(1)
    assert rows["KDE, bandwidth 0.001"]["B: copy"] > 0.5
    assert rows["Gaussian"]["A: off-support"] > rows["KDE, bandwidth 0.02"]["A: off-support"]
    assert at.image, "the canvas is shown"
    assert any("Verdict" in m.value for m in at.markdown)


def test_bandwidth_slider_refits_at_once(at):
    """A tiny bandwidth turns the panel's samples into copies (model B in the verdict)."""
    at.select_slider(key="pg_bw").set_value(0.001).run()
    assert not at.exception
    assert int(_metric(at, "B: copies").rstrip("%")) > 50
    assert any("model B" in m.value for m in at.markdown)


def test_mixture_k_slider_refits_and_scores_held_out_points(at):
    """Moving k refits the mixture: the panel's held-out log-likelihood is that of a
    Mixture fitted with that k (the mean over the page's 300 held-out points)."""
    from genlib import playground_data as pdata
    from genlib import playground_models as pm

    at.selectbox(key="pg_model").set_value("gmm").run()
    at.slider(key="pg_k").set_value(12).run()
    assert not at.exception
    points = pdata.make_dataset("world", 10_000, 0.1, 0, 0.3)
    ref = pm.Mixture(12, seed=0).fit(points.train).score_samples(points.held_out[:300])
    assert float(_metric(at, "Held-out log-lik")) == pytest.approx(np.mean(ref), abs=0.006)


def test_model_and_dataset_choice_change_the_panel(at):
    """Gaussian on the ring: model A (its mean sits in the ring's hole)."""
    at.selectbox(key="pg_data").set_value("ring").run()
    at.selectbox(key="pg_model").set_value("gaussian").run()
    assert not at.exception
    assert int(_metric(at, "A: off-support").rstrip("%")) > 30
    assert at.query_params["pg_data"] in ("ring", ["ring"])
    assert at.query_params["pg_model"] in ("gaussian", ["gaussian"])


def test_a_link_sets_the_page():
    """?pg_data=moons&pg_model=gmm&pg_k=4&pg_seed=7 opens the mixture with k = 4 on moons."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(PAGE)
    for k, v in {"pg_data": "moons", "pg_model": "gmm", "pg_k": "4", "pg_seed": "7"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception and not at.warning
    assert at.selectbox(key="pg_data").value == "moons"
    assert at.slider(key="pg_k").value == 4 and at.number_input(key="pg_seed").value == 7
    assert "Gaussian mixture, k = 4" in _table(at)


def test_a_garbled_link_is_named_and_ignored():
    """Nonsense values: one warning naming them, defaults used, no exception."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(PAGE)
    for k, v in {"pg_data": "mars", "pg_n": "1e400", "pg_seed": "inf", "pg_model": "<b>x</b>",
                 "pg_bw": "nan", "pg_side": "maybe", "pg_k": "9" * 60}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    for key in ("pg_data", "pg_n", "pg_seed", "pg_model", "pg_bw", "pg_side", "pg_k"):
        assert key in text
    assert at.selectbox(key="pg_data").value == "world"
    assert at.selectbox(key="pg_model").value == "kde"


def test_uploaded_points_become_the_dataset(at):
    """A good CSV: the dataset is the user's points, with an estimated support."""
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(300, 2)) * [4.0, 1.0]
    data = ("x,y\n" + "".join(f"{x},{y}\n" for x, y in pts)).encode()

    def script(data):
        from ui import playground_panel as p

        p.accept_upload("mine.csv", data)

    holder = AppTest.from_function(script, kwargs={"data": data}, default_timeout=30).run()
    assert "pg_upload_error" not in holder.session_state
    at.session_state["pg_upload"] = holder.session_state["pg_upload"]
    at.run()  # the dataset list now offers the upload, as after the uploader's callback
    at.selectbox(key="pg_data").set_value("upload").run()
    assert not at.exception
    assert r"**mine\.csv**" in " ".join(c.value for c in at.caption)  # ui.plain escapes
    assert any("estimated" in c.value for c in at.caption)


@pytest.mark.parametrize("data, words", [(b"x,y\n" + b"1,oops\n" * 30, "not a number"),
                                         (b"x\n" + b"1\n" * 30, "one column"),
                                         (b"x,y\n" + b"1,nan\n" * 30, "non-finite")])
def test_a_bad_upload_is_named_and_the_data_kept(data, words):
    """A bad CSV: its name and the reason in the message, the dataset choice unchanged."""
    def script(data):
        import streamlit as st

        from ui import playground_panel as p

        st.session_state.pg_data = "ring"
        p.accept_upload("bad *file*.csv", data)

    at = AppTest.from_function(script, kwargs={"data": data}, default_timeout=30).run()
    assert not at.exception
    assert words in at.session_state["pg_upload_error"]
    assert "bad *file*.csv" in at.session_state["pg_upload_error"]
    assert at.session_state["pg_data"] == "ring" and "pg_upload" not in at.session_state


def test_side_by_side_shows_two_panels(at):
    """The toggle adds a second panel (the Gaussian) on the same data and seed."""
    at.toggle(key="pg_side").set_value(True).run()
    assert not at.exception
    assert at.selectbox(key="pg_model_b").value == "gaussian"
    labels = [m.label for m in at.metric]
    assert labels.count("C: good") == 2


def test_flow_model_trains_with_step_and_reset(at):
    """Step trains 100 steps in the background: a canvas with samples appears; Reset
    returns to untrained."""
    at.selectbox(key="pg_data").set_value("eight").run()
    at.selectbox(key="pg_model").set_value("flow").run()
    assert not at.exception
    at.button(key="pg_step_a").click().run()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        time.sleep(1.0)
        at.run()
        if "Flow matching (step 100)" in _table(at):
            break
    assert not at.exception
    assert any(m.label == "C: good" for m in at.metric)
    assert "Flow matching (step 100)" in _table(at)
    at.button(key="pg_reset_btn_a").click().run()
    assert not at.exception
    assert not any("Flow matching" in r for r in _table(at))


def test_page_is_listed_in_the_navigation():
    """The home page links to the playground, with its own icon in the sidebar."""
    import ui

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert "7_Playground" in ui.PAGE_ICONS
    assert any("Playground" in str(getattr(link, "label", "")) for link in
               at.get("page_link"))


def test_a_playing_model_leaves_the_table_until_paused(at):
    """The table is drawn once per page run: while a panel plays, its model has no row
    there (it would be stale at once); paused, its row is back at the panel's step."""
    at.selectbox(key="pg_data").set_value("eight").run()
    at.selectbox(key="pg_model").set_value("flow").run()
    at.button(key="pg_play_a").click().run()

    def live_line():  # the playing panel's own A / B / C line
        return any("samples." in m.value and "**A**" in m.value for m in at.markdown)

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not live_line():
        time.sleep(1.0)
        at.run()
    assert not at.exception and live_line()
    assert not any("Flow matching" in r for r in _table(at))
    at.button(key="pg_pause_a").click().run()
    assert not at.exception
    assert any(r.startswith("Flow matching (step") for r in _table(at))
