"""AppTest behaviour of the Compare Models page: controls, scoreboard, CSV, cached reruns."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from genlib import scoreboard as sb

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/5_Compare_Models.py"
FAST = ["Real held-out digits", "Class means (10 images)", "Gaussian, diagonal"]


def _compute(at, names=FAST, n=100):
    at.multiselect(key="cmp_models").set_value(names)
    at.select_slider(key="cmp_n").set_value(n)
    at.button(key="cmp_go").click().run()
    assert not at.exception, at.exception
    return at


def test_first_render_shows_the_shipped_table_at_once(at):
    """The page opens with the shipped models' table (python -m genlib.scoreboard), no wait."""
    assert at.button(key="cmp_go")
    df = at.dataframe[0].value
    assert list(df["model"]) == sb.available_models("sample")
    assert any("python -m genlib.scoreboard" in c.value for c in at.caption)


def test_shipped_rows_equal_freshly_computed_ones(at):
    """A shipped row is what scoring that model now gives (same data, seed, n)."""
    from genlib import load_mnist
    from genlib.classifier import load_classifier

    mnist, judge = load_mnist("sample"), load_classifier()
    shipped = at.dataframe[0].value.set_index("model")
    name = "Gaussian, diagonal"
    fresh = sb.score_model(name, sb.load_model(name, mnist), sb.prepare_reference(mnist, judge),
                           judge, 1000, 0)
    # the same sums on another CPU's BLAS differ in the last digits (2e-8 relative seen)
    assert shipped.loc[name, "frechet"] == pytest.approx(fresh["frechet"], rel=1e-6)


def test_a_changed_model_is_recomputed_not_taken_from_the_shipped_table(monkeypatch):
    """A row whose model version changed since shipping is scored afresh; the rest are not."""
    real = sb.model_version
    monkeypatch.setattr(sb, "model_version",
                        lambda name: "changed" if name == "Gaussian, diagonal" else real(name))
    from genlib import load_mnist

    ready = sb.load_table(load_mnist("sample"), 1000, 0, True)
    assert "Gaussian, diagonal" not in ready and "Gaussian, full covariance" in ready


def test_a_damaged_shipped_table_falls_back_to_computing(tmp_path, monkeypatch):
    """A table whose bytes do not match its manifest is refused by name; rows are computed."""
    import shutil

    for f in ("scoreboard.npz", "scoreboard.json"):
        shutil.copy(sb._weights_dir() / f, tmp_path / f)
    data = bytearray((tmp_path / "scoreboard.npz").read_bytes())
    data[100] ^= 0xFF
    (tmp_path / "scoreboard.npz").write_bytes(bytes(data))
    from genlib import load_mnist

    with pytest.raises(ValueError, match="damaged or replaced"):
        sb.load_table(load_mnist("sample"), 1000, 0, True, path=tmp_path / "scoreboard.npz")
    import streamlit as st

    monkeypatch.setattr(sb, "SHIPPED_TABLE", str(tmp_path / "scoreboard.npz"))
    st.cache_data.clear()
    try:
        at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120).run()
        assert not at.exception
        assert any("scoreboard" in w.value and "damaged" in w.value for w in at.warning)
        _compute(at)  # the button still scores the rows
        assert list(at.dataframe[0].value["model"]) == FAST
    finally:
        st.cache_data.clear()


def test_scoreboard_has_one_row_per_chosen_model(at):
    """Computing shows a table with exactly the chosen models, in order, and no error."""
    _compute(at)
    df = at.dataframe[0].value
    assert list(df["model"]) == FAST
    assert not at.error


def test_scoreboard_ranks_real_digits_above_class_means(at):
    """Real digits get a lower Frechet distance and higher diversity than the mean images."""
    df = _compute(at).dataframe[0].value.set_index("model")
    real, means = df.loc["Real held-out digits"], df.loc["Class means (10 images)"]
    assert real["frechet"] < means["frechet"]
    assert real["diversity"] > 0.8 > 0.1 > means["diversity"]


def test_csv_export_is_offered(at):
    """A CSV download button appears with the scoreboard."""
    _compute(at)
    assert any(b.proto.label.startswith("Download the scoreboard")
               for b in at.get("download_button"))


