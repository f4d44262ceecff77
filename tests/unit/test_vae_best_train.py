"""genlib.vae_best_train: the conv_best VAE's Keras model and loss against numpy, shifts,
early stopping, and the timed, resumable training command."""

import numpy as np
import pytest

from genlib import nn, vae, vae_train
from genlib.vae_best_train import BestVAETrainer, shift_digits
from genlib.vae_prior import gaussian_log_prob

# a small config of the same kind as conv_best, for quick tests
TINY = {**vae.PRESETS["conv_best"], "hidden": 32, "latent_dim": 4, "prior_components": 3,
        "epochs": 50, "warmup_epochs": 2, "patience": 2}


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(vae.PRESETS, "tiny_best", TINY)
    return "tiny_best"


def test_numpy_wide_conv_vae_matches_keras():
    """conv_wide: numpy decode/encode give Keras' outputs to 1e-5 (random weights)."""
    import keras

    config = {k: v for k, v in TINY.items() if k != "epochs"}
    encoder, decoder = vae_train.build_keras(config)
    rng = np.random.default_rng(0)
    for model in (encoder, decoder):
        for w in model.weights:
            w.assign(rng.normal(0, 0.15, w.shape).astype(np.float32))
    weights = vae_train.keras_weights(encoder, decoder, config)
    k, d = TINY["prior_components"], TINY["latent_dim"]
    weights.update({"prior/means": np.zeros((k, d)), "prior/log_vars": np.zeros((k, d)),
                    "prior/logits": np.zeros(k)})
    model = vae.VAE(config, weights)
    z = rng.standard_normal((9, d)).astype(np.float32)
    x = rng.random((9, 28, 28)).astype(np.float32)
    want = keras.ops.convert_to_numpy(keras.ops.sigmoid(decoder(z))).reshape(9, 28, 28)
    np.testing.assert_allclose(model.decode(z), want, atol=1e-5)
    mean, logvar = (keras.ops.convert_to_numpy(a) for a in encoder(x))
    got_mean, got_logvar = model.encode(x)
    np.testing.assert_allclose(got_mean, mean, atol=1e-5 * max(1, np.abs(mean).max()))
    np.testing.assert_allclose(got_logvar, logvar, atol=1e-5 * max(1, np.abs(logvar).max()))


def test_training_loss_is_the_numpy_elbo(mnist, tiny):
    """The Keras loss terms (mixture prior, random prior parameters) equal the numpy VAE's
    reconstruction and log q(z|x) - log p(z) for the same draws of z, to float32 round-off."""
    trainer = BestVAETrainer(mnist.train.images[:400], tiny, seed=0)
    rng = np.random.default_rng(1)
    for var in trainer._prior_vars:
        var.assign(rng.normal(0, 0.7, var.shape).astype(np.float32))
    model = trainer.model(eval_samples=1)
    x = mnist.test.images[:64]
    eps = rng.standard_normal((64, 4)).astype(np.float32)
    recon, kl = (float(v) for v in trainer._eval_step(x, eps))
    mean, logvar = model.encode(x)
    z = mean + np.exp(0.5 * logvar) * eps
    logits = model.decode_logits(z).astype(np.float64)
    want_recon = np.mean(np.sum(nn.softplus(logits) - x.reshape(64, 784) * logits, axis=1))
    want_kl = np.mean(gaussian_log_prob(z, mean, logvar) - model.prior.log_prob(z))
    assert recon == pytest.approx(want_recon, rel=1e-4)
    assert kl == pytest.approx(want_kl, rel=1e-3, abs=1e-3)


def test_shift_digits_moves_each_digit_by_whole_pixels(mnist):
    """Each output is its digit rolled by (dy, dx) in -1..1 (the border is black: no wrap);
    max_shift 0 is the identity."""
    x = mnist.train.images[:60]
    out = shift_digits(x, 1, rng=0)
    assert out.shape == x.shape and out.dtype == np.float32
    shifts = set()
    for a, b in zip(x, out):
        match = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                 if np.array_equal(np.roll(a, (dy, dx), axis=(0, 1)), b)]
        assert match, "not a whole-pixel shift"
        shifts.update(match)
    assert len(shifts) >= 6  # the shifts vary
    np.testing.assert_array_equal(shift_digits(x, 0, rng=0), x)


def test_validation_split_comes_from_the_training_digits(mnist, tiny):
    """10% of the training digits are held back for early stopping; the held-out split is
    only reported."""
    trainer = BestVAETrainer(mnist, tiny)
    assert len(trainer.x_val) == 400 and len(trainer.x_fit) == 3600
    train_rows = {r.tobytes() for r in mnist.train.images}
    assert all(v.tobytes() in train_rows for v in trainer.x_val[:50])
    assert trainer.steps_per_epoch == 36


def test_kl_weight_warms_up_then_stays_one(mnist, tiny):
    """The KL weight rises linearly over warmup_epochs, then is 1."""
    trainer = BestVAETrainer(mnist.train.images[:400], tiny)
    assert [trainer._beta_now(e) for e in (1, 2, 3, 10)] == [0.5, 1.0, 1.0, 1.0]


def test_training_stops_when_validation_stops_improving(mnist, tiny, monkeypatch):
    """With the validation -ELBO stuck, the learning rate halves and training stops after
    `patience` epochs; the model kept is the best epoch's."""
    trainer = BestVAETrainer(mnist.train.images[:500], tiny)
    losses = iter([300.0, 200.0, 250.0, 260.0, 270.0, 280.0])
    monkeypatch.setattr(trainer, "_val_loss", lambda: next(losses))
    trainer.train(10 * trainer.steps_per_epoch)
    # epoch 1 is in the warm-up (KL weight 0.5): not a candidate; 2 is the best; 3, 4 worse
    assert trainer.converged and trainer.epoch == 4
    assert trainer.best["epoch"] == 2 and trainer.best["val_loss"] == 200.0
    assert trainer.history[-1]["learning_rate"] == pytest.approx(TINY["learning_rate"] / 4)
    assert trainer.model(eval_samples=1).manifest["best_epoch"] == 2


def test_command_trains_then_resumes(tmp_path, tiny):
    """`genlib.train vae --preset ... --max-steps` saves; `--resume` continues its history."""
    out = tmp_path / "best.npz"
    vae_train.cli(["--preset", tiny, "--max-steps", "72", "--output", str(out), "--quiet"])
    first = vae.VAE.load(out)
    assert first.manifest["epochs"] == 2 and first.learned_prior is not None
    assert np.isfinite(first.manifest["test_negative_elbo"])
    vae_train.cli(["--preset", tiny, "--max-steps", "36", "--output", str(out), "--quiet",
                   "--resume"])
    second = vae.VAE.load(out)
    assert second.manifest["epochs"] == 3 and second.manifest["steps"] == 108
    assert [r["epoch"] for r in second.history] == [1, 2, 3]


def test_command_rejects_bad_minutes(tmp_path, tiny):
    """--minutes must be positive; --latent-dim is not for the timed trainer."""
    with pytest.raises(ValueError, match="minutes"):
        vae_train.cli(["--preset", tiny, "--minutes", "0", "--output", str(tmp_path / "a")])
    with pytest.raises(ValueError, match="latent-dim"):
        vae_train.cli(["--preset", tiny, "--latent-dim", "3", "--output", str(tmp_path / "a")])
