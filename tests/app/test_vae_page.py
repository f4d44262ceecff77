"""AppTest behaviour of the VAE latent-space page: sliders, jumps, fallbacks, no TensorFlow."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from genlib import vae

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/3_VAE_Latent_Space.py"


def _open(query: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    if query:
        at.query_params["model"] = query
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _digit(at: AppTest) -> bytes:
    """The PNG of the big decoded digit (the image captioned as the decoder's image)."""
    for img in at.image:
        if img.proto.imgs and "decoder's image" in img.proto.imgs[0].caption:
            return img.proto.imgs[0].url  # a media URL keyed by the image's content hash
    raise AssertionError("decoded digit not found")


def _grid(at: AppTest) -> str:
    """The media URL (keyed by content) of the latent grid image."""
    for img in at.image:
        if img.proto.imgs and img.proto.imgs[0].caption.startswith("Decoded over"):
            return img.proto.imgs[0].url
    raise AssertionError("latent grid not found")


@pytest.fixture(scope="module")
def at():
    return _open()


def test_page_opens_with_one_slider_per_latent_dim(at):
    """The default (conv) model shows one slider per latent dimension and no error."""
    d = vae.load_model("conv").latent_dim
    assert len([s for s in at.slider if s.key.startswith("vae_z_conv_")]) == d
    assert not at.error


def test_moving_a_slider_changes_the_decoded_digit(at):
    """Setting z1 to 2.5 re-renders a different digit image."""
    before = _digit(at)
    at.slider(key="vae_z_conv_0").set_value(2.5).run()
    assert not at.exception
    assert _digit(at) != before


def test_the_grid_follows_the_other_sliders_and_frames_its_own(at):
    """A slider off the grid redraws it; one of its two dims moves the frame, within a cell
    nothing changes (the grid is kept by what it depends on, never shown stale)."""
    i, j = at.selectbox(key="vae_gx_conv").value, at.selectbox(key="vae_gy_conv").value
    other = next(k for k in range(vae.load_model("conv").latent_dim) if k not in (i, j))
    at.slider(key=f"vae_z_conv_{i}").set_value(0.0).run()
    first, was = _grid(at), at.slider(key=f"vae_z_conv_{other}").value
    at.slider(key=f"vae_z_conv_{other}").set_value(1.5 if was != 1.5 else -1.5).run()
    redrawn = _grid(at)
    assert redrawn != first
    at.slider(key=f"vae_z_conv_{i}").set_value(2.0).run()
    framed = _grid(at)
    assert framed not in (first, redrawn)
    at.slider(key=f"vae_z_conv_{i}").set_value(1.95).run()  # the same cell (1.8 +/- 0.3)
    assert _grid(at) == framed
    at.slider(key=f"vae_z_conv_{other}").set_value(was).run()
    at.slider(key=f"vae_z_conv_{i}").set_value(0.0).run()
    assert _grid(at) == first and not at.exception


def test_jump_to_class_sets_sliders_to_the_class_mean(at):
    """Choosing 3 puts every slider at the mean encoding of the training 3s."""
    from genlib import load_mnist

    mnist = load_mnist("sample")
    model = vae.load_model("conv")
    want = vae.class_means(model.encode(mnist.train.images)[0], mnist.train.labels)[3]
    at.segmented_control(key="vae_jump").set_value(3).run()
    got = [at.slider(key=f"vae_z_conv_{i}").value for i in range(model.latent_dim)]
    np.testing.assert_allclose(got, np.clip(want, -3, 3), atol=0.006)


def test_reset_puts_every_slider_at_zero(at):
    """Reset returns the latent point to the prior mean."""
    at.button(key="vae_reset").click().run()
    assert all(s.value == 0 for s in at.slider if s.key.startswith("vae_z_conv_"))


def test_tutorial_model_from_the_link_has_four_sliders():
    """?model=tutorial opens the tutorial VAE: four sliders."""
    at = _open("tutorial")
    assert len([s for s in at.slider if s.key.startswith("vae_z_tutorial_")]) == 4


def test_corrupt_retrained_weights_warn_and_fall_back(tmp_path, monkeypatch):
    """A corrupt file in the cache dir: a clear warning, the shipped model, no exception."""
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path))
    mine = vae.user_weights_path("tutorial")
    mine.parent.mkdir(parents=True)
    shutil.copy(vae.shipped_path("tutorial").with_suffix(".json"), mine.with_suffix(".json"))
    mine.write_bytes(b"PK\x03\x04 truncated")
    at = _open("tutorial")
    at.toggle(key="vae_mine_tutorial").set_value(True).run()
    assert not at.exception
    assert any("shipped" in w.value and "vae_tutorial.npz" in w.value for w in at.warning)
    assert len([s for s in at.slider if s.key.startswith("vae_z_tutorial_")]) == 4


