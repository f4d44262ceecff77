"""genlib.gan_train: the Keras GAN trainer, its checkpoints and its command line."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from genlib import gan
from genlib.data import load_mnist
from genlib.protocol import Samples

pytest.importorskip("tensorflow")
from genlib import gan_step, gan_train  # noqa: E402
from genlib.gan_train import GANTrainer  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_mnist("sample").train


@pytest.fixture(scope="module")
def trained(digits):
    """An mlp trainer after 40 steps (shared: building and compiling costs seconds)."""
    t = GANTrainer("mlp", seed=3, images=digits.images, jit=False)
    t.train(40)
    return t


def test_train_changes_weights_and_gives_finite_metrics(digits):
    """A few steps move both networks' weights; every metric of those steps is finite."""
    t = GANTrainer("mlp", seed=0, images=digits.images, jit=False)
    before = t.weights()
    m = t.train(5)
    after = t.weights()
    assert t.step == 5 and list(m["step"]) == [1, 2, 3, 4, 5]
    for name in ("g/g_out/kernel", "d/d_hidden/kernel"):
        assert not np.allclose(before[name], after[name]), name
    for k in gan.METRICS:
        assert m[k].shape == (5,) and np.all(np.isfinite(m[k])), k


def test_same_seed_reproduces_first_steps(digits):
    """Two trainers with one seed give the same first losses; another seed differs."""
    a, b, c = (GANTrainer("mlp", seed=s, images=digits.images, jit=False) for s in (7, 7, 8))
    ma, mb, mc = a.train(3), b.train(3), c.train(3)
    np.testing.assert_allclose(ma["d_loss"], mb["d_loss"], rtol=1e-5)
    np.testing.assert_allclose(ma["g_loss"], mb["g_loss"], rtol=1e-5)
    assert not np.allclose(ma["g_loss"], mc["g_loss"])


def test_xla_and_plain_steps_draw_the_same_noise_and_batches(digits):
    """With and without XLA, one seed gives the same run (to float round-off): the live page
    may start without XLA and switch when XLA's compile is done.

    At D's learning rate 1e-3: at the preset's 2e-3 the first steps amplify the compilers'
    1e-7 round-off to O(1) by step 40 (the dynamics, not the draws; 1e-6 at 1e-3)."""
    runs = [GANTrainer("mlp", seed=3, images=digits.images[:500], jit=jit,
                       lr_d=1e-3).train(40) for jit in (True, False)]
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        np.testing.assert_allclose(runs[0][name], runs[1][name], atol=1e-5)


def test_jit_later_switches_to_xla_and_keeps_the_run(digits):
    """A trainer that starts while XLA compiles ends on the XLA step; its first steps are
    those of a trainer that had XLA from the start (later, GAN training amplifies the two
    compilers' round-off: ~6e-4 apart after 60 steps at learning rate 1e-3, as any two builds
    would be; D's 2e-3, the preset's, amplifies it to O(1), so 1e-3 here)."""
    images = digits.images[:700]
    later = GANTrainer("mlp", seed=5, images=images, jit_later=True, batch_size=40,
                       lr_d=1e-3).warm_up()
    rows = [later.train(8)]
    deadline = time.monotonic() + 180
    while later.compiling and time.monotonic() < deadline:
        rows.append(later.train(8))
    assert not later.compiling, "XLA's compile never finished"
    assert later._compiled() is gan_step.compiled(*later._key())
    rows.append(later.train(8))
    got = np.concatenate([r["d_loss"] for r in rows])
    assert np.all(np.isfinite(got)) and later.step == len(got)
    plain = GANTrainer("mlp", seed=5, images=images, jit=True, batch_size=40,
                       lr_d=1e-3).train(64)
    np.testing.assert_allclose(got[:32], plain["d_loss"][:32], atol=1e-5)
    # at learning rate 1e-3 the round-off grows to ~6e-4 by step 60
    np.testing.assert_allclose(got[:64], plain["d_loss"], atol=2e-3)


@pytest.mark.parametrize("preset", ["mlp", "dcgan"])
def test_initial_weights_are_seeded_glorot_per_layer(digits, preset):
    """The networks come from nn.build_keras with GlorotUniform(seed * 101 + i) per layer
    (G from seed, D from seed + 7919), as the shipped checkpoints were trained."""
    import keras

    t = GANTrainer(preset, seed=2, images=digits.images, jit=False)
    w = t.weights()
    for prefix, spec, seed in (("g", t.generator_spec, 2),
                               ("d", t.discriminator_spec, 2 + gan_train.D_SEED_OFFSET)):
        for i, layer in enumerate(spec):
            if "name" not in layer:
                continue
            kernel = w[f"{prefix}/{layer['name']}/kernel"]
            expected = keras.initializers.GlorotUniform(seed=seed * 101 + i)(kernel.shape)
            np.testing.assert_array_equal(kernel, np.asarray(expected), err_msg=layer["name"])


def test_snapshot_shapes_and_bounds(trained):
    """snapshot(): histories as long as the steps, D scores in [0, 1], a 64-image grid."""
    s = trained.snapshot()
    h = s["history"]
    assert s["step"] == trained.step and list(h["step"]) == list(range(1, trained.step + 1))
    for k in ("d_real", "d_fake"):
        assert np.all((h[k] >= 0) & (h[k] <= 1)), k
    assert s["fixed"].shape == (64, 28, 28) and s["fixed"].dtype == np.float32
    assert 0 <= s["fixed"].min() and s["fixed"].max() <= 1
    steps, frames = s["frames"]
    assert len(steps) == len(frames) >= 1 and frames[0].dtype == np.uint8


