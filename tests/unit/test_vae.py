"""genlib.vae, genlib.nn and genlib.digit_upload: the numpy model, its files, uploads.

Numpy vs Keras and training: test_vae_train.py; the page's pictures and charts:
test_vae_explorer.py.
"""

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlib import checkpoints, vae
from genlib.protocol import Samples

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tutorial():
    return vae.load_model("tutorial")


@pytest.fixture(scope="module")
def conv():
    return vae.load_model("conv")


@pytest.fixture(scope="module")
def sample():
    from genlib import load_mnist

    return load_mnist("sample")


# ----------------------------------------------------------------------------- numpy layers



def _conv_transpose_by_definition(x, kernel, bias, s):
    """Keras' Conv2DTranspose ("same") pixel by pixel: each input pixel adds kernel @ x to a
    k x k patch of a (h-1)*s + k canvas (at least h*s), which is then cropped to h*s."""
    n, h, w, c = x.shape
    k, _, f, _ = kernel.shape
    full = np.zeros((n, max((h - 1) * s + k, h * s), max((w - 1) * s + k, w * s), f))
    for a in range(h):
        for b in range(w):
            full[:, a * s:a * s + k, b * s:b * s + k] += np.einsum("nc,ijfc->nijf", x[:, a, b],
                                                                  kernel)
    pad = (max((h - 1) * s + k - h * s, 0)) // 2
    return full[:, pad:pad + h * s, pad:pad + w * s] + bias




# ----------------------------------------------------------------------------- shipped models


@pytest.mark.parametrize("name", list(vae.SHIPPED))
def test_shipped_models_encode_and_decode_shapes_ranges_dtypes(name):
    """Every shipped model: decode -> float32 (n, 28, 28) in [0, 1]; encode -> (n, d) pairs."""
    model = vae.load_model(name)
    rng = np.random.default_rng(0)
    for n in (1, 3, 600):
        images = model.decode(rng.standard_normal((n, model.latent_dim)) * 3)
        assert images.dtype == np.float32 and images.shape == (n, 28, 28)
        assert images.min() >= 0 and images.max() <= 1
        mean, logvar = model.encode(images)
        assert mean.shape == logvar.shape == (n, model.latent_dim)
        assert mean.dtype == logvar.dtype == np.float32


def test_shipped_manifests_record_training():
    """Each manifest has preset, data source, epochs, seed, held-out -ELBO, date and history."""
    for name in vae.SHIPPED:
        m = vae.load_model(name).manifest
        for key in ("preset", "data_source", "epochs", "seed", "test_negative_elbo", "date"):
            assert key in m, (name, key)
        assert len(m["history"]) == m["epochs"]


@pytest.mark.parametrize("name", list(vae.SHIPPED))
def test_shipped_manifests_use_the_unified_keys(name):
    """family "vae", sha256 (of the .npz bytes), data_kind, train_seconds; no old keys."""
    path = vae.shipped_path(name)
    m = json.loads(path.with_suffix(".json").read_text())
    assert m["family"] == "vae" and m["data_kind"] == "sample" and m["train_seconds"] > 0
    assert m["sha256"] == checkpoints.sha256_of(path.read_bytes())
    assert not {"weights_sha256", "seconds"} & set(m)


def test_conv_preset_beats_tutorial_on_held_out_elbo(tutorial, conv, sample):
    """The better preset's held-out negative ELBO is lower and at most 115 nats."""
    t = tutorial.negative_elbo(sample.test.images, n_samples=2)["total"]
    c = conv.negative_elbo(sample.test.images, n_samples=2)["total"]
    assert c < t and c <= 115, (c, t)


def test_negative_elbo_terms_add_up(tutorial, sample):
    """recon + KL == total, and the KL term matches the closed form for one digit."""
    e = tutorial.negative_elbo(sample.test.images[:50])
    assert e["recon"] + e["kl"] == pytest.approx(e["total"])
    mean, logvar = tutorial.encode(sample.test.images[:1])
    var = np.exp(logvar[0].astype(np.float64))
    kl = 0.5 * np.sum(mean[0].astype(np.float64) ** 2 + var - 1 - np.log(var))
    assert tutorial.negative_elbo(sample.test.images[:1])["kl"] == pytest.approx(kl, rel=1e-5)