def _damage(path: Path, how: str) -> None:
    if how == "one byte changed":  # the hash check catches it
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:  # an unreadable manifest
        path.with_suffix(".json").write_text("{ not json")


@pytest.mark.parametrize("how", ["one byte changed", "manifest unreadable"])
def test_damaged_shipped_weights_name_the_file_and_the_page_carries_on(tmp_path, monkeypatch,
                                                                        how):
    """The default model's shipped file damaged (in a copy of the weights folder): a message
    naming the file, no exception, retraining offered, and the other models still open."""
    weights = tmp_path / "weights"
    weights.mkdir()
    for stem in vae.SHIPPED.values():
        for suffix in (".npz", ".json"):
            shutil.copy(vae.WEIGHTS_DIR / f"{stem}{suffix}", weights)
    _damage(weights / "vae_conv.npz", how)
    monkeypatch.setattr(vae, "WEIGHTS_DIR", weights)
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    at = _open()
    message = " ".join(e.value for e in at.error)
    assert "vae_conv" in message and "damaged or unreadable" in message, message
    assert "Tutorial: dense, 4-D latent" in message  # what still works
    assert not [s for s in at.slider if s.key.startswith("vae_z_conv_")]
    assert at.button(key="vae_t_go") is not None
    at.selectbox(key="vae_model").set_value("tutorial").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len([s for s in at.slider if s.key.startswith("vae_z_tutorial_")]) == 4


def test_page_never_imports_tensorflow():
    """Opening the page and moving a slider happens without importing TensorFlow or Keras."""
    code = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=120).run()
at.switch_page({PAGE!r}).run()
at.slider(key="vae_z_conv_1").set_value(-1.0).run()
assert not at.exception, at.exception
print("TF", "tensorflow" in sys.modules or "keras" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**__import__("os").environ})
    assert "TF False" in out.stdout, out.stdout + out.stderr


def test_retraining_saves_to_the_cache_dir_and_shows_the_new_model(tmp_path, monkeypatch):
    """Train (tutorial, 1 epoch) writes .npz + .json under the cache dir and switches to it."""
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path))
    shipped = vae.shipped_path("tutorial").read_bytes()
    at = _open("tutorial")
    at.selectbox(key="vae_t_preset").set_value("tutorial")
    at.number_input(key="vae_t_epochs").set_value(1)
    at.button(key="vae_t_go").click().run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    mine = vae.user_weights_path("tutorial")
    assert mine.is_file() and mine.with_suffix(".json").is_file()
    assert str(mine).startswith(str(tmp_path))
    assert vae.shipped_path("tutorial").read_bytes() == shipped
    assert at.toggle(key="vae_mine_tutorial").value is True
    assert vae.load_model("tutorial", mine, fallback=False).manifest["epochs"] == 1


def _infos(at) -> str:
    return " ".join(i.value for i in at.info)


def test_small_kl_explanation_only_for_a_small_kl_model():
    """The 'small KL weight' note appears for the tiny-KL model, never for a beta = 1 model."""
    assert "small KL weight" not in _infos(_open("tutorial"))
    assert "small KL weight" not in _infos(_open("conv"))
    assert "small KL weight" in _infos(_open("tutorial-small-kl"))


