"""The playground's neural trainers: they make progress on a tiny budget, the numpy samplers
match the Keras networks, and the trainer protocol holds (a property, never a timing)."""

import numpy as np
import pytest

from genlib import playground_abc as abc
from genlib import playground_data as pdata
from genlib import playground_nets as nets

pytest.importorskip("tensorflow")
from genlib.playground_train import PointTrainer  # noqa: E402


@pytest.fixture(scope="module")
def eight():
    return pdata.make_dataset("eight", 2000, 0.1, seed=0)


def _modes(samples) -> np.ndarray:
    centres = pdata._curve("eight")
    d = np.linalg.norm(samples[:, None] - centres[None], axis=2)
    near = d.min(axis=1) < 0.5
    return np.bincount(d.argmin(axis=1)[near], minlength=8) / len(samples)


def test_gan_moves_samples_onto_the_support(eight):
    """1,500 steps: from a blob at the origin (off-support) to samples mostly on the eight
    Gaussians, covering more modes than at the start."""
    t = PointTrainer("gan", eight.train, seed=0)
    before = nets.sampler(t.snapshot()).sample(1000, rng=0)
    t.train(1500)
    after = nets.sampler(t.snapshot()).sample(1000, rng=0)
    on = [abc.classify(s, eight).shares["C"] + abc.classify(s, eight).shares["B"]
          for s in (before, after)]
    assert on[1] > on[0] + 0.3
    assert (_modes(after) >= 0.02).sum() > (_modes(before) >= 0.02).sum()
    assert t.step == 1500 and len(t.snapshot()["history"]["step"]) > 0


def test_flow_loss_falls_and_samples_land_on_the_support(eight):
    """Flow matching: the loss falls, and after 1,500 steps most samples are on-support."""
    t = PointTrainer("flow", eight.train, seed=0)
    t.train(100)
    first = t.snapshot()["history"]["loss"][0]
    t.train(1400)
    h = t.snapshot()["history"]["loss"]
    assert h[-5:].mean() < first
    s = nets.sampler(t.snapshot()).sample(1000, rng=0)
    assert abc.classify(s, eight).shares["A"] < 0.5


def test_vae_loss_falls(eight):
    """The VAE's negative ELBO falls over 1,000 steps."""
    t = PointTrainer("vae", eight.train, seed=0)
    t.train(100)
    first = t.snapshot()["history"]["loss"][0]
    t.train(900)
    assert t.snapshot()["history"]["loss"][-3:].mean() < first


@pytest.mark.parametrize("family", ["gan", "vae", "flow"])
def test_numpy_networks_match_keras(family, eight):
    """The snapshot's numpy forward pass equals the Keras networks on the same inputs."""
    t = PointTrainer(family, eight.train, seed=1)
    t.train(50)
    s = nets.sampler(t.snapshot())
    rng = np.random.default_rng(0)
    for name, net in t.nets.items():
        x = rng.normal(size=(64, net.input_shape[-1])).astype(np.float32)
        np.testing.assert_allclose(s.net(name, x), net(x).numpy(), atol=1e-5)


def test_same_seed_same_training(eight):
    """Two trainers with one seed produce the same weights after the same steps."""
    a, b = (PointTrainer("flow", eight.train, seed=3) for _ in range(2))
    a.train(60)
    b.train(60)
    for k, v in a.weights().items():
        np.testing.assert_allclose(v, b.weights()[k], rtol=1e-5, atol=1e-6)


def test_protocol_train_for_set_and_close(eight):
    """train_for respects max_steps, set changes the learning rate, close frees the nets."""
    t = PointTrainer("gan", eight.train, seed=0).warm_up()
    t.train_for(10.0, max_steps=60)
    assert t.step == 60
    t.set(lr=3e-4)
    assert float(t.opts["G"].learning_rate.numpy()) == pytest.approx(3e-4)
    t.close()
    assert t.closed and not hasattr(t, "nets")


@pytest.mark.parametrize("kw, error", [({"family": "pixelcnn"}, "unknown family"),
                                       ({"points": np.ones((5, 3))}, "shape"),
                                       ({"lr": 5.0}, "learning rate"), ({"seed": -2}, "seed")])
def test_bad_trainer_arguments(kw, error, eight):
    """Unknown family, bad points, learning rate or seed: a clear ValueError."""
    args = {"family": "gan", "points": eight.train, **kw}
    with pytest.raises(ValueError, match=error):
        PointTrainer(**args)
