"""genlib.gan_numpy_step and genlib.gan_numpy_start: the mlp GAN trained in numpy while
TensorFlow loads, against TensorFlow's own random stream, step and trainer."""

import subprocess
import sys
import time

import numpy as np
import pytest

from genlib import gan
from genlib.data import load_mnist
from genlib.gan_numpy_step import (
    NumpyStep,
    erfinv,
    glorot_weights,
    keras_glorot_uniform,
    normals_from_bits,
    stateless_normal,
    stateless_uniform_int,
)

tf = pytest.importorskip("tensorflow")
from genlib import gan_step  # noqa: E402
from genlib.gan_numpy_start import NumpyStartTrainer  # noqa: E402
from genlib.gan_train import GANTrainer  # noqa: E402

SEEDS = [(0, 0), (1, 0), (12345, 7), (2**31 - 1, 99), (7 * 1_000_003 + 80_000, 3), (5, 2**40)]


@pytest.fixture(scope="module")
def digits():
    return load_mnist("sample").train


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape,high", [([64], 4000), ([64, 64], 1 << 24), ([7], 5),
                                        ([3, 5, 2], 2**31 - 1), ([1], 1)])
def test_integer_draws_are_tensorflows_bit_for_bit(seed, shape, high):
    """stateless_uniform_int equals tf.random.stateless_uniform(int32) exactly, for several
    seed pairs (counters), shapes (not multiples of 4 too) and ranges."""
    want = tf.random.stateless_uniform(shape, tf.constant(seed, tf.int64), 0, high,
                                       dtype=tf.int32).numpy()
    np.testing.assert_array_equal(stateless_uniform_int(shape, seed, 0, high), want)


def test_integer_draws_equal_under_xla_too():
    """The XLA-compiled step draws the same integers (the trainer switches to it)."""
    fn = tf.function(lambda s: tf.random.stateless_uniform([96], s, 0, 4096, dtype=tf.int32),
                     jit_compile=True)
    for seed in SEEDS[:4]:
        np.testing.assert_array_equal(stateless_uniform_int([96], seed, 0, 4096),
                                      fn(tf.constant(seed, tf.int64)).numpy())


def test_normals_match_the_tensorflow_steps_recipe():
    """stateless_normal is gan_step's erfinv-of-24-bit-integers normal to float round-off,
    and looks standard normal."""
    seed = tf.constant([3, 11], tf.int64)
    bits = tf.random.stateless_uniform([64, 64], seed, 0, 1 << 24, dtype=tf.int32)
    u = (tf.cast(bits, tf.float32) - (2.0**23 - 0.5)) * 2.0**-23  # as in gan_step's draw
    want = (tf.sqrt(2.0) * -tf.sign(u) * tf.math.erfinv(-tf.abs(u))).numpy()
    got = stateless_normal([64, 64], (3, 11))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    many = stateless_normal([200_000], (1, 2))
    assert abs(many.mean()) < 0.01 and abs(many.std() - 1) < 0.01


def test_erfinv_matches_scipy_and_every_24_bit_draw_gives_a_finite_normal():
    """The numpy erfinv is scipy's to 2e-7 relative; the extreme integers (0, 2**24 - 1) give
    finite, opposite normals ((bits + 0.5) / 2**23 - 1 in float32 rounded the top one to 1.0:
    an infinite normal once in 2**24 draws)."""
    from scipy.special import erfinv as reference

    x = np.linspace(-0.9999999, 0.9999999, 100_001)
    np.testing.assert_allclose(erfinv(x), reference(x), rtol=2e-7, atol=1e-12)
    ends = normals_from_bits(np.array([0, 1, (1 << 24) - 2, (1 << 24) - 1]))
    assert np.all(np.isfinite(ends)) and ends[0] == -ends[-1] and ends[1] == -ends[-2]
    np.testing.assert_allclose(ends[-1], np.sqrt(2) * reference(1 - 2.0**-24), rtol=1e-6)