def test_importance_weighted_bound_is_tighter_than_elbo(tutorial, sample):
    """-IWAE with k=1 estimates the -ELBO (within 1 nat); with k=20 it is lower (tighter)."""
    x = sample.test.images
    elbo = tutorial.negative_elbo(x, n_samples=2)["total"]
    assert abs(tutorial.importance_weighted_bound(x, k=1) - elbo) < 1.0
    x = x[:100]
    assert (tutorial.importance_weighted_bound(x, k=20)
            < tutorial.negative_elbo(x, n_samples=20)["total"])


def test_sample_is_repeatable_with_a_seed(tutorial):
    """The same seed gives the same samples; no seed gives fresh ones."""
    np.testing.assert_array_equal(tutorial.sample(5, rng=7).images,
                                  tutorial.sample(5, rng=7).images)
    assert not np.array_equal(tutorial.sample(5).images, tutorial.sample(5).images)


@pytest.mark.parametrize("n", [0, 1, 7, 600])
def test_sample_follows_the_protocol(conv, n):
    """Samples(images float32 (n, 28, 28) in [0, 1], labels None): the decoded prior draws."""
    out = conv.sample(n, rng=3)
    assert isinstance(out, Samples) and out.labels is None
    assert out.images.dtype == np.float32 and out.images.shape == (n, 28, 28)
    assert n == 0 or (out.images.min() >= 0 and out.images.max() <= 1)
    z = np.random.default_rng(3).standard_normal((n, conv.latent_dim)).astype(np.float32)
    np.testing.assert_array_equal(out.images, conv.decode(z))


@pytest.mark.parametrize("n", [-1, 2.5, "3", True])
def test_sample_rejects_a_bad_size(tutorial, n):
    """A negative, fractional, string or boolean size is a clear ValueError."""
    with pytest.raises(ValueError, match="n_samples"):
        tutorial.sample(n)


def test_latent_grid_varies_the_two_chosen_dims_only(conv):
    """Grid cell (row r, col c) decodes z with dims (i, j) = (v[c], v[-1-r]), others held."""
    z = np.linspace(-1, 1, conv.latent_dim).astype(np.float32)
    images, values = vae.latent_grid(conv, z, dims=(2, 5), n=5)
    assert images.shape == (25, 28, 28)
    want = z.copy()
    want[2], want[5] = values[3], values[-1 - 1]
    np.testing.assert_allclose(images[1 * 5 + 3], conv.decode(want)[0], atol=1e-6)
    with pytest.raises(ValueError, match="two different"):
        vae.latent_grid(conv, z, dims=(1, 1))


def test_interpolation_starts_and_ends_at_the_endpoints(tutorial):
    """The strip's first and last images are the decoded endpoints."""
    a, b = np.full(4, -1.0), np.full(4, 1.5)
    strip = vae.interpolate(tutorial, a, b, n_steps=7)
    assert strip.shape == (7, 28, 28)
    np.testing.assert_allclose(strip[[0, -1]], tutorial.decode(np.stack([a, b])), atol=1e-6)


def test_decode_rejects_wrong_latent_size(tutorial):
    """A z of the wrong width is a clear ValueError, not a matmul error."""
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        tutorial.decode(np.zeros((2, 3)))


# ----------------------------------------------------------------------------- files


def _copy_shipped(tmp_path, name="tutorial"):
    src = vae.shipped_path(name)
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_save_then_load_round_trips_without_pickle(tutorial, tmp_path):
    """Saved weights reload identically, and the .npz opens with allow_pickle=False."""
    model = vae.VAE(tutorial.config, tutorial.weights, tutorial.manifest)
    path = model.save(tmp_path / "mine.npz")
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == set(tutorial.weights)
    back = vae.load_model("tutorial", path=path, fallback=False)
    z = np.random.default_rng(0).standard_normal((4, 4))
    np.testing.assert_array_equal(back.decode(z), tutorial.decode(z))
    assert json.loads(path.with_suffix(".json").read_text())["preset"] == "tutorial"


def test_save_writes_a_unified_checkpoint(tutorial, tmp_path):
    """save() goes through genlib.checkpoints: family "vae", the config, a fresh sha256."""
    model = vae.VAE(tutorial.config, tutorial.weights, tutorial.manifest)
    path = model.save(tmp_path / "mine")  # the suffix is added
    manifest, arrays = checkpoints.read(path, "vae")
    assert path.suffix == ".npz" and set(arrays) == set(tutorial.weights)
    assert manifest["family"] == "vae" and manifest["config"] == tutorial.config
    assert manifest["sha256"] == checkpoints.sha256_of(path.read_bytes())
    assert "weights_sha256" not in manifest and model.path == path


