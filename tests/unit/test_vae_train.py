"""genlib.vae_train: the Keras models match the numpy VAE, training, the trainer, the command."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genlib import vae, vae_train
from genlib.protocol import Trainer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample():
    from genlib import load_mnist

    return load_mnist("sample")


# ----------------------------------------------------------------------------- numpy vs Keras


def _random_weights(encoder, decoder, config, seed=0):
    """Give every Keras weight (biases too) a random value, so the comparison covers it."""
    rng = np.random.default_rng(seed)
    for model in (encoder, decoder):
        for w in model.weights:
            w.assign(rng.normal(0, 0.15, w.shape).astype(np.float32))
    return vae_train.keras_weights(encoder, decoder, config)


@pytest.mark.parametrize("preset", ["tutorial", "conv"])
def test_numpy_decoder_and_encoder_match_keras(preset):
    """The numpy forward passes give Keras' outputs to 1e-5 (random weights, biases included)."""
    import keras

    config = {k: v for k, v in vae.PRESETS[preset].items() if k != "epochs"}
    config["latent_dim"] = 6
    encoder, decoder = vae_train.build_keras(config)
    model = vae.VAE(config, _random_weights(encoder, decoder, config))
    rng = np.random.default_rng(1)
    z = rng.standard_normal((9, 6)).astype(np.float32)
    x = rng.random((9, 28, 28)).astype(np.float32)
    want = keras.ops.convert_to_numpy(keras.ops.sigmoid(decoder(z))).reshape(9, 28, 28)
    np.testing.assert_allclose(model.decode(z), want, atol=1e-5)
    mean, logvar = (keras.ops.convert_to_numpy(a) for a in encoder(x))
    got_mean, got_logvar = model.encode(x)
    np.testing.assert_allclose(got_mean, mean, atol=1e-5 * max(1, np.abs(mean).max()))
    np.testing.assert_allclose(got_logvar, logvar, atol=1e-5 * max(1, np.abs(logvar).max()))


# ----------------------------------------------------------------------------- training


def test_short_training_lowers_loss_and_terms_add_up(sample):
    """Three tiny epochs: the loss falls, and every report has loss == recon + beta * KL."""
    reports = []
    model = vae_train.train(sample.train.images[:1000], preset="tutorial", epochs=3,
                            beta=0.5, callback=reports.append)
    losses = [row["loss"] for row in model.history]
    assert losses[-1] < losses[0]
    assert reports and all(r["loss"] == pytest.approx(r["recon"] + 0.5 * r["kl"])
                           for r in reports)
    assert reports[-1]["epoch"] == 3 and reports[-1]["step"] == reports[-1]["steps"] == 10


def test_callback_returning_false_stops_training(sample):
    """A callback returning False (the page's Cancel) ends training after that report."""
    model = vae_train.train(sample.train.images[:1000], preset="tutorial", epochs=5,
                            callback=lambda p: False)
    assert model.manifest["stopped_early"] and model.manifest["steps"] == 10


def test_training_command_retrains_a_preset_to_an_output(tmp_path):
    """`python -m genlib.train vae` for a few steps writes a loadable .npz + manifest."""
    out = tmp_path / "w" / "vae_tutorial.npz"
    vae_train.cli(["--preset", "tutorial", "--latent-dim", "3", "--epochs", "1",
                   "--max-steps", "4", "--output", str(out), "--quiet"])
    model = vae.load_model("tutorial", path=out, fallback=False)
    assert model.latent_dim == 3 and model.manifest["steps"] == 4
    assert model.manifest["data_source"].startswith("MNIST sample")
    assert np.isfinite(model.manifest["test_negative_elbo"])


def test_manifest_records_training_with_the_unified_keys(sample):
    """A trained model's manifest: family, preset, data source and kind, train_seconds, date."""
    model = vae_train.train(sample, preset="tutorial", epochs=1, max_steps=3, eval_samples=1)
    m = model.manifest
    assert m["family"] == "vae" and m["preset"] == "tutorial"
    assert m["data_source"].startswith("MNIST sample") and m["data_kind"] == "sample"
    assert m["train_seconds"] > 0 and m["date"] and m["steps"] == 3 and m["epochs"] == 1
    assert np.isfinite(m["test_negative_elbo"]) and "seconds" not in m


def test_trainer_follows_the_trainer_protocol(sample):
    """VAETrainer: train(steps) crosses epochs, train_for(seconds), snapshot() is numpy-only."""
    trainer = vae_train.VAETrainer(sample.train.images[:1000], preset="tutorial", seed=1)
    assert isinstance(trainer, Trainer) and trainer.steps_per_epoch == 10
    assert trainer.train(15) == 15 and (trainer.step, trainer.epoch) == (15, 2)
    snap = trainer.snapshot()
    assert [row["epoch"] for row in snap["history"]] == [1] and np.isfinite(snap["loss"])
    snap["history"].clear()  # a copy: the trainer's own history is untouched
    assert len(trainer.history) == 1
    done = trainer.train_for(0.01, max_steps=3)
    assert 1 <= done <= 3 and trainer.step == 15 + done
    model = trainer.model(eval_samples=1)  # closes the partial epoch
    assert [row["epoch"] for row in model.history] == [1, 2]
    assert model.manifest["steps"] == trainer.step


def test_seeded_training_is_repeatable(sample):
    """Two runs with the same seed give the same weights (as the shipped files were made)."""
    a, b = (vae_train.train(sample.train.images[:1000], preset="tutorial", epochs=1, seed=4)
            for _ in range(2))
    for k, v in a.weights.items():
        np.testing.assert_array_equal(b.weights[k], v)


def test_resolve_beta_reads_numbers_and_the_tutorial_word():
    """'tutorial' is TUTORIAL_BETA; numbers pass; out-of-range or words are clear errors."""
    assert vae_train.resolve_beta("tutorial") == vae.TUTORIAL_BETA
    assert vae_train.resolve_beta("0.5") == 0.5
    for bad in ("lots", -1, 1000, float("nan")):
        with pytest.raises(ValueError, match="beta"):
            vae_train.resolve_beta(bad)


def test_train_command_dispatches_to_vae_train(tmp_path):
    """`python -m genlib.train vae` (a subprocess, as a user runs it) trains and saves."""
    out = tmp_path / "cli.npz"
    run = subprocess.run([sys.executable, "-m", "genlib.train", "vae", "--preset", "tutorial",
                          "--epochs", "1", "--max-steps", "2", "--output", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "saved" in run.stdout and out.is_file() and out.with_suffix(".json").is_file()