def test_sample_shape_dtype_range_and_rng(trained):
    """sample(n) gives Samples, float32 (n, 28, 28) in [0, 1], no labels; a seed repeats,
    None does not."""
    for n in (1, 7, 600):
        s = trained.sample(n, rng=0)
        assert isinstance(s, Samples) and s.labels is None
        x = s.images
        assert x.shape == (n, 28, 28) and x.dtype == np.float32
        assert x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(trained.sample(5, rng=1).images, trained.sample(5, rng=1).images)
    assert not np.array_equal(trained.sample(5).images, trained.sample(5).images)


@pytest.mark.parametrize("preset", ["mlp", "dcgan"])
def test_numpy_generator_matches_keras(digits, preset, tmp_path):
    """The numpy forward pass of a saved generator matches the Keras generator."""
    t = GANTrainer(preset, seed=1, images=digits.images, jit=False)
    t.train(2)
    ck = gan.GAN.load(t.save(tmp_path / "g.npz"))
    z = np.random.default_rng(0).standard_normal((9, t.settings["latent_dim"]), dtype=np.float32)
    np.testing.assert_allclose(ck.decode(z), t.decode(z), atol=1e-5)


def test_save_load_round_trip(trained, digits, tmp_path):
    """save -> load gives the same weights, step, history, frames and settings."""
    path = trained.save(tmp_path / "gan.npz")
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["preset"] == "mlp" and manifest["step"] == trained.step
    assert manifest["family"] == "gan" and manifest["sha256"]
    with np.load(path, allow_pickle=False) as f:  # no pickled objects inside
        assert all(f[k].dtype != object for k in f.files)
    back = GANTrainer.load(path, images=digits.images, jit=False)
    for k, v in trained.weights().items():
        np.testing.assert_array_equal(back.weights()[k], v)
    assert back.step == trained.step and back.settings == trained.settings
    np.testing.assert_allclose(back.snapshot()["fixed"], trained.snapshot()["fixed"])
    np.testing.assert_array_equal(back.history.as_dict()["d_loss"],
                                  trained.history.as_dict()["d_loss"])
    assert back.frames.steps == trained.frames.steps
    back.train(2)
    assert back.step == trained.step + 2


def test_tampered_checkpoint_is_refused(trained, digits, tmp_path):
    """A weights file that does not match its manifest's SHA-256 gives a clear error."""
    path = trained.save(tmp_path / "gan.npz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        GANTrainer.load(path, images=digits.images)
    with pytest.raises(ValueError, match="no GAN checkpoint"):
        GANTrainer.load(tmp_path / "missing.npz", images=digits.images)


def test_bad_preset_seed_and_steps_raise(trained, digits):
    """An unknown preset, a negative seed, negative steps give clear errors."""
    with pytest.raises(ValueError, match="unknown preset"):
        GANTrainer("vae", images=digits.images)
    with pytest.raises(ValueError, match="seed"):
        GANTrainer("mlp", seed=-1, images=digits.images)
    with pytest.raises(ValueError, match="steps"):
        trained.train(-3)


def test_set_changes_settings_live_but_not_architecture(trained):
    """set() updates the learning rate and loss in place; latent_dim needs a reset."""
    trained.set(lr_d=1e-3, loss="least-squares", label_smoothing=0.1)
    assert float(np.asarray(trained.opt_d.learning_rate)) == pytest.approx(1e-3)
    m = trained.train(3)
    assert np.all(np.isfinite(m["d_loss"]))
    trained.set(loss="non-saturating", label_smoothing=0.0, lr_d=2e-4)
    with pytest.raises(ValueError, match="at reset"):
        trained.set(latent_dim=8)


def test_history_memory_is_bounded():
    """Past its capacity the metric history halves its resolution and keeps the whole run."""
    h = gan_train._History(capacity=100)
    steps = np.arange(1, 10_001)
    vals = np.column_stack([steps] * len(gan.METRICS)).astype(float)
    h.add(steps, vals)
    d = h.as_dict()
    assert len(d["step"]) < 100 and d["step"][-1] <= 10_000 and d["step"][0] < 200
    # averages of consecutive steps: the value tracks the step it is recorded at
    assert np.all(np.abs(d["d_loss"] - d["step"]) < h.stride)


def test_packing_feeds_d_pairs(digits):
    """mlp packs pairs by default (D's input is 2 x 784) and trains."""
    t = GANTrainer("mlp", seed=0, images=digits.images, batch_size=16)
    assert t.settings["pack"] == 2 and t.D.input_shape == (None, 1568)
    m = t.train(3)
    assert np.all(np.isfinite(m["d_loss"])) and t.step == 3


def test_checkpoint_without_pack_loads_as_unpacked(tmp_path, digits):
    t = GANTrainer("mlp", seed=0, images=digits.images, batch_size=16, pack=1)
    path = t.save(tmp_path / "old.npz")
    manifest = json.loads(path.with_suffix(".json").read_text())
    del manifest["settings"]["pack"]
    path.with_suffix(".json").write_text(json.dumps(manifest))
    assert gan.GAN.load(path).settings["pack"] == 1
    assert GANTrainer.load(path, images=digits.images).D.input_shape == (None, 784)


def test_cli_trains_and_saves_a_loadable_checkpoint(tmp_path):
    """`python -m genlib.train gan --steps N --out P` writes a checkpoint GAN.load reads."""
    out = tmp_path / "cli.npz"
    subprocess.run([sys.executable, "-m", "genlib.train", "gan", "--steps", "3",
                    "--batch-size", "16", "--out", str(out)], capture_output=True, text=True,
                   cwd=gan.WEIGHTS_DIR.parents[1], check=True, timeout=300)
    model = gan.GAN.load(out)
    assert model.step == 3 and model.settings["batch_size"] == 16
    assert model.manifest["data_kind"] == "sample" and len(model.manifest["digit_shares"]) == 10