def test_latent_size_is_disabled_for_the_tutorial_preset():
    """The tutorial preset's latent is 4-D: its latent-size slider cannot be moved."""
    at = _open("conv")
    at.selectbox(key="vae_t_preset").set_value("tutorial").run()
    assert at.slider(key="vae_t_latent").disabled
    at.selectbox(key="vae_t_preset").set_value("conv").run()
    assert not at.slider(key="vae_t_latent").disabled


def test_switching_to_a_retrained_model_logs_no_session_state_warning(caplog):
    """Selecting the model through session state (after a retrain) warns nothing."""
    at = _open("conv")
    at.session_state["vae_trained"] = "tutorial"
    with caplog.at_level("WARNING"):
        at.run()
    assert not at.exception
    assert at.selectbox(key="vae_model").value == "tutorial"
    assert not [r for r in caplog.records if "Session State" in r.getMessage()]


def test_a_bad_model_in_the_link_is_named_and_the_default_shown():
    """?model=nonsense: a warning names it and the convolutional model opens."""
    at = _open("nonsense")
    assert "model" in " ".join(w.value for w in at.warning)
    assert at.selectbox(key="vae_model").value == "conv"


def test_slider_order_is_explained(at):
    """The caption under the sliders says why z-dimensions come in this order."""
    assert any("in order of how much" in c.value for c in at.caption)


def test_learned_prior_samples_come_from_the_latent_flow_and_score_better(at):
    """The conv model's samples tab offers the latent flow as a learned prior: its grid is
    that model's samples, and the judge finds them closer to real digits than N(0, I)'s."""
    from genlib import diffusion, metrics
    from genlib.classifier import load_classifier

    prior = at.radio(key="vae_prior")
    assert prior.value is False
    own = next(i for i in at.image if "z ~ N(0, I)" in i.proto.imgs[0].caption)
    prior.set_value(True).run()
    assert not at.exception, at.exception
    learned = next(i for i in at.image if "learned prior" in i.proto.imgs[0].caption)
    assert learned.proto.imgs[0].url != own.proto.imgs[0].url
    flow = diffusion.DiffusionModel.load_pretrained("latent").sample(400, rng=1, digit="all")
    plain = vae.load_model("conv").sample(400, rng=1)
    from genlib import load_mnist

    judge, real = load_classifier(), load_mnist("sample").test.images[:400]
    fd = [metrics.frechet_distance(judge.features(real), judge.features(x.images))
          for x in (flow, plain)]
    assert fd[0] < fd[1], fd


@pytest.mark.skipif("conv_best" not in vae.SHIPPED or not vae.shipped_path("conv_best").exists(),
                    reason="not trained yet")
def test_best_preset_shows_its_learned_prior_and_n01():
    """?model=conv_best: the samples tab shows the learned mixture prior's draws first, and
    N(0, I)'s through the same decoder when chosen; the judge prefers the learned prior's."""
    from genlib import metrics
    from genlib.classifier import load_classifier

    at = _open("conv_best")
    assert not at.error
    model = vae.load_model("conv_best")
    assert len([s for s in at.slider if s.key.startswith("vae_z_conv_best_")]) \
        == model.latent_dim
    prior = at.radio(key="vae_own_prior")
    assert prior.value == "model"
    learned = next(i for i in at.image if "learned prior" in i.proto.imgs[0].caption)
    prior.set_value("standard").run()
    assert not at.exception, at.exception
    plain = next(i for i in at.image if "z ~ N(0, I)" in i.proto.imgs[0].caption)
    assert learned.proto.imgs[0].url != plain.proto.imgs[0].url
    assert any("learned mixture" in m.value for m in at.markdown)
    from genlib import load_mnist

    judge, real = load_classifier(), load_mnist("sample").test.images[:400]
    fd = [metrics.frechet_distance(judge.features(real),
                                   judge.features(model.sample(400, rng=1, prior=p).images))
          for p in ("model", "standard")]
    assert fd[0] < fd[1], fd