def test_load_and_load_pretrained_are_the_protocol_loaders(tmp_path):
    """VAE.load_pretrained(preset) is the shipped file; VAE.load(path) reads a saved one."""
    shipped = vae.VAE.load_pretrained("tutorial")
    assert shipped.path == vae.shipped_path("tutorial") and shipped.warning is None
    path = shipped.save(tmp_path / "copy.npz")
    back = vae.VAE.load(path)
    for k, v in shipped.weights.items():
        np.testing.assert_array_equal(back.weights[k], v)
    with pytest.raises(ValueError, match="unknown VAE preset"):
        vae.VAE.load_pretrained("resnet")


def test_a_checkpoint_of_another_family_is_refused(tmp_path):
    """A GAN's (or any other family's) manifest is not read as a VAE."""
    path = _copy_shipped(tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps({**meta, "family": "gan"}))
    with pytest.raises(ValueError, match="not a 'vae' one"):
        vae.VAE.load(path)


def test_a_manifest_without_a_config_is_refused(tmp_path):
    """Hash-valid weights whose manifest lacks the architecture: a clear ValueError."""
    path = _copy_shipped(tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta.pop("config")
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="no model configuration"):
        vae.VAE.load(path)


def test_corrupt_weights_give_a_clear_message_and_fall_back(tmp_path):
    """Truncated weights: a warning naming the file, and the shipped model is used."""
    path = _copy_shipped(tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    model = vae.load_model("tutorial", path=path)
    assert model.warning and str(path) in model.warning and "shipped" in model.warning
    assert model.path == vae.shipped_path("tutorial")
    with pytest.raises(ValueError, match="damaged or replaced"):
        vae.load_model("tutorial", path=path, fallback=False)


def test_missing_weights_give_a_clear_message_and_fall_back(tmp_path):
    """A missing file: 'file not found' in the warning, shipped model loaded."""
    model = vae.load_model("conv", path=tmp_path / "nope.npz")
    assert "file not found" in model.warning
    assert model.path == vae.shipped_path("conv")


def test_garbage_weights_without_checksum_are_rejected(tmp_path):
    """An .npz that is not an archive (manifest without a checksum) is a clear ValueError."""
    path = _copy_shipped(tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta.pop("sha256")
    path.with_suffix(".json").write_text(json.dumps(meta))
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="no sha256"):
        vae.load_model("tutorial", path=path, fallback=False)


def test_garbage_weights_with_a_matching_checksum_are_rejected(tmp_path):
    """Garbage whose hash the manifest records (a hand-made file): not a readable archive."""
    path = _copy_shipped(tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    path.write_bytes(b"not a zip file at all")
    meta["sha256"] = checkpoints.sha256_of(path.read_bytes())
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="not a readable weights archive"):
        vae.load_model("tutorial", path=path, fallback=False)


def test_damaged_shipped_weights_raise_naming_the_file(tmp_path, monkeypatch):
    """A damaged shipped file (a copy: WEIGHTS_DIR points at it) has nothing to fall back to:
    a ValueError naming the file, for the page to show."""
    path = _copy_shipped(tmp_path, "conv")
    monkeypatch.setattr(vae, "WEIGHTS_DIR", tmp_path)
    assert vae.shipped_path("conv") == path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="vae_conv.npz: damaged or replaced"):
        vae.load_model("conv")
    with pytest.raises(ValueError, match="vae_conv.npz: damaged"):
        vae.load_model("conv", path=tmp_path / "missing.npz")


def test_unknown_preset_is_a_clear_error():
    """An unknown preset name lists the choices."""
    with pytest.raises(ValueError, match="tutorial"):
        vae.load_model("resnet")


# ----------------------------------------------------------------------------- import cost


def test_importing_genlib_vae_does_not_import_tensorflow():
    """Loading a shipped model, decoding and sampling never import TensorFlow or Keras; nor
    does importing the training module (Keras loads when a trainer is built)."""
    code = ("import sys, genlib.vae as v, genlib.vae_train; m = v.load_model('conv'); "
            "m.decode([[0.0] * m.latent_dim]); m.encode(m.decode([[0.0] * m.latent_dim])); "
            "m.sample(3); print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


# ----------------------------------------------------------------------------- uploads


def _encode(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    return buf.getvalue()





