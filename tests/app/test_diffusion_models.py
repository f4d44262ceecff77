"""The Diffusion page's model chooser: the latent preset by default, the pixel U-Net by link or
click, each tab working with it, a bad link named."""

import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from genlib import diffusion as df

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/6_Diffusion.py"
PRIOR_TAB = "VAE prior vs learned prior"


def _open(query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def test_latent_by_default_and_pixel_on_click(at):
    chooser = at.button_group(key="df_model")
    assert chooser.value == "latent" and "df_model" not in at.query_params
    assert "latent space of an autoencoder" in " ".join(m.value for m in at.markdown)
    chooser.set_value("pixel").run()
    assert not at.exception, at.exception
    assert at.query_params["df_model"] == "pixel"
    assert "pixels" in " ".join(m.value for m in at.markdown)
    assert PRIOR_TAB not in [t.label for t in at.tabs]
    # the reverse process ran with the U-Net: its trajectory is the pixel model's
    assert at.session_state["df_model"] == "pixel"


def test_pixel_by_link_runs_every_tab():
    at = _open({"df_model": "pixel", "df_steps": "4"})
    assert not at.exception, at.exception
    for tab in ("Forward process", "Samples", "Interpolation", "Reverse process"):
        at.session_state["df_tab"] = tab
        at.run()
        assert not at.exception, (tab, at.exception)
    at.session_state["df_tab"] = "Forward process"
    at.run()
    captions = " ".join(c.caption for img in at.image for c in img.proto.imgs)
    assert "Latent x_t" not in captions and "Pixel-space x_t" in captions


def test_prior_tab_link_with_the_pixel_model_falls_back_without_error():
    at = _open({"df_model": "pixel", "df_tab": PRIOR_TAB})
    assert not at.exception, at.exception
    assert PRIOR_TAB not in [t.label for t in at.tabs]


def test_bad_model_link_is_named_and_the_latent_model_shows():
    at = _open({"df_model": "huge"})
    assert not at.exception, at.exception
    assert any("df_model" in w.value for w in at.warning)
    assert at.button_group(key="df_model").value == "latent"


def test_pixel_knob_charts_come_from_its_shipped_table(monkeypatch):
    """The pixel model's knob charts open from its shipped table: nothing is measured (a
    measurement here would fail the test) and the chart shows the table's values."""
    import pyarrow as pa

    from genlib import diffusion_knobs as dk
    from genlib.data import load_mnist

    def no_measuring(*args, **kwargs):
        raise AssertionError("the page measured a point")

    monkeypatch.setattr(dk, "measure_point", no_measuring)
    at = _open({"df_model": "pixel", "df_tab": "What the knobs do"})
    assert not at.exception, at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2
    assert not [b for b in at.button if b.key == "df_knobs_go"]  # nothing to measure
    rows = dk.load_table(df.DiffusionModel.load_pretrained("pixel"), load_mnist("sample"))
    shown = pa.ipc.open_stream(charts[1].proto.data.data).read_all().to_pylist()
    want = {(r["sampler"], r["steps"]): r["frechet"] for r in rows if r["guidance"] == 1.5}
    assert {(v["steps"]): v["frechet"] for v in shown if "Euler" in v["sampler"]} == {
        steps: f for (sampler, steps), f in want.items() if sampler == "euler"}
    assert "shipped with the model" in " ".join(c.value for c in at.caption).lower()


def test_the_page_samples_the_pixel_model_without_tensorflow():
    import subprocess

    code = ("import sys; from streamlit.testing.v1 import AppTest; "
            f"at = AppTest.from_file({str(ROOT / PAGE)!r}, default_timeout=120); "
            "at.query_params['df_model'] = 'pixel'; at.query_params['df_steps'] = '4'; "
            "at.run(); assert not at.exception, at.exception; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip().splitlines()
    assert out[-1] == "False"
    assert df.shipped_path("pixel").exists()
