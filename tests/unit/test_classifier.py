"""genlib.classifier (the judge's shipped weights, numpy inference, its checkpoint) and
genlib.classifier_train (Keras training)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genlib import checkpoints, classifier, classifier_train, nn
from genlib.classifier import Classifier, load_classifier

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_judge_reaches_96_percent_on_held_out_digits(mnist, judge):
    """Numpy inference on the shipped weights labels >= 96% of the sample's test split right."""
    assert judge.score(mnist.test.images, mnist.test.labels) >= 0.96


def test_manifest_records_the_measured_accuracy_and_provenance(mnist, judge):
    """The manifest's held-out accuracy is the one measured now, with source, epochs, seed, date."""
    measured = judge.score(mnist.test.images, mnist.test.labels)
    assert judge.accuracy == pytest.approx(measured, abs=1e-3)
    m = judge.manifest
    assert m["data_kind"] == "sample" and m["n_train"] == len(mnist.train)
    assert {"data_source", "epochs", "seed", "date", "sha256"} <= set(m)


def test_shipped_weights_are_small():
    """The shipped weights file stays under 2 MB."""
    assert classifier.shipped_weights_path().stat().st_size < 2_000_000


def test_outputs_have_documented_shapes_and_dtypes(mnist, judge):
    """predict -> int64 (n,), predict_proba -> rows summing to 1, features -> float32 (n, 128)."""
    x = mnist.test.images[:37]
    assert judge.predict(x).dtype == np.int64 and judge.predict(x).shape == (37,)
    p = judge.predict_proba(x)
    assert p.shape == (37, 10)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    f = judge.features(x)
    assert f.dtype == np.float32 and f.shape == (37, classifier.N_FEATURES)
    labels, proba, feats = judge.predict_all(x)
    np.testing.assert_array_equal(labels, judge.predict(x))
    np.testing.assert_allclose(proba, p, rtol=1e-6)
    np.testing.assert_array_equal(feats, f)


def test_numpy_inference_matches_keras(mnist, judge):
    """The numpy forward pass equals the Keras model built from the same weights to 1e-5."""
    pytest.importorskip("keras")
    model = classifier_train.build_keras_model(judge.weights)
    x = mnist.test.images[:300]
    keras_logits = np.asarray(model(x[..., None], training=False))
    np.testing.assert_allclose(judge.logits(x), keras_logits, atol=1e-5, rtol=1e-5)


def test_numpy_inference_is_nn_forward_of_the_spec(mnist, judge):
    """The judge's fused pass (bias and ReLU after the pool) equals nn.forward over SPEC."""
    x = mnist.test.images[:50]
    want = nn.forward(classifier.SPEC, judge.weights, x[..., None])
    np.testing.assert_allclose(judge.logits(x), want, atol=1e-5, rtol=1e-5)


def test_importing_the_judge_does_not_import_tensorflow():
    """Loading the judge and predicting needs numpy only."""
    code = ("import sys, numpy as np; from genlib.classifier import load_classifier; "
            "load_classifier().predict(np.zeros((2, 28, 28))); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_corrupt_weights_file_raises_clear_value_error(tmp_path):
    """A weights file of garbage bytes raises ValueError naming the file."""
    path = tmp_path / "judge.npz"
    path.write_bytes(b"this is not an npz archive")
    with pytest.raises(ValueError, match="judge.npz"):
        load_classifier(path)


def test_weights_that_do_not_match_their_manifest_are_rejected(tmp_path, judge):
    """Weights whose SHA-256 differs from the manifest's raise ValueError."""
    path = tmp_path / "judge.npz"
    judge.save(path, {"test_accuracy": 0.5})
    manifest = json.loads(path.with_suffix(".json").read_text())
    manifest["sha256"] = "0" * 64
    path.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="judge.npz: damaged or replaced.*SHA-256"):
        load_classifier(path)


def test_weights_with_a_wrong_shape_are_rejected(tmp_path, judge):
    """An archive with a mis-shaped layer raises ValueError naming the layer."""
    path = tmp_path / "judge.npz"
    weights = dict(judge.weights)
    weights["dense1/kernel"] = weights["dense1/kernel"][:10]
    checkpoints.write(path, weights, {"family": "classifier"})  # a valid file, a wrong shape
    with pytest.raises(ValueError, match="judge.npz.*dense1/kernel"):
        load_classifier(path)


