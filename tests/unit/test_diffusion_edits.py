"""genlib.diffusion_edits: SDEdit and noise interpolation, on exact fields and the shipped model."""

import numpy as np
import pytest

from genlib import diffusion as df
from genlib import diffusion_edits as de


@pytest.fixture(scope="module")
def model():
    return df.DiffusionModel.load_pretrained("latent")


class PixelSpace:
    """Images <-> [-1, 1] pixels, as a pixel-space model sees them."""

    shape = (28, 28)

    def encode(self, images):
        return 2 * np.asarray(images, np.float32) - 1

    def decode(self, x):
        return np.clip((np.asarray(x, np.float32) + 1) / 2, 0, 1)


class PointMassModel:
    """A 'trained' model whose data are one image: its exact velocity (x_t - x0*) / t."""

    defaults = {"guidance": 1.0, "steps": 10, "sampler": "euler"}

    def __init__(self, image):
        self.space = PixelSpace()
        self.target = self.space.encode(image)

    def field(self, classes, guidance):
        def f(x, t):
            return (x - self.target) / t, np.broadcast_to(self.target, x.shape)
        return f


def _digit(seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((28, 28), np.float32)
    img[6:22, 12:16] = rng.uniform(0.5, 1.0, (16, 4))
    return img


@pytest.mark.parametrize("sampler", list(df.SAMPLERS))
def test_sdedit_at_t_zero_returns_the_input(model, sampler):
    """Nothing noised, nothing to denoise: the input itself, bit for bit."""
    images = np.stack([_digit(0), _digit(1)])
    r = de.sdedit(model, images, [0.0], rng=0, digit=3, sampler=sampler)
    np.testing.assert_array_equal(r.edited[0], images)
    np.testing.assert_array_equal(r.noised[0], images)
    assert r.steps.tolist() == [0]


@pytest.mark.parametrize("sampler", list(df.SAMPLERS))
def test_sdedit_with_the_exact_field_lands_on_the_data(sampler):
    """A model that knows its data exactly brings the input back onto them from any t."""
    target = _digit(2)
    r = de.sdedit(PointMassModel(target), _digit(3), [0.1, 0.5, 1.0], rng=1, sampler=sampler)
    for k in range(3):
        np.testing.assert_allclose(r.edited[k, 0], target, atol=1e-5)


def test_sdedit_noised_pictures_follow_the_forward_process():
    """x_t shown is (1 - t) x_0 + t eps in the model's space, eps the same at every t."""
    image = _digit(4)
    r = de.sdedit(PointMassModel(image), image, [0.3, 0.6], rng=5)
    eps = np.random.default_rng(5).standard_normal((1, 28, 28)).astype(np.float32)
    for k, t in enumerate((0.3, 0.6)):
        want = np.clip(((1 - t) * (2 * image - 1) + t * eps[0] + 1) / 2, 0, 1)
        np.testing.assert_allclose(r.noised[k, 0], want, atol=1e-6)


def test_sdedit_keeps_less_of_the_input_as_t_grows(model, mnist):
    """The shipped model: at t = 0.2 the result resembles the input far more than at t = 1."""
    images = mnist.test.images[:20]
    r = de.sdedit(model, images, [0.2, 1.0], rng=0)
    near, far = de.similarity(r.edited, images[None]).mean(1)
    assert near > 0.8 and far < 0.5 and near > far + 0.3


def test_sdedit_takes_steps_in_proportion_to_t(model):
    r = de.sdedit(model, _digit(), [0.05, 0.5, 1.0], steps=20, rng=0)
    assert r.steps.tolist() == [1, 10, 20]
    assert r.edited.shape == r.noised.shape == (3, 1, 28, 28)
    assert r.edited.dtype == np.float32 and 0 <= r.edited.min() and r.edited.max() <= 1


@pytest.mark.parametrize("digit", [None, 7])
def test_interpolation_endpoints_are_the_two_seeds_samples(model, digit):
    """Frame 0 and the last frame are model.sample(1, rng=seed) with the Euler sampler."""
    it = de.interpolate(model, (11, 42), 7, digit=digit, guidance=2.0, steps=12)
    for frame, seed in ((0, 11), (-1, 42)):
        want = model.sample(1, rng=seed, digit=digit, guidance=2.0, steps=12,
                            sampler="euler").images[0]
        np.testing.assert_allclose(it.images[frame], want, atol=1e-5)
    assert it.images.shape == (7, 28, 28) and it.alphas[0] == 0 and it.alphas[-1] == 1


def test_interpolation_through_the_exact_field_is_always_the_data():
    target = _digit(6)
    it = de.interpolate(PointMassModel(target), (0, 1), 5)
    np.testing.assert_allclose(it.images, np.broadcast_to(target, (5, 28, 28)), atol=1e-5)


def test_slerp_has_exact_endpoints_and_keeps_the_norm_between_equal_norms():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 50))
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    path = de.slerp(a, b, np.linspace(0, 1, 9))
    np.testing.assert_array_equal(path[0], a.astype(np.float32))
    np.testing.assert_array_equal(path[-1], b.astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-5)
    line = de.slerp(a, 2 * a, [0.5])  # parallel: a straight line
    np.testing.assert_allclose(line[0], 1.5 * a, rtol=1e-5)


def test_similarity_is_the_pixel_correlation():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(size=(2, 28, 28))
    assert de.similarity(a, a) == pytest.approx(1.0)
    assert de.similarity(a, b) == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    assert de.similarity(np.zeros((28, 28)), a) == 0.0


@pytest.mark.parametrize("call, words", [
    (lambda m: de.sdedit(m, np.full((28, 28), 2.0), [0.5]), "[0, 1]"),
    (lambda m: de.sdedit(m, np.full((28, 28), np.nan), [0.5]), "NaN"),
    (lambda m: de.sdedit(m, np.zeros((5, 5)), [0.5]), "shape"),
    (lambda m: de.sdedit(m, _digit(), [1.5]), "[0, 1]"),
    (lambda m: de.sdedit(m, _digit(), []), "1 to"),
    (lambda m: de.sdedit(m, _digit(), [0.5], digit=12), "unknown class"),
    (lambda m: de.sdedit(m, _digit(), [0.5], guidance=-1), "guidance"),
    (lambda m: de.sdedit(m, _digit(), [0.5], steps=0), "steps"),
    (lambda m: de.interpolate(m, (0, 1), 1), "n_frames"),
    (lambda m: de.interpolate(m, (0,), 5), "two seeds"),
    (lambda m: de.interpolate(m, (0, 1), 5, guidance=1e9), "guidance"),
])
def test_bad_input_raises_with_the_reason(model, call, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        call(model)
