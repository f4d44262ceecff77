"""The GAN's best presets (issue 16): EMA of G, R1, hinge loss, their checkpoints and settings."""

import numpy as np
import pytest

from genlib import gan
from genlib.data import load_mnist

tf = pytest.importorskip("tensorflow")
from genlib import gan_step  # noqa: E402
from genlib.gan_train import GANTrainer  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_mnist("sample").train


def test_best_options_are_refused_for_the_seed_faithful_presets():
    """ema, r1 and the hinge loss belong to the best presets; the lesson presets stay as is."""
    for bad in ({"ema": 0.99}, {"r1": 1.0}, {"loss": "hinge"}):
        with pytest.raises(ValueError, match="best presets only"):
            gan.validate_settings("mlp", **bad)
    assert gan.validate_settings("dcgan_best", loss="hinge", r1=2.0)["r1"] == 2.0
    with pytest.raises(ValueError, match="between"):
        gan.validate_settings("mlp_best", ema=1.0)
    for preset in gan.BEST:  # their own, larger networks
        g, d = gan.architecture(preset, 64, "tanh")
        g0, d0 = gan.architecture(gan.base_preset(preset), 64, "tanh")
        count = sum(1 for layer in g + d if "name" in layer)
        assert count > sum(1 for layer in g0 + d0 if "name" in layer)


def test_hinge_losses_match_a_hand_computation():
    """D: mean relu(1 - real) + mean relu(1 + fake); G: -mean fake."""
    real = np.array([2.0, 0.5, -1.0, 0.9], np.float32)
    fake = np.array([-2.0, -0.5, 1.5], np.float32)
    d = (0.0 + 0.5 + 2.0 + 0.1) / 4 + (0.0 + 0.5 + 2.5) / 3
    assert float(gan_step.hinge_d_loss(tf, tf.constant(real), tf.constant(fake))) == \
        pytest.approx(d, abs=1e-6)
    assert float(gan_step.hinge_g_loss(tf, tf.constant(fake))) == pytest.approx(1 / 3, abs=1e-6)