def test_a_draw_of_the_top_integer_trains_finite_in_both_steps(digits):
    """The noise pair (0, 7148) draws 2**24 - 1 among its 64 x 64 integers: its normal was
    inf in the TensorFlow step ((bits + 0.5) rounded to 2**24 in float32, and TensorFlow's
    CPU erfinv is inf at 1 - 2**-24 too), and a step NaN. Now both steps give finite,
    equal metrics and weights."""
    assert (stateless_uniform_int([64, 64], (0, 7148), 0, 1 << 24) == (1 << 24) - 1).any()
    s = gan.validate_settings("mlp")
    g_spec, d_spec = gan.architecture("mlp", 64, s["output"])
    g, d = glorot_weights(g_spec, 64, 0), glorot_weights(d_spec, 784 * s["pack"], 1)
    data = np.zeros((4096, 784), np.uint8)
    data[:500] = (digits.images[:500].reshape(-1, 784) * 255 + 0.5).astype(np.uint8)
    mine = NumpyStep(g, d, data, 500, [0, 7147], s)  # index draw at 7147, fakes' noise at 7148
    got = mine.run(2)
    state, _, _ = _tf_state(g, d, data, 500, [0, 7147], s)
    step = gan_step.Step("mlp", 64, s["output"], s["pack"], 64, False)
    want = step.run(state, tf.constant(2)).numpy()[:2]
    assert np.all(np.isfinite(got)) and np.all(np.isfinite(want))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    for a, b in zip(mine.g + mine.d, state["g"] + state["d"]):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("seed,shape", [(0, (64, 256)), (303, (256, 784)),
                                        (7919 * 101 + 1, (1568, 256)), (5, (3, 7))])
def test_glorot_is_keras_initialiser_bit_for_bit(seed, shape):
    """keras_glorot_uniform equals keras.initializers.GlorotUniform(seed)(shape) exactly, so
    a seed starts the same weights on either step (and as the shipped checkpoints did)."""
    from genlib import nn

    keras = nn.keras()
    want = np.asarray(keras.initializers.GlorotUniform(seed=seed)(shape))
    np.testing.assert_array_equal(keras_glorot_uniform(shape, seed), want)


def _tf_state(g, d, data, n, noise, s):
    """The variables gan_step's step trains, from numpy arrays."""
    def var(x, **kw):
        return tf.Variable(x, trainable=False, **kw)
    gv, dv = [tf.Variable(w) for w in g], [tf.Variable(w) for w in d]
    og = gan_step.AdamState(tf, gv, s["lr_g"])
    od = gan_step.AdamState(tf, dv, s["lr_d"])
    state = {"g": gv, "d": dv, "opt_g": og.state(), "opt_d": od.state(),
             "data": var(data, shape=tf.TensorShape([None, 784])), "n_data": var(n),
             "noise": var(noise, dtype=tf.int64), "d_steps": var(s["d_steps"]),
             "ls": var(1.0 if s["loss"] == "least-squares" else 0.0),
             "smooth": var(float(s["label_smoothing"]))}
    return state, og, od


@pytest.mark.parametrize("settings", [
    {},  # the mlp preset: non-saturating, smoothing 0.1, tanh, packs of 2
    {"loss": "least-squares", "d_steps": 2, "lr_g": 1e-3, "lr_d": 5e-4},
    {"output": "sigmoid", "pack": 1, "batch_size": 24, "label_smoothing": 0.0,
     "latent_dim": 16},
    {"pack": 4, "batch_size": 32, "d_steps": 3, "label_smoothing": 0.3},
])
def test_numpy_step_equals_the_tensorflow_step(digits, settings):
    """Same weights, batches and noise: metrics, weights and Adam's moments after a few steps
    equal the TensorFlow step's to float32 round-off, for every setting the mlp supports."""
    s = gan.validate_settings("mlp", **settings)
    g_spec, d_spec = gan.architecture("mlp", s["latent_dim"], s["output"])
    g = glorot_weights(g_spec, s["latent_dim"], 3)
    d = glorot_weights(d_spec, 784 * s["pack"], 4)
    data = np.zeros((4096, 784), np.uint8)
    data[:900] = (digits.images[:900].reshape(-1, 784) * 255 + 0.5).astype(np.uint8)
    mine = NumpyStep(g, d, data, 900, [3, 0], s)
    got = np.concatenate([mine.run(3), mine.run(2)])
    state, og, od = _tf_state(g, d, data, 900, [3, 0], s)
    step = gan_step.Step("mlp", s["latent_dim"], s["output"], s["pack"], s["batch_size"], False)
    want = np.concatenate([step.run(state, tf.constant(k)).numpy()[:k] for k in (3, 2)])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    for a, b in zip(mine.g + mine.d + mine.m_g + mine.m_d + mine.v_g + mine.v_d,
                    state["g"] + state["d"] + og.m + od.m + og.v + od.v):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-5, rtol=1e-4)
    assert mine.noise == list(state["noise"].numpy())
    assert (mine.t_g, mine.t_d) == (5, 5 * s["d_steps"]) == (og.iterations.numpy(),
                                                              od.iterations.numpy())


def _finish_handover(trainer, timeout=120.0):
    """Train in chunks until the trainer runs on TensorFlow."""
    deadline = time.monotonic() + timeout
    rows = []
    while trainer.on_numpy and time.monotonic() < deadline:
        if trainer.tf_error:
            pytest.fail(trainer.tf_error)
        rows.append(trainer.train(1))
        time.sleep(0.05)
    assert not trainer.on_numpy, "the TensorFlow side was never built"
    return rows


