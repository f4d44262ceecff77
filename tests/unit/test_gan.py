"""genlib.gan: the numpy-only GAN read from a checkpoint, its settings and digit shares."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from genlib import gan
from genlib.data import load_mnist
from genlib.protocol import Samples


@pytest.fixture(scope="module")
def digits():
    return load_mnist("sample").train


@pytest.fixture(scope="module")
def mlp():
    return gan.GAN.load_pretrained("mlp")


def copy_checkpoint(preset, tmp_path):
    """A private copy of a shipped checkpoint (tests never touch the shipped files)."""
    src = gan.shipped_checkpoint_path(preset)
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_import_does_not_load_tensorflow():
    """Importing genlib.gan and sampling a checkpoint never imports TensorFlow."""
    code = ("import sys; from genlib import gan; "
            "c = gan.GAN.load_pretrained('mlp'); c.sample(4, rng=0); c.snapshot(); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=gan.WEIGHTS_DIR.parents[1], check=True)
    assert out.stdout.strip() == "False False"


def test_shipped_checkpoints_sample_digits():
    """Each shipped checkpoint loads without TensorFlow and makes plausible digit images."""
    for preset in gan.PRESETS:
        ck = gan.GAN.load_pretrained(preset)
        x = ck.sample(200, rng=0).images
        assert x.shape == (200, 28, 28) and ck.step > 1000
        # real digits are mostly dark background with some bright strokes
        assert 0.05 < x.mean() < 0.35 and (x > 0.5).mean() > 0.05


def test_shipped_manifests_name_their_family_and_hash():
    """The shipped manifests carry the unified keys; their hash matches the .npz bytes."""
    from genlib import checkpoints

    for preset in gan.PRESETS:
        path = gan.shipped_checkpoint_path(preset)
        manifest = json.loads(path.with_suffix(".json").read_text())
        assert manifest["family"] == "gan" and manifest["preset"] == preset
        assert manifest["sha256"] == checkpoints.sha256_of(path.read_bytes())


def test_sample_follows_the_protocol(mlp):
    """sample(n_samples) gives Samples: float32 (n, 28, 28) in [0, 1], labels None;
    a seed repeats, None does not; a bad size raises."""
    for n in (0, 1, 7, 600):
        s = mlp.sample(n, rng=0)
        assert isinstance(s, Samples) and s.labels is None
        assert s.images.shape == (n, 28, 28) and s.images.dtype == np.float32
        if n:
            assert s.images.min() >= 0 and s.images.max() <= 1
    np.testing.assert_array_equal(mlp.sample(5, rng=1).images, mlp.sample(5, rng=1).images)
    assert not np.array_equal(mlp.sample(5).images, mlp.sample(5).images)
    with pytest.raises(ValueError, match="n_samples"):
        mlp.sample(-1)


def test_decode_checks_the_latent_shape(mlp):
    """decode(z) needs (n, latent_dim); the fixed noise gives the snapshot's grid."""
    with pytest.raises(ValueError, match="z must have shape"):
        mlp.decode(np.zeros((3, 5)))
    snap = mlp.snapshot()
    np.testing.assert_array_equal(snap["fixed"], mlp.decode(mlp.fixed_z))
    assert snap["step"] == mlp.step and snap["fixed"].shape == (64, 28, 28)
    steps, frames = snap["frames"]
    assert len(steps) == len(frames) >= 1 and frames[0].dtype == np.uint8


def test_save_load_round_trip_without_tensorflow(mlp, tmp_path):
    """GAN.save writes a checkpoint that GAN.load reads back identically."""
    back = gan.GAN.load(mlp.save(tmp_path / "copy.npz"))
    assert back.step == mlp.step and back.settings == mlp.settings
    assert back.manifest["family"] == "gan"
    for k, v in mlp.weights.items():
        np.testing.assert_array_equal(back.weights[k], v)
    np.testing.assert_array_equal(back.history["d_loss"], mlp.history["d_loss"])
    assert back.frames.steps == mlp.frames.steps and back.frames.every == mlp.frames.every
    np.testing.assert_array_equal(back.sample(4, rng=0).images, mlp.sample(4, rng=0).images)


def test_tampered_checkpoint_is_refused(tmp_path):
    """A weights file that does not match its manifest's SHA-256 gives a clear error naming it."""
    path = copy_checkpoint("mlp", tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256") as e:
        gan.GAN.load(path)
    assert str(path) in str(e.value)
    with pytest.raises(ValueError, match="no GAN checkpoint"):
        gan.GAN.load(tmp_path / "missing.npz")


def test_foreign_checkpoint_is_refused(tmp_path):
    """A checkpoint of another family is refused by name."""
    path = copy_checkpoint("mlp", tmp_path)
    mpath = path.with_suffix(".json")
    manifest = json.loads(mpath.read_text())
    mpath.write_text(json.dumps({**manifest, "family": "vae"}))
    with pytest.raises(ValueError, match="not a 'gan' one"):
        gan.GAN.load(path)


def test_checkpoint_without_pack_loads_as_unpacked(tmp_path):
    """A manifest saved before packing existed loads as pack 1."""
    path = copy_checkpoint("mlp", tmp_path)
    mpath = path.with_suffix(".json")
    manifest = json.loads(mpath.read_text())
    del manifest["settings"]["pack"]
    mpath.write_text(json.dumps(manifest))
    assert gan.GAN.load(path).settings["pack"] == 1


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


def test_packing_is_checked():
    """pack must divide the batch and is mlp-only."""
    assert gan.validate_settings("mlp")["pack"] == 2
    with pytest.raises(ValueError, match="multiple of pack"):
        gan.validate_settings("mlp", batch_size=18, pack=4)
    with pytest.raises(ValueError, match="mlp preset only"):
        gan.validate_settings("dcgan", pack=2)


@pytest.mark.parametrize("seed", [-1, 2**31, 1.5, True, "3"])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError, match="seed"):
        gan.check_seed(seed)


def test_unknown_preset_raises():
    for call in (lambda: gan.validate_settings("vae"), lambda: gan.architecture("vae", 8, "tanh"),
                 lambda: gan.shipped_checkpoint_path("vae")):
        with pytest.raises(ValueError, match="unknown preset"):
            call()


def test_frames_are_bounded_and_evenly_spread():
    """The scrubber keeps at most MAX_FRAMES grids, spread over the whole run."""
    f = gan.Frames(capacity=10, every=5)
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
