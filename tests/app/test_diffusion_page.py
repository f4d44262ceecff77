"""The Diffusion page in AppTest: opens, controls, the scrubber, bad link values, no TensorFlow."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/6_Diffusion.py"


def _open(query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def test_page_opens_on_a_trajectory_with_every_control(at):
    keys = {w.key for w in [*at.selectbox, *at.slider, *at.radio, *at.number_input]}
    assert {"df_digit", "df_guidance", "df_steps", "df_sampler", "df_seed", "df_scrub",
            "df_fwd_t"} <= keys
    assert at.slider(key="df_scrub").value == at.slider(key="df_steps").value == 20
    assert [t.label for t in at.tabs] == ["Reverse process", "Forward process", "Samples",
                                          "VAE prior vs learned prior"]
    assert len(at.image) >= 6
    assert not at.error and not at.warning


def test_scrubber_changes_the_picture_not_the_trajectory(at):
    before = [img.value for img in at.image][:2]
    at.slider(key="df_scrub").set_value(3).run()
    after = [img.value for img in at.image][:2]
    assert not at.exception
    assert before[0] != after[0] and before[1] != after[1]


def test_controls_change_the_run_and_shrinking_steps_clamps_the_scrubber(at):
    at.slider(key="df_steps").set_value(5).run()
    assert at.slider(key="df_scrub").value == 5
    at.selectbox(key="df_digit").set_value("unconditional").run()
    assert at.slider(key="df_guidance").disabled
    at.radio(key="df_sampler").set_value("stochastic").run()
    assert at.query_params.get("df_sampler") == "stochastic"
    at.number_input(key="df_seed").set_value(7).run()
    assert not at.exception and not at.error


def test_forward_time_slider_updates_the_shares(at):
    at.slider(key="df_fwd_t").set_value(0.8).run()
    values = {m.label: m.value for m in at.metric}
    assert values["Signal share 1 − t"] == "20%" and values["Noise share t"] == "80%"


def test_a_link_sets_the_controls():
    at = _open({"df_digit": "7", "df_steps": "12", "df_guidance": "3", "df_sampler": "stochastic",
                "df_seed": "42"})
    assert not at.exception and not at.warning
    assert at.selectbox(key="df_digit").value == "7"
    assert at.slider(key="df_steps").value == 12 and at.slider(key="df_guidance").value == 3.0
    assert at.radio(key="df_sampler").value == "stochastic"
    assert at.number_input(key="df_seed").value == 42


@pytest.mark.parametrize("key, bad", [("df_steps", "500"), ("df_steps", "inf"),
                                      ("df_guidance", "-1"), ("df_guidance", "nan"),
                                      ("df_digit", "11"), ("df_sampler", "heun"),
                                      ("df_seed", "1e400")])
def test_a_bad_link_value_is_named_and_the_rest_kept(key, bad):
    other = ("df_seed", "5") if key != "df_seed" else ("df_steps", "8")
    at = _open({key: bad, other[0]: other[1]})
    assert not at.exception
    assert key in " ".join(w.value for w in at.warning)
    assert at.query_params.get(other[0]) == other[1]


def test_page_never_imports_tensorflow():
    """Opening the page, sampling and scrubbing happen without TensorFlow or Keras."""
    code = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=120).run()
at.switch_page({PAGE!r}).run()
at.slider(key="df_scrub").set_value(2).run()
at.number_input(key="df_seed").set_value(3).run()
assert not at.exception, at.exception
print("TF", "tensorflow" in sys.modules or "keras" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ})
    assert "TF False" in out.stdout, out.stdout + out.stderr