def test_numpy_start_then_tensorflow_follows_the_tensorflow_only_run(digits):
    """k numpy steps, then the handover, then TensorFlow steps give the weights and metrics
    of a TensorFlow-only trainer after the same number of steps (to round-off)."""
    images = digits.images[:800]
    t = NumpyStartTrainer("mlp", seed=4, images=images, jit=False)
    assert t.on_numpy
    first = t.train(6)
    rows = [first] + _finish_handover(t)
    rows.append(t.train(5))
    ref = GANTrainer("mlp", seed=4, images=images, jit=False)
    want = ref.train(t.step)
    got = np.concatenate([r["d_loss"] for r in rows])
    np.testing.assert_allclose(got, want["d_loss"], atol=1e-5)
    for key, w in ref.weights().items():
        np.testing.assert_allclose(t.weights()[key], w, atol=1e-5, err_msg=key)


def test_numpy_start_is_ready_to_hand_over_before_xlas_compile_starts(digits):
    """The TensorFlow side traces the step without XLA and is ready before XLA's compile
    begins (beside it the trace took 3.4 s instead of ~2 while numpy crawled); the compile
    starts with the first TensorFlow chunk, and the trainer ends on XLA's step."""
    # a batch size no other test uses: its XLA step is compiled by nobody else
    t = NumpyStartTrainer("mlp", seed=2, images=digits.images[:300], jit_later=True,
                          batch_size=24)
    key = t._key()
    assert t._tf_built.wait(120) and t.tf_error is None
    assert key not in gan_step._background and not gan_step.compiled(*key).ready.is_set()
    _finish_handover(t)
    t.train(2)  # a TensorFlow chunk
    assert key in gan_step._background
    deadline = time.monotonic() + 180
    while t.compiling and time.monotonic() < deadline:
        t.train(2)
    assert t._compiled() is gan_step.compiled(*key)


def test_numpy_start_keeps_settings_changed_before_the_handover(digits):
    """Settings changed while on numpy reach the TensorFlow step at the handover."""
    t = NumpyStartTrainer("mlp", seed=1, images=digits.images[:300], jit=False)
    t.set(loss="least-squares", d_steps=2, lr_g=5e-4)
    t.train(2)
    _finish_handover(t)
    assert t._d_steps.numpy() == 2 and t._ls.numpy() == 1.0
    assert np.isclose(t.opt_g.learning_rate.numpy(), 5e-4)
    with pytest.raises(ValueError, match="only change at reset"):
        t.set(pack=1)


def test_numpy_start_loads_a_checkpoint_and_continues_like_tensorflow(tmp_path, digits):
    """From a saved checkpoint, a numpy start continues the same stream and weights as a
    TensorFlow trainer loaded from it; the numpy side's weights() are the checkpoint's."""
    images = digits.images[:500]
    src = GANTrainer("mlp", seed=2, images=images, jit=False)
    src.train(3)
    path = src.save(tmp_path / "g.npz")
    a = NumpyStartTrainer.load(path, images=images, jit=False)
    assert a.on_numpy and a.step == 3
    for key, w in src.weights().items():
        np.testing.assert_array_equal(a.weights()[key], w)
    b = GANTrainer.load(path, images=images, jit=False)
    np.testing.assert_allclose(a.train(4)["g_loss"], b.train(4)["g_loss"], atol=1e-5)


def test_numpy_start_samples_and_refuses_the_dcgan(digits):
    """While on numpy the trainer samples like the TensorFlow one; the dcgan waits for TF."""
    t = NumpyStartTrainer("mlp", seed=0, images=digits.images[:200], jit=False)
    snap = t.snapshot()
    assert snap["fixed"].shape == (64, 28, 28) and snap["fixed"].dtype == np.float32
    assert 0 <= snap["fixed"].min() and snap["fixed"].max() <= 1
    with pytest.raises(ValueError, match="mlp preset only"):
        NumpyStartTrainer("dcgan", images=digits.images[:200])


def test_a_numpy_start_trains_before_tensorflow_is_imported():
    """In a fresh process, the trainer is built and trains steps while the TensorFlow import
    is still running in the background (never on the training thread)."""
    code = (
        "import sys, numpy as np\n"
        "from genlib.gan_numpy_start import NumpyStartTrainer\n"
        "assert 'tensorflow' not in sys.modules\n"
        "images = np.random.default_rng(0).random((100, 28, 28), dtype=np.float32)\n"
        "t = NumpyStartTrainer('mlp', images=images, jit=False)\n"
        "m = t.train(3)\n"
        "print(t.on_numpy, t.step, bool(np.isfinite(m['d_loss']).all()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "3", "True"]
