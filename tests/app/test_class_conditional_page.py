"""AppTest behaviour of the class-conditional sampling page (widgets found by key)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/2_Class_Conditional_Sampling.py"


def images(at) -> list[str]:
    """The media URL of every image: it is a hash of the image, so equal URLs mean equal images."""
    return [i.url for img in at.image for i in img.proto.imgs]


def caption_text(at) -> str:
    return " ".join(c.value for c in at.caption)


def image_captions(at) -> str:
    return " ".join(i.caption for img in at.image for i in img.proto.imgs)


def test_page_shows_mean_samples_grids_and_accuracy(at):
    """First render: mean, samples, class grids, training grid and a plausible accuracy."""
    assert len(at.image) >= 7
    assert at.get("download_button")
    metric = next(m for m in at.metric if m.label == "Held-out accuracy")
    accuracy = float(metric.value.rstrip("%"))
    assert 80 < accuracy <= 100  # full-covariance Gaussians classify the sample's digits well
    assert not at.error


def test_resample_changes_samples_and_seed_repeats_them(at):
    """Resample draws new samples; the same seed and draw count give the same images."""
    first = images(at)[1]
    at.button(key="cc_resample").click().run()
    second = images(at)[1]
    assert second != first
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    again.switch_page(PAGE).run()
    assert images(again)[1] == first  # a fresh session with seed 0 repeats the first draw
    at.number_input(key="cc_seed").set_value(7).run()
    assert images(at)[1] not in (first, second)


def test_picking_a_digit_changes_mean_image(at):
    """Choosing another digit shows that digit's mean and names it in the caption."""
    before = images(at)[0]
    at.segmented_control(key="cc_digit").set_value(8).run()
    assert images(at)[0] != before
    assert "Mean of the 8s" in image_captions(at)


def test_dropping_a_class_lowers_its_learned_prior(at):
    """Dropping 90% of the 5s leaves a tenth of them and the text reports the smaller p(y)."""
    at.selectbox(key="cc_drop_digit").set_value(5).run()
    at.slider(key="cc_drop_share").set_value(90).run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "**40** 5s of 3,640 digits" in text
    assert "p(y = 5) = 0.011" in text


@pytest.mark.parametrize("cov", ["diag", "pca"])
def test_other_covariance_models_render(at, cov):
    """Diagonal and PCA models fit and render without error; the caption explains them."""
    at.radio(key="cc_cov").set_value(cov).run()
    assert not at.exception and not at.error
    expected = {"diag": "naive Bayes", "pca": "main ways a class varies"}[cov]
    assert expected in caption_text(at)


def test_mixture_shows_component_means_beside_samples(at):
    """With two components per class, the samples come with their components' means."""
    at.radio(key="cc_cov").set_value("diag").run()
    at.slider(key="cc_components").set_value(2).run()
    assert not at.exception and not at.error
    assert "the mean of the component it came from" in image_captions(at)


def test_typical_digits_follow_chosen_class(at):
    """Choosing a class for the typicality grids swaps both grids."""
    before = images(at)
    at.selectbox(key="cc_typical").set_value(1).run()
    after = images(at)
    assert len(set(after) - set(before)) >= 2
    assert not at.error


def test_charts_are_the_prior_bars_and_the_confusion_matrix(at):
    """The prior tab's grouped bars and the classifier tab's confusion matrix are drawn."""
    import json

    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert len(specs) == 2
    prior, confusion = specs
    assert prior["encoding"]["y"]["title"] == "probability / share of 1,000"
    assert prior["encoding"]["color"]["scale"]["domain"] == [
        "p(y), learned", "labels drawn from it", "labels drawn uniformly"]
    assert confusion["title"].startswith("Confusion matrix")
    assert [layer["mark"]["type"] for layer in confusion["layer"]] == ["rect", "text"]


def test_quality_figures_match_the_scoreboard():
    """The panel computes only the figures it shows, and they are scoreboard.evaluate_samples'."""
    import numpy as np

    from genlib import scoreboard
    from genlib.data import load_mnist
    from genlib.gaussian import ClassConditionalGaussian
    from ui import evaluation

    mnist = load_mnist("sample")
    images, labels = ClassConditionalGaussian("diag").fit(
        mnist.train.images, mnist.train.labels).sample(40, rng=0)
    key = evaluation.dataset_key(mnist)
    ours = evaluation._evaluate.__wrapped__(images, labels, key, mnist.kind, mnist)
    judge, _ = evaluation.load_judge(mnist.kind)
    ref = evaluation.load_reference(key, mnist.kind, mnist)
    ev = scoreboard.evaluate_samples(images, judge, ref, labels, n_compare=40)
    assert ours["n"] == ev["n"] and ours["entropy"] == ev["digits"].entropy
    np.testing.assert_array_equal(ours["shares"], ev["digits"].shares)
    for name in ("consistency", "confidence", "diversity"):
        assert ours[name] == pytest.approx(ev[name], rel=1e-12), name
    assert ours["ratio"] == ev["memorisation"].ratio
    np.testing.assert_array_equal(ours["nn_index"], ev["memorisation"].index)
    np.testing.assert_array_equal(ours["nn_distance"], ev["memorisation"].distance)


def _open(query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


@pytest.mark.parametrize("bad", ["inf", "1e400", "9" * 80, "-3", "nan", "٣", "x" * 500])
def test_a_bad_link_value_is_named_and_the_rest_of_the_link_kept(bad):
    """?cc_seed=inf crashed the page on every reload; now it is named, dropped, others kept."""
    at = _open({"cc_seed": bad, "cc_digit": "5", "cc_rank": "30"})
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "cc_seed" in warning
    assert at.number_input(key="cc_seed").value == 0
    assert at.query_params.get("cc_digit") == "5" and at.query_params.get("cc_rank") == "30"
    assert at.slider(key="cc_rank").value == 30


def test_the_link_names_the_covariance_by_its_key_not_its_label():
    """?cc_cov=pca opens the PCA model, and choosing it writes cc_cov=pca, not the label."""
    at = _open({"cc_cov": "pca"})
    assert at.radio(key="cc_cov").value == "pca" and not at.warning
    at.radio(key="cc_cov").set_value("diag").run()
    assert at.query_params.get("cc_cov") == "diag"
    at.radio(key="cc_cov").set_value("full").run()
    assert "cc_cov" not in at.query_params


def test_a_ridge_written_as_a_decimal_is_understood():
    """?cc_reg=0.01 is the same ridge as the slider's label 1e-02."""
    at = _open({"cc_reg": "0.01"})
    assert at.select_slider(key="cc_reg").value == 0.01 and not at.warning
