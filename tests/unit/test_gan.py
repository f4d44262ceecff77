"""genlib.gan: the live GAN trainer, its numpy-only checkpoints and its helpers."""

import json
import subprocess
import sys

import numpy as np
import pytest

from genlib import gan
from genlib.data import load_mnist

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def digits():
    return load_mnist("sample").train


@pytest.fixture(scope="module")
def trained(digits):
    """An mlp trainer after 40 steps (shared: building and compiling costs seconds)."""
    t = gan.GANTrainer("mlp", seed=3, images=digits.images, jit=False)
    t.train(40)
    return t


def test_import_does_not_load_tensorflow():
    """Importing genlib.gan and reading a checkpoint never imports TensorFlow."""
    code = ("import sys, numpy as np; from genlib import gan; "
            "c = gan.load_checkpoint(gan.shipped_checkpoint_path('mlp')); c.sample(4, rng=0); "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=gan.WEIGHTS_DIR.parents[1], check=True)
    assert out.stdout.strip() == "False"


def test_train_changes_weights_and_gives_finite_metrics(digits):
    """A few steps move both networks' weights; every metric of those steps is finite."""
    t = gan.GANTrainer("mlp", seed=0, images=digits.images, jit=False)
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
    a, b, c = (gan.GANTrainer("mlp", seed=s, images=digits.images, jit=False)
               for s in (7, 7, 8))
    ma, mb, mc = a.train(3), b.train(3), c.train(3)
    np.testing.assert_allclose(ma["d_loss"], mb["d_loss"], rtol=1e-5)
    np.testing.assert_allclose(ma["g_loss"], mb["g_loss"], rtol=1e-5)
    assert not np.allclose(ma["g_loss"], mc["g_loss"])


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
    """sample(n) gives float32 (n, 28, 28) in [0, 1]; a seed repeats, None does not."""
    for n in (1, 7, 600):
        x = trained.sample(n, rng=0)
        assert x.shape == (n, 28, 28) and x.dtype == np.float32
        assert x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(trained.sample(5, rng=1), trained.sample(5, rng=1))
    assert not np.array_equal(trained.sample(5), trained.sample(5))


@pytest.mark.parametrize("preset", ["mlp", "dcgan"])
def test_numpy_generator_matches_keras(digits, preset, tmp_path):
    """The numpy forward pass of a saved generator matches the Keras generator."""
    t = gan.GANTrainer(preset, seed=1, images=digits.images, jit=False)
    t.train(2)
    ck = gan.load_checkpoint(t.save(tmp_path / "g.npz"))
    z = np.random.default_rng(0).standard_normal((9, t.settings["latent_dim"]), dtype=np.float32)
    np.testing.assert_allclose(ck.decode(z), t.decode(z), atol=1e-5)


def test_save_load_round_trip(trained, digits, tmp_path):
    """save -> load gives the same weights, step, history, frames and settings."""
    path = trained.save(tmp_path / "gan.npz")
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["preset"] == "mlp" and manifest["step"] == trained.step
    with np.load(path, allow_pickle=False) as f:  # no pickled objects inside
        assert all(f[k].dtype != object for k in f.files)
    back = gan.GANTrainer.load(path, images=digits.images, jit=False)
    for k, v in trained.weights().items():
        np.testing.assert_array_equal(back.weights()[k], v)
    assert back.step == trained.step and back.settings == trained.settings
    np.testing.assert_allclose(back.snapshot()["fixed"], trained.snapshot()["fixed"])
    np.testing.assert_array_equal(back.history.as_dict()["d_loss"],
                                  trained.history.as_dict()["d_loss"])
    assert back.frames.steps == trained.frames.steps
    back.train(2)
    assert back.step == trained.step + 2