def test_missing_weights_file_tells_how_to_train(tmp_path):
    """A missing weights file raises ValueError that names the training command."""
    with pytest.raises(ValueError, match="genlib.train classifier"):
        load_classifier(tmp_path / "nope.npz")


def test_save_then_load_round_trips(tmp_path, judge):
    """save writes an .npz + manifest that Classifier.load reads back identically."""
    path = tmp_path / "sub" / "judge.npz"
    Classifier(judge.weights, judge.manifest).save(path, {"test_accuracy": 0.9})
    back = Classifier.load(path)
    for k, v in judge.weights.items():
        np.testing.assert_array_equal(back.weights[k], v)
    assert back.accuracy == 0.9 and back.manifest["family"] == "classifier"
    assert back.manifest["data_source"] == judge.manifest["data_source"]
    assert not list(path.parent.glob("*.tmp"))


def test_checkpoint_goes_through_the_one_checkpoint_module(tmp_path, judge):
    """A saved judge is a genlib.checkpoints file of family "classifier"; another family's
    checkpoint is refused by name."""
    path = tmp_path / "judge.npz"
    judge.save(path)
    manifest, arrays = checkpoints.read(path, "classifier")
    assert manifest["preset"] == "judge" and set(arrays) == set(classifier.SHAPES)
    other = tmp_path / "vae.npz"
    checkpoints.write(other, judge.weights, {"family": "vae"})
    with pytest.raises(ValueError, match="vae.json.*not a 'classifier'"):
        Classifier.load(other)


def test_shipped_manifest_names_its_family_and_keeps_its_hash():
    """The shipped manifest says family "classifier" and still matches the shipped .npz."""
    manifest, _ = checkpoints.read(classifier.shipped_weights_path(), "classifier")
    assert manifest["family"] == "classifier" and manifest["preset"] == "judge"


def test_load_pretrained_is_the_shipped_judge(judge):
    """Classifier.load_pretrained() loads the shipped weights; an unknown preset is refused."""
    back = Classifier.load_pretrained()
    np.testing.assert_array_equal(back.weights["logits/bias"], judge.weights["logits/bias"])
    with pytest.raises(ValueError, match="unknown classifier preset"):
        Classifier.load_pretrained("big")


def test_judge_for_falls_back_to_the_shipped_judge(tmp_path, monkeypatch):
    """No judge trained on a kind, or a broken one: judge_for returns the shipped judge."""
    monkeypatch.setattr(classifier, "user_weights_path", lambda kind: tmp_path / f"c_{kind}.npz")
    assert classifier.judge_for("keras")[1] == classifier.shipped_weights_path()
    (tmp_path / "c_keras.npz").write_bytes(b"broken")
    assert classifier.judge_for("keras")[1] == classifier.shipped_weights_path()


def test_shift_images_moves_digits_without_changing_them():
    """Random shifts keep the image content (zero-filled edges) and max_shift=0 is identity."""
    x = np.zeros((50, 28, 28), np.float32)
    x[:, 10:18, 10:18] = np.random.default_rng(0).random((50, 8, 8))
    shifted = classifier_train.shift_images(x, rng=1, max_shift=2)
    np.testing.assert_allclose(shifted.sum((1, 2)), x.sum((1, 2)), rtol=1e-5)
    np.testing.assert_array_equal(classifier_train.shift_images(x, rng=1, max_shift=0), x)


def test_training_learns_something_quickly(mnist):
    """Two short epochs of Keras training on 1,000 digits already beat chance by far."""
    pytest.importorskip("keras")
    # the split is sorted by class, so a stride (not a prefix) keeps all ten digits
    clf = classifier_train.train(mnist.train.images[::4], mnist.train.labels[::4], epochs=2,
                           batch_size=50, seed=0, log=lambda *_: None)
    assert isinstance(clf, Classifier)
    assert clf.score(mnist.test.images, mnist.test.labels) > 0.5


def test_training_command_saves_a_checkpoint(tmp_path):
    """``python -m genlib.train classifier`` trains and writes a loadable checkpoint."""
    pytest.importorskip("keras")
    out = tmp_path / "judge.npz"
    subprocess.run([sys.executable, "-m", "genlib.train", "classifier", "--epochs", "1",
                    "--out", str(out)], cwd=ROOT, check=True, timeout=600, capture_output=True)
    back = Classifier.load(out)
    assert back.manifest["family"] == "classifier" and back.manifest["epochs"] == 1
    assert {"data_source", "data_kind", "train_seconds", "date", "sha256"} <= set(back.manifest)