def test_recompute_with_same_settings_gives_the_same_table(at):
    """Pressing the button again (served from the cache) gives an identical table."""
    first = _compute(at).dataframe[0].value
    at.button(key="cmp_go").click().run()
    second = at.dataframe[0].value
    cols = [c for c in first.columns if c != "seconds"]
    assert first[cols].equals(second[cols])


def test_no_models_selected_warns_instead_of_failing(at):
    """Computing with no model chosen shows a warning, not an exception."""
    at.multiselect(key="cmp_models").set_value([])
    at.button(key="cmp_go").click().run()
    assert not at.exception
    assert any("at least one model" in w.value for w in at.warning)


def _panel_script(which: str):
    import numpy as np

    import genlib
    from ui import evaluation

    mnist = genlib.load_mnist("sample")
    if which == "copies":
        samples, labels = mnist.train.images[::40], None
    else:
        samples, labels = mnist.test.images[::10], mnist.test.labels[::10]
    evaluation.quality_panel(np.asarray(samples), mnist, key="qp", labels=labels,
                                expanded=True)


def _panel(which: str) -> AppTest:
    at = AppTest.from_function(_panel_script, args=(which,), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def test_quality_panel_shows_figures_for_real_digits_without_warnings():
    """Real held-out digits: all five figures, consistency near 100%, no warning."""
    at = _panel("real")
    labels = [m.label for m in at.metric]
    assert labels == ["Digit coverage", "Asked-for digit", "Judge confidence", "Diversity",
                      "Memorisation ratio"]
    assert float(at.metric[1].value.rstrip("%")) > 90
    assert not at.warning
    assert at.image  # the sample / nearest-training-digit pairs


def test_quality_panel_flags_samples_copied_from_training_digits():
    """Training digits shown as 'samples': ratio 0.00 and a copying warning, no consistency."""
    at = _panel("copies")
    assert "Asked-for digit" not in [m.label for m in at.metric]
    assert at.metric[-1].value == "0.00"
    assert any("copying" in w.value for w in at.warning)


def test_missing_figures_show_a_dash_and_every_row_is_visible(at):
    """No literal 'None' in cells that do not apply, and no inner scroll hiding rows."""
    _compute(at)
    for frame in at.dataframe:
        assert frame.proto.placeholder == "–"
    source = (ROOT / PAGE).read_text()
    assert 'height="content"' in source  # the table grows with its rows (no inner scrollbar)


def test_likelihoods_of_different_kinds_are_never_in_one_table(at):
    """Gaussian (continuous density) and VAE (Bernoulli bound) NLLs sit in separate tables."""
    _compute(at, names=[*FAST, "VAE, tutorial"])
    tables = [t.value for t in at.dataframe[1:]]
    assert len(tables) == 2
    assert all(("VAE" in m) == ("VAE" in t["model"].iloc[0]) for t in tables for m in t["model"])
    captions = " ".join(c.value for c in at.caption)
    assert "can be negative" in captions and "Bernoulli" in captions


def test_a_damaged_judge_is_named_and_the_shipped_table_still_shows(tmp_path, monkeypatch):
    """classifier.npz not matching its manifest: one clear error naming it, no exception."""
    import shutil

    import streamlit as st

    from genlib import classifier

    for f in ("classifier.npz", "classifier.json"):
        shutil.copy(classifier.WEIGHTS_DIR / f, tmp_path / f)
    data = bytearray((tmp_path / "classifier.npz").read_bytes())
    data[200] ^= 0xFF
    (tmp_path / "classifier.npz").write_bytes(bytes(data))
    monkeypatch.setattr(classifier, "WEIGHTS_DIR", tmp_path)
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        at.switch_page(PAGE).run()
    finally:
        st.cache_resource.clear()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "classifier" in message and "damaged" in message
    assert list(at.dataframe[0].value["model"]) == sb.available_models("sample")


@pytest.mark.parametrize("bad", ["inf", "1e400", "9" * 80, "-1", "nan", "٣", "x" * 300])
def test_a_bad_seed_in_the_link_is_named_and_the_rest_kept(bad):
    """?cmp_seed=inf crashed the number input; now it is named, dropped, cmp_n kept."""
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
    at.query_params["cmp_seed"] = bad
    at.query_params["cmp_n"] = "500"
    at.run()
    assert not at.exception
    assert "cmp_seed" in " ".join(w.value for w in at.warning)
    assert at.select_slider(key="cmp_n").value == 500