def test_r1_penalty_matches_the_analytic_gradient_of_an_mlp_discriminator():
    """gamma/2 mean |grad_x D(x)|^2 with D = w2 . leaky(W1 x + b1) + b2, gradient by hand."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((6, 5)).astype(np.float32)
    b1 = rng.standard_normal(5).astype(np.float32)
    w2 = rng.standard_normal((5, 1)).astype(np.float32)
    x = rng.standard_normal((4, 6)).astype(np.float32)

    def d_of(v):
        return tf.nn.leaky_relu(v @ w1 + b1, 0.2) @ w2

    h = x @ w1 + b1
    grads = (np.where(h > 0, 1.0, 0.2) * w2[:, 0]) @ w1.T  # (4, 6)
    want = 0.5 * 3.0 * np.mean(np.sum(grads**2, axis=1))
    got = float(gan_step.r1_penalty(tf, d_of, tf.constant(x), 3.0))
    assert got == pytest.approx(want, rel=1e-5)


def test_ema_step_matches_the_formula_with_its_warm_start():
    """avg <- d avg + (1 - d) var with d = min(ema, (1 + t) / (10 + t))."""
    avg = tf.Variable(np.array([1.0, -2.0], np.float32))
    var = tf.Variable(np.array([3.0, 5.0], np.float32))
    for t, ema in ((1.0, 0.999), (1000.0, 0.9), (5000.0, 0.999)):
        before = avg.numpy().copy()
        gan_step.ema_step(tf, [avg], [var], ema, tf.constant(t))
        d = min(ema, (1 + t) / (10 + t))
        np.testing.assert_allclose(avg.numpy(), d * before + (1 - d) * var.numpy(), rtol=1e-6)


def test_trainer_keeps_the_moving_average_of_its_generator(digits):
    """After each step, the sampled weights are the EMA of the trained ones (checked by hand)."""
    t = GANTrainer("mlp_best", seed=2, images=digits.images, jit=False, ema=0.5)
    avg = {k: v for k, v in t.weights().items() if k.startswith("g/")}
    for step in range(1, 4):
        t.train(1)
        w = t.weights()
        d = min(0.5, (1 + step) / (10 + step))
        for k, prev in avg.items():
            raw = w["g_raw/" + k[2:]]
            np.testing.assert_allclose(w[k], d * prev + (1 - d) * raw, rtol=1e-5, atol=1e-6)
        avg = {k: w[k] for k in avg}
    assert not np.allclose(w["g/g_out/kernel"], w["g_raw/g_out/kernel"])


@pytest.mark.parametrize("preset,settings", [("mlp_best", {"r1": 1.0}),
                                             ("dcgan_best", {"loss": "hinge", "r1": 1.0})])
def test_best_step_trains_and_resumes_from_its_checkpoint(digits, tmp_path, preset, settings):
    """R1 and hinge steps give finite metrics; a checkpoint restores both G and its average."""
    t = GANTrainer(preset, seed=1, images=digits.images, jit=False, **settings)
    m = t.train(3)
    assert np.all(np.isfinite(m["d_loss"])) and np.all(np.isfinite(m["g_loss"]))
    back = GANTrainer.load(t.save(tmp_path / "b.npz"), images=digits.images, jit=False)
    for k, v in t.weights().items():
        np.testing.assert_array_equal(back.weights()[k], v)
    assert back.settings == t.settings
    z = np.random.default_rng(0).standard_normal((5, 64), dtype=np.float32)
    np.testing.assert_allclose(gan.GAN.load(tmp_path / "b.npz").decode(z), t.decode(z),
                               atol=1e-5)


@pytest.mark.parametrize("preset", [p for p in gan.BEST
                                    if gan.shipped_checkpoint_path(p).exists()])
def test_shipped_best_checkpoint_samples_like_its_keras_generator(digits, preset):
    """numpy sampling of the shipped best GAN matches the Keras generator (its EMA) to 1e-5."""
    model = gan.GAN.load_pretrained(preset)
    assert model.preset == preset and model.settings["ema"] > 0
    t = GANTrainer.load(gan.shipped_checkpoint_path(preset), images=digits.images, jit=False)
    a, b = model.sample(64, rng=3).images, t.sample(64, rng=3).images
    assert a.shape == (64, 28, 28) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_cli_starts_a_best_preset_from_a_checkpoint_and_resumes_it(tmp_path):
    """--init-from starts from a checkpoint with the same networks (not a seed-faithful one:
    they differ); --resume goes on."""
    import subprocess
    import sys

    def train(*args):
        subprocess.run([sys.executable, "-m", "genlib.train", "gan", "--batch-size", "16",
                        *args], capture_output=True, text=True, check=True, timeout=300,
                       cwd=gan.WEIGHTS_DIR.parents[1])

    a, b, c = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    train("--preset", "mlp_best", "--steps", "3", "--out", str(a))
    train("--preset", "mlp_best", "--steps", "5", "--init-from", str(a), "--out", str(b),
          "--ema", "0.99")
    model = gan.GAN.load(b)
    assert model.preset == "mlp_best" and model.step == 5 and model.settings["ema"] == 0.99
    assert model.manifest["started_from"] == "a.npz"
    assert any(k.startswith("g_raw/") for k in model.weights)
    train("--preset", "mlp_best", "--steps", "7", "--resume", "--out", str(b))
    assert gan.GAN.load(b).step == 7
    train("--preset", "mlp", "--steps", "3", "--out", str(c))
    for preset in gan.BEST:  # a seed-faithful checkpoint has other networks
        with pytest.raises(subprocess.CalledProcessError) as e:
            train("--preset", preset, "--steps", "1", "--init-from", str(c),
                  "--out", str(tmp_path / "d.npz"))
        assert "networks differ" in e.value.stderr and "Traceback" not in e.value.stderr
