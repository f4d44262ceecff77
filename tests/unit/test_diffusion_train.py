"""genlib.diffusion_train: numpy forward pass vs Keras, training, resuming, the command."""

import numpy as np
import pytest

from genlib import diffusion as df
from genlib import nn
from genlib.protocol import Trainer


@pytest.fixture(scope="module")
def trainer(mnist):
    from genlib.diffusion_train import DiffusionTrainer

    t = DiffusionTrainer("latent", mnist=mnist, seed=3, hidden=32, layers=2)
    t.train(250)
    return t


def test_numpy_denoiser_matches_keras_on_the_shipped_weights():
    """The numpy MLP gives Keras' outputs to 1e-5 on the shipped weights."""
    model = df.DiffusionModel.load_pretrained("latent")
    net = model.net
    keras_net = nn.build_keras(net.spec, (net.in_dim,), "denoiser")
    nn.set_keras_weights(keras_net, net.spec, net.weights)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, net.dim)).astype(np.float32)
    t = rng.uniform(0, 1, 64).astype(np.float32)
    classes = rng.integers(0, 11, 64)
    want = np.asarray(keras_net.predict_on_batch(df.MLPDenoiser.inputs(x, t, classes, net.dim)))
    np.testing.assert_allclose(net(x, t, classes), want, atol=1e-5, rtol=1e-5)


def test_tensorflow_time_features_equal_numpy():
    import tensorflow as tf

    from genlib.diffusion_train import time_features_tf

    t = np.linspace(0, 1, 33, dtype=np.float32)
    got = time_features_tf(tf.constant(t[:, None])).numpy()
    np.testing.assert_allclose(got, df.time_features(t), atol=1e-5)


def test_trainer_follows_the_protocol_and_learns(trainer):
    assert isinstance(trainer, Trainer)
    first = trainer.history[0]["loss"]
    r = trainer.train(300)
    assert r["steps"] == 300 and np.isfinite(r["loss"]) and r["loss"] < first
    snap = trainer.snapshot()
    assert snap["step"] == trainer.step == 550
    assert snap["images"].shape == (10, 28, 28)
    assert trainer.train_for(0.3)["steps"] >= 1


def test_numpy_model_of_the_trainer_matches_its_keras_ema(trainer):
    """The EMA weights the numpy model samples with are the trainer's EMA variables."""
    model = trainer.model_now()
    keras_net = nn.build_keras(trainer.spec, (trainer.in_dim,), "ema_copy")
    nn.set_keras_weights(keras_net, trainer.spec, model.net.weights)
    x = np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)
    inp = df.MLPDenoiser.inputs(x, 0.4, np.arange(8), 16)
    np.testing.assert_allclose(model.net(x, 0.4, np.arange(8)),
                               keras_net.predict_on_batch(inp), atol=1e-5)


def test_save_and_resume_restore_weights_ema_and_step(trainer, mnist, tmp_path):
    from genlib.diffusion_train import DiffusionTrainer

    path = trainer.save(tmp_path / "run.npz")
    again = DiffusionTrainer("latent", mnist=mnist, seed=3, hidden=32, layers=2)
    again.restore(path)
    assert again.step == trainer.step
    assert int(again.t_adam.numpy()) == int(trainer.t_adam.numpy())
    for a, b in zip(again.ema + again.vars + again.m, trainer.ema + trainer.vars + trainer.m):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    again.train(100)
    assert again.step == trainer.step + 100
    other = DiffusionTrainer("latent", mnist=mnist, seed=3, hidden=32, layers=2, target="noise")
    with pytest.raises(ValueError, match="cannot resume"):
        other.restore(path)


def test_command_writes_to_the_cache_not_the_shipped_file(monkeypatch, tmp_path):
    from genlib import diffusion_train

    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path))
    path = diffusion_train.user_weights_path("latent")
    assert path.parent.parent == tmp_path and path != df.shipped_path("latent")
    shipped = df.shipped_path("latent").read_bytes()
    diffusion_train.cli(["--steps", "100"])
    assert path.exists() and df.shipped_path("latent").read_bytes() == shipped
    diffusion_train.cli(["--steps", "200", "--resume"])
    assert df.DiffusionModel.load(path).manifest["step"] == 200
    with pytest.raises(ValueError, match="--steps"):
        diffusion_train.cli(["--steps", "0"])