def test_tampered_checkpoint_is_refused(trained, tmp_path):
    """A weights file that does not match its manifest's SHA-256 gives a clear error."""
    path = trained.save(tmp_path / "gan.npz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        gan.load_checkpoint(path)
    with pytest.raises(ValueError, match="no GAN checkpoint"):
        gan.load_checkpoint(tmp_path / "missing.npz")


@pytest.mark.parametrize("bad, match", [
    ({"lr_g": 0.5}, "lr_g must be between"),
    ({"lr_d": -1e-4}, "lr_d must be between"),
    ({"batch_size": 4}, "batch_size must be between"),
    ({"batch_size": 64.5}, "whole number"),
    ({"latent_dim": 1000}, "latent_dim must be between"),
    ({"d_steps": 0}, "d_steps must be between"),
    ({"label_smoothing": 0.9}, "label_smoothing must be between"),
    ({"loss": "wasserstein"}, "loss must be one of"),
    ({"output": "relu"}, "output must be one of"),
    ({"lr_g": "fast"}, "must be a number"),
    ({"momentum": 0.9}, "unknown setting"),
])
def test_settings_out_of_range_raise(bad, match):
    """Each out-of-range or unknown setting raises a ValueError naming it."""
    with pytest.raises(ValueError, match=match):
        gan.validate_settings("mlp", **bad)


def test_bad_preset_seed_and_steps_raise(trained, digits):
    """An unknown preset, a negative seed, negative steps give clear errors."""
    with pytest.raises(ValueError, match="unknown preset"):
        gan.GANTrainer("vae", images=digits.images)
    with pytest.raises(ValueError, match="seed"):
        gan.GANTrainer("mlp", seed=-1, images=digits.images)
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
    h = gan._History(capacity=100)
    steps = np.arange(1, 10_001)
    vals = np.column_stack([steps] * len(gan.METRICS)).astype(float)
    h.add(steps, vals)
    d = h.as_dict()
    assert len(d["step"]) < 100 and d["step"][-1] <= 10_000 and d["step"][0] < 200
    # averages of consecutive steps: the value tracks the step it is recorded at
    assert np.all(np.abs(d["d_loss"] - d["step"]) < h.stride)


def test_frames_are_bounded_and_evenly_spread():
    """The scrubber keeps at most MAX_FRAMES grids, spread over the whole run."""
    f = gan._Frames(capacity=10, every=5)
    for step in range(1, 2001):
        if f.due(step):
            f.add(step, np.zeros((64, 28, 28), np.float32))
    assert len(f.steps) <= 10 and f.steps[0] == 1 and f.steps[-1] > 1500


def test_digit_shares_and_rare_digits():
    """Shares sum to one; digits under 4% are flagged."""
    labels = np.array([0] * 50 + [1] * 47 + [2] * 3)
    shares = gan.digit_shares(labels)
    assert shares.sum() == pytest.approx(1) and shares[1] == pytest.approx(0.47)
    assert gan.rare_digits(shares) == [2, 3, 4, 5, 6, 7, 8, 9]


def test_nearest_mean_judge_labels_real_digits(digits):
    """The fallback judge labels held-out real digits far better than chance."""
    test = load_mnist("sample").test
    judge = gan.NearestMeanJudge().fit(digits.images, digits.labels)
    assert np.mean(judge.predict(test.images) == test.labels) > 0.7


def test_exports(trained):
    """The CSV has a header and a row per kept step; the GIF has a frame per snapshot."""
    import io

    from PIL import Image

    s = trained.snapshot()
    lines = gan.metrics_csv(s["history"]).splitlines()
    assert lines[0] == "step,d_loss,g_loss,d_real,d_fake"
    assert len(lines) == 1 + len(s["history"]["step"])
    gif = Image.open(io.BytesIO(gan.history_gif(s["frames"])))
    assert gif.format == "GIF" and gif.n_frames == len(s["frames"][0])


def test_shipped_checkpoints_sample_digits():
    """Each shipped checkpoint loads without TensorFlow and makes plausible digit images."""
    for preset in gan.PRESETS:
        ck = gan.load_checkpoint(gan.shipped_checkpoint_path(preset))
        x = ck.sample(200, rng=0)
        assert x.shape == (200, 28, 28) and ck.step > 1000
        # real digits are mostly dark background with some bright strokes
        assert 0.05 < x.mean() < 0.35 and (x > 0.5).mean() > 0.05


@pytest.mark.parametrize("params, expected", [
    ({}, ("mlp", 0, 0)),
    ({"preset": "dcgan", "seed": "42"}, ("dcgan", 42, 0)),
    ({"preset": "vae", "seed": "42"}, ("mlp", 42, 1)),
    ({"preset": "mlp", "seed": "-1"}, ("mlp", 0, 1)),
    ({"seed": "1.5"}, ("mlp", 0, 1)),
    ({"seed": "<script>", "preset": ""}, ("mlp", 0, 2)),
    ({"seed": str(2**31)}, ("mlp", 0, 1)),
])
def test_parse_query_falls_back_and_says_why(params, expected):
    preset, seed, problems = gan.parse_query(params)
    assert (preset, seed, len(problems)) == expected


def test_packing_feeds_d_pairs_and_is_checked(digits):
    """mlp packs pairs by default (D's input is 2 x 784); pack must divide the batch and is
    mlp-only; a checkpoint saved before packing existed loads as pack 1."""
    t = gan.GANTrainer("mlp", seed=0, images=digits.images, batch_size=16)
    assert t.settings["pack"] == 2 and t.D.input_shape == (None, 1568)
    m = t.train(3)
    assert np.all(np.isfinite(m["d_loss"])) and t.step == 3
    with pytest.raises(ValueError, match="multiple of pack"):
        gan.validate_settings("mlp", batch_size=18, pack=4)
    with pytest.raises(ValueError, match="mlp preset only"):
        gan.validate_settings("dcgan", pack=2)


def test_checkpoint_without_pack_loads_as_unpacked(tmp_path, digits):
    t = gan.GANTrainer("mlp", seed=0, images=digits.images, batch_size=16, pack=1)
    path = t.save(tmp_path / "old.npz")
    manifest = json.loads(path.with_suffix(".json").read_text())
    del manifest["settings"]["pack"]
    path.with_suffix(".json").write_text(json.dumps(manifest))
    assert gan.load_checkpoint(path).settings["pack"] == 1
    assert gan.GANTrainer.load(path, images=digits.images).D.input_shape == (None, 784)


def test_history_chart_thins_the_history_and_keeps_its_values():
    """One line per series, at most max_points points each, the values taken from history."""
    steps = np.arange(1, 1051)  # 10.5 points per kept one: a floor stride would keep 105
    history = {"step": steps, "d_loss": np.sin(steps), "g_loss": np.cos(steps)}
    spec = gan.history_chart(history, {"d_loss": ("D loss", "#111111"),
                                       "g_loss": ("G loss", "#222222")}, "loss", rule=0.5,
                             max_points=100)
    values = spec["data"]["values"]
    d = [v for v in values if v["series"] == "D loss"]
    assert 0 < len(d) <= 100 and len(values) == 2 * len(d)
    for v in d:
        assert v["value"] == pytest.approx(np.sin(v["step"]))
    assert spec["layer"][0]["encoding"]["color"]["scale"]["range"] == ["#111111", "#222222"]
    assert spec["layer"][1]["encoding"]["y"]["datum"] == 0.5
    # redrawn while training on the same cores: a canvas costs the browser less than SVG
    assert spec["usermeta"]["embedOptions"]["renderer"] == "canvas"


def test_shares_chart_marks_the_rare_digits():
    shares = np.array([0.02, *[0.98 / 9] * 9])
    spec = gan.shares_chart(shares)
    values = spec["data"]["values"]
    assert [v["digit"] for v in values] == [str(k) for k in range(10)]
    assert [v["rare"] for v in values] == [True] + [False] * 9
    assert [v["share"] for v in values] == pytest.approx(shares)
