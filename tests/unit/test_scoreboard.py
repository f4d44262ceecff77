"""genlib.scoreboard: the reference split, per-row figures, the model roster and CSV export."""

import csv
import io

import numpy as np
import pytest

from genlib import registry
from genlib import scoreboard as sb
from genlib.gaussian import ClassConditionalGaussian


@pytest.fixture(scope="module")
def reference(mnist, judge):
    return sb.prepare_reference(mnist, judge)


@pytest.fixture(scope="module")
def rows(mnist, judge, reference):
    """Real digits, class means and the diagonal Gaussian: the fast rows."""
    out = {}
    for name in ("Real held-out digits", "Class means (10 images)", "Gaussian, diagonal"):
        out[name] = sb.score_model(name, sb.load_model(name, mnist), reference, judge,
                                   n_samples=300, seed=0)
    return out


def test_reference_halves_are_disjoint_and_cover_the_held_out_split(mnist, reference):
    """R and B are disjoint halves of the held-out digits (none of them training digits)."""
    r = {a.tobytes() for a in reference.ref_images}
    b = {a.tobytes() for a in reference.real_images}
    assert len(reference.ref_images) + len(reference.real_images) == len(mnist.test)
    assert not r & b
    assert len(r | b) == len({a.tobytes() for a in mnist.test.images})


def test_real_row_takes_a_mix_of_digits_not_a_sorted_prefix(rows):
    """The real row's first samples cover all ten digits (the split itself is sorted by class)."""
    assert rows["Real held-out digits"]["coverage_entropy"] > 0.98 * np.log(10)


def test_real_digits_score_best_and_class_means_worst_on_diversity(rows):
    """Real digits: lowest Frechet distance, diversity and memorisation ~1; means: diversity 0."""
    real, means, diag = (rows[k] for k in ("Real held-out digits", "Class means (10 images)",
                                            "Gaussian, diagonal"))
    assert real["frechet"] < diag["frechet"] and real["frechet"] < means["frechet"]
    assert 0.8 < real["diversity"] < 1.25 and means["diversity"] == 0.0
    assert real["diversity"] > diag["diversity"] > means["diversity"]
    assert 0.85 < real["memorisation_ratio"] < 1.15


def test_real_row_class_consistency_is_the_judge_accuracy(rows, reference, judge):
    """For real digits, class consistency is the judge's accuracy on them: a ceiling."""
    n = rows["Real held-out digits"]["samples_drawn"]
    acc = judge.score(reference.real_images[:n], reference.real_labels[:n])
    assert rows["Real held-out digits"]["class_consistency"] == pytest.approx(acc)


def test_gaussian_likelihood_is_the_exact_held_out_log_density(rows, mnist, reference):
    """A Gaussian row's NLL is minus the mean score_samples on R, and bits/pixel follows."""
    model = ClassConditionalGaussian("diag").fit(mnist.train.images, mnist.train.labels)
    expected = -np.mean(model.score_samples(reference.ref_images))
    row = rows["Gaussian, diagonal"]
    assert row["nll_nats"] == pytest.approx(expected)
    assert row["nll_bits_per_pixel"] == pytest.approx(expected / (784 * np.log(2)))


def test_same_seed_same_row_different_seed_different_samples(mnist, judge, reference):
    """A seed makes a row repeatable; another seed draws other samples."""
    model = sb.load_model("Gaussian, diagonal", mnist)
    a, b, c = (sb.score_model("Gaussian, diagonal", model, reference, judge, 50, s,
                              likelihood=False) for s in (1, 1, 2))
    np.testing.assert_array_equal(a["samples"], b["samples"])
    assert a["frechet"] == b["frechet"]
    assert not np.array_equal(a["samples"], c["samples"])


def test_class_means_are_flagged_as_not_diverse_but_not_as_copies(rows):
    """Ten mean images: perfect consistency, zero diversity, no copying flag."""
    means = rows["Class means (10 images)"]
    assert means["class_consistency"] > 0.95
    assert "copies" not in means["flags"]


def test_a_model_that_copies_training_digits_is_flagged(mnist, judge, reference):
    """Samples that are training digits get a ratio ~0 and a 'copies training digits' flag."""
    copies = mnist.train.images[np.random.default_rng(0).choice(len(mnist.train), 200)]
    ev = sb.evaluate_samples(copies, judge, reference)
    assert ev["memorisation"].ratio < 0.01


def test_compute_scoreboard_reports_progress_and_rows(mnist, judge):
    """compute_scoreboard returns one row per name and calls progress from 0 to 1."""
    calls = []
    names = ["Real held-out digits", "Class means (10 images)"]
    out = sb.compute_scoreboard(mnist, judge, 100, 0, names,
                                progress=lambda f, m: calls.append(f))
    assert [r["model"] for r in out] == names
    assert calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)


def test_unknown_model_and_bad_sample_count_raise_value_errors(mnist, judge, reference):
    """An unknown model name or n_samples = 0 raise clear ValueErrors."""
    with pytest.raises(ValueError, match="unknown model"):
        sb.compute_scoreboard(mnist, judge, 10, 0, ["No such model"])
    with pytest.raises(ValueError, match="n_samples"):
        sb.score_model("Real held-out digits", None, reference, judge, 0)


def test_evaluate_samples_rejects_nan(judge, reference):
    """NaN samples raise a ValueError, not a silent score."""
    with pytest.raises(ValueError, match="NaN"):
        sb.evaluate_samples(np.full((3, 28, 28), np.nan), judge, reference)


def test_available_models_lists_shipped_weights_only_on_the_sample(monkeypatch, tmp_path):
    """VAE/GAN rows need their weight files, and are left out on other datasets."""
    on_sample = sb.available_models("sample")
    assert sb.REFERENCE_ROWS[0] in on_sample and "Gaussian, full covariance" in on_sample
    assert all(sb.MODELS[n].family in ("reference", "Gaussian") for n in
               sb.available_models("keras"))
    monkeypatch.setattr(registry, "_weights_dir", lambda: tmp_path)
    assert not any(sb.MODELS[n].weights for n in sb.available_models("sample"))


def test_model_version_changes_with_the_weights(monkeypatch, tmp_path):
    """A row's version hash follows its weights file's bytes."""
    monkeypatch.setattr(registry, "_weights_dir", lambda: tmp_path)
    name = "VAE, tutorial"
    (tmp_path / sb.MODELS[name].weights[0]).write_bytes(b"one")
    v1 = sb.model_version(name)
    (tmp_path / sb.MODELS[name].weights[0]).write_bytes(b"two")
    assert sb.model_version(name) != v1


def test_csv_has_a_header_and_one_line_per_row(rows):
    """to_csv writes the column keys and one parsable line per row."""
    text = sb.to_csv(list(rows.values()))
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == list(sb.COLUMNS)
    assert [r[0] for r in table[1:]] == list(rows)
    float(table[1][table[0].index("frechet")])


@pytest.mark.parametrize("name", [n for n, s in sb.MODELS.items() if s.weights])
def test_every_shipped_model_row_scores_when_its_weights_exist(name, mnist, judge, reference):
    """Each VAE/GAN row with shipped weights samples and scores through numpy inference."""
    if name not in sb.available_models("sample"):
        pytest.skip(f"{name}: weights not shipped yet")
    row = sb.score_model(name, sb.load_model(name, mnist), reference, judge, 100, 0,
                         likelihood=False)
    assert row["samples_drawn"] == 100 and np.isfinite(row["frechet"])
