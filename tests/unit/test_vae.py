"""genlib.vae, genlib.nn and genlib.digit_upload: numpy passes match Keras, files, uploads."""

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlib import nn, vae
from genlib.digit_upload import prepare_digit

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


def _random_weights(encoder, decoder, config, seed=0):
    """Give every Keras weight (biases too) a random value, so the comparison covers it."""
    rng = np.random.default_rng(seed)
    for model in (encoder, decoder):
        for w in model.weights:
            w.assign(rng.normal(0, 0.15, w.shape).astype(np.float32))
    return vae.keras_weights(encoder, decoder, config)


# ----------------------------------------------------------------------------- numpy vs Keras


@pytest.mark.parametrize("preset", ["tutorial", "conv"])
def test_numpy_decoder_and_encoder_match_keras(preset):
    """The numpy forward passes give Keras' outputs to 1e-5 (random weights, biases included)."""
    import keras

    config = {k: v for k, v in vae.PRESETS[preset].items() if k != "epochs"}
    config["latent_dim"] = 6
    encoder, decoder = vae.build_keras(config)
    model = vae.VAE(config, _random_weights(encoder, decoder, config))
    rng = np.random.default_rng(1)
    z = rng.standard_normal((9, 6)).astype(np.float32)
    x = rng.random((9, 28, 28)).astype(np.float32)
    want = keras.ops.convert_to_numpy(keras.ops.sigmoid(decoder(z))).reshape(9, 28, 28)
    np.testing.assert_allclose(model.decode(z), want, atol=1e-5)
    mean, logvar = (keras.ops.convert_to_numpy(a) for a in encoder(x))
    got_mean, got_logvar = model.encode(x)
    np.testing.assert_allclose(got_mean, mean, atol=1e-5 * max(1, np.abs(mean).max()))
    np.testing.assert_allclose(got_logvar, logvar, atol=1e-5 * max(1, np.abs(logvar).max()))


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv(x), y> == <x, conv_transpose(y)> for the same kernel: the transpose is exact."""
    rng = np.random.default_rng(0)
    k = rng.standard_normal((4, 4, 3, 5)).astype(np.float64)
    x = rng.standard_normal((2, 14, 14, 3))
    y = rng.standard_normal((2, 7, 7, 5))
    lhs = np.sum(nn.conv2d(x, k, 0.0, strides=2) * y)
    rhs = np.sum(x * nn.conv2d_transpose(y, k, 0.0, strides=2))  # same (k, k, 3, 5) layout
    assert lhs == pytest.approx(rhs, rel=1e-10)


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


@pytest.mark.parametrize("n, h, w, c, k, s, f", [
    (3, 7, 7, 6, 4, 2, 9),   # many output channels: the phase method
    (2, 14, 14, 6, 4, 2, 1),  # one output channel (a decoder's last layer): scattering
    (2, 5, 6, 3, 3, 2, 4),   # odd kernel, stride not dividing it, non-square input
    (2, 4, 4, 3, 5, 3, 5),   # stride 3
    (1, 3, 5, 2, 3, 1, 4),   # stride 1
    (2, 3, 3, 2, 2, 4, 3),   # stride larger than the kernel
])
def test_conv_transpose_methods_match_the_definition(n, h, w, c, k, s, f):
    """Both exact methods (and the dispatcher) give the by-definition result."""
    rng = np.random.default_rng(k * 10 + s)
    x = rng.standard_normal((n, h, w, c))
    kernel, bias = rng.standard_normal((k, k, f, c)), rng.standard_normal(f)
    want = _conv_transpose_by_definition(x, kernel, bias, s)
    for fn in (nn.conv2d_transpose, nn._conv_t_phases, nn._conv_t_scatter):
        np.testing.assert_allclose(fn(x, kernel, bias, s), want, atol=1e-10, err_msg=fn.__name__)


def test_sigmoid_is_exact_and_quiet_at_the_extremes():
    """Same values as 1 / (1 + exp(-x)) in float64, float32 kept, no overflow warning."""
    x = np.array([-1000.0, -88.0, -20.0, -1.0, 0.0, 1.0, 20.0, 88.0, 1000.0], np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is fine
        got = nn.sigmoid(x)
    assert got.dtype == np.float32
    want = 1 / (1 + np.exp(-x.astype(np.float64).clip(-700, 700)))
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=1e-6, atol=1e-44)
    assert got[0] == 0 and got[-1] == 1 and got[4] == 0.5
    assert nn.sigmoid(np.float64(3.0)) == pytest.approx(1 / (1 + np.exp(-3.0)), rel=1e-15)



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
    np.testing.assert_array_equal(tutorial.sample(5, rng=7), tutorial.sample(5, rng=7))
    assert not np.array_equal(tutorial.sample(5), tutorial.sample(5))


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


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_latent_grid_png_shows_the_grid_and_frames_the_current_cell(conv):
    """Grey levels within one step of the decoded grid; a red frame around the cell nearest z."""
    from genlib.images import tile, to_uint8

    z = np.zeros(conv.latent_dim, np.float32)
    z[2], z[5] = 1.2, -3.0  # column 7 (0-based) of 11 (1.2 on -3..3), the bottom row
    grid = vae.latent_grid(conv, z, (2, 5), n=11)
    rgb = _rgb(vae.latent_grid_png(conv, z, (2, 5), n=11, scale=1, grid=grid))
    assert vae.grid_cell(grid[1], z, (2, 5)) == (10, 7)
    red = np.all(rgb == (209, 73, 91), axis=2)
    rows, cols = np.flatnonzero(red.any(1)), np.flatnonzero(red.any(0))
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (298, 327, 208, 239)
    gray = to_uint8(tile(grid[0], 11, pad=2, pad_value=1.0)).astype(int)
    assert np.abs(rgb[~red][:, 0] - gray[~red]).max() <= 1
    assert (rgb[~red][:, 0] == rgb[~red][:, 1]).all()
    np.testing.assert_array_equal(  # scale 2 is the same picture, pixels doubled
        _rgb(vae.latent_grid_png(conv, z, (2, 5), n=11, scale=2, grid=grid))[::2, ::2], rgb)


@pytest.fixture(scope="module")
def explorer(conv, sample):
    return vae.Explorer(conv, sample, max_train=1000, max_test=500)


def test_explorer_encodes_a_seeded_subset_and_orders_dims(explorer, conv, sample):
    """Encodings, class means, order by spread, strips: as computed directly, read-only."""
    assert explorer.train_z.shape == (1000, conv.latent_dim)
    assert explorer.test_z.shape == (500, conv.latent_dim) and len(explorer.test_labels) == 500
    var = explorer.train_z.var(axis=0)
    assert explorer.order == sorted(range(conv.latent_dim), key=lambda i: -var[i])
    assert sorted(explorer.active + explorer.unused) == list(range(conv.latent_dim))
    assert len(explorer.strips) == conv.latent_dim and explorer.strips[0][:4] == b"\x89PNG"
    for a in (explorer.train_z, explorer.test_z, explorer.means):
        assert not a.flags.writeable


def test_explorer_grid_is_decoded_once_per_position_of_the_other_dims(explorer, conv):
    """Moving a grid dim reuses the decoded grid; moving any other dim decodes a new one."""
    z = np.zeros(conv.latent_dim, np.float32)
    dims = (explorer.order[0], explorer.order[1])
    other = explorer.order[2]
    before = explorer.grid_decodes
    png = explorer.grid_png(dims, z)
    assert explorer.grid_decodes == before + 1
    assert png == vae.latent_grid_png(conv, z, dims, n=11, scale=2)
    z2 = z.copy()
    z2[dims[0]] = 2.0  # along the grid: only the frame moves
    moved = explorer.grid_png(dims, z2)
    assert explorer.grid_decodes == before + 1 and moved != png
    assert moved == vae.latent_grid_png(conv, z2, dims, n=11, scale=2)
    z2[dims[0]] = 2.05  # the same cell: the same picture
    assert explorer.grid_png(dims, z2) is moved
    z3 = z.copy()
    z3[other] = 1.5  # off the grid: a new grid
    images = explorer.grid(dims, z3)[0]
    assert explorer.grid_decodes == before + 2 and not images.flags.writeable
    np.testing.assert_array_equal(images, vae.latent_grid(conv, z3, dims, n=11)[0])
    with pytest.raises(ValueError, match="two different"):
        explorer.grid_png((dims[0], dims[0]), z)


def test_explorer_pictures_are_seeded_and_kept(explorer, conv, sample):
    """Samples, reconstructions, interpolations: what the model gives for the seed, kept."""
    x, png = explorer.samples(7)
    np.testing.assert_array_equal(x, conv.sample(100, rng=7))
    assert explorer.samples(7)[1] is png and not x.flags.writeable
    idx = explorer.held_out_digits(3)
    assert [int(sample.test.labels[i]) for i in idx] == list(range(10))
    assert explorer.held_out_digits(3) == idx and explorer.held_out_digits(4) != idx
    recon = _rgb(explorer.reconstructions_png(3))
    assert recon.shape == (2 * 30 * 4 - 8, 10 * 30 * 4 - 8, 3)
    means = explorer.interpolation_png(1, 7)
    digits = explorer.interpolation_png(1, 7, "one held-out digit of each", seed=3)
    assert means != digits and explorer.interpolation_png(1, 7) is means


def test_explorer_charts_match_the_inline_specs(explorer):
    """scatter_chart / history_chart columns are the data of scatter_spec / history_spec."""
    spec, columns = explorer.scatter_chart((2, 5))
    inline = vae.scatter_spec(explorer.test_z, explorer.test_labels, (2, 5))
    assert {k: v for k, v in inline.items() if k != "data"} == spec
    first = inline["data"]["values"][0]
    assert first == {"x": round(float(explorer.test_z[0, 2]), 4),
                     "y": round(float(explorer.test_z[0, 5]), 4),
                     "digit": str(int(explorer.test_labels[0]))}
    assert len(columns["x"]) == len(columns["digit"]) == 500
    spec, columns = explorer.history_chart()
    values = vae.history_spec(explorer.model.history)["data"]["values"]
    assert len(values) == len(columns["nats"]) == 4 * explorer.model.manifest["epochs"]
    assert values[0] == {"epoch": 1, "nats": explorer.model.history[0]["recon"],
                         "term": "reconstruction", "split": "training", "series": "recon"}


def test_explorer_your_digit_and_bad_uploads(explorer, sample):
    """An upload is prepared, encoded and kept by its key; a bad one is a ValueError each time."""
    data = _encode((sample.test.images[7] * 255).astype(np.uint8), "PNG")
    digit, mean, png = explorer.your_digit("file-1", data)
    np.testing.assert_array_equal(digit, prepare_digit(data))
    np.testing.assert_allclose(mean, explorer.model.encode(digit)[0][0])
    assert explorer.your_digit("file-1", data)[2] is png
    for _ in range(2):
        with pytest.raises(ValueError, match="not an image"):
            explorer.your_digit("file-2", b"not an image at all" * 5)


def test_explorer_memos_are_bounded():
    """The least recently used entry goes when a memo is full; make() runs once per key."""
    memo, calls = vae._LRU(2), []
    for key in ("a", "b", "a", "c", "a", "b"):
        memo.get(key, lambda k=key: calls.append(k) or k.upper())
    assert calls == ["a", "b", "c", "b"] and list(memo.items) == ["a", "b"]


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


def test_corrupt_weights_give_a_clear_message_and_fall_back(tmp_path):
    """Truncated weights: a warning naming the file, and the shipped model is used."""
    path = _copy_shipped(tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    model = vae.load_model("tutorial", path=path)
    assert model.warning and str(path) in model.warning and "shipped" in model.warning
    assert model.path == vae.shipped_path("tutorial")
    with pytest.raises(ValueError, match="do not match their manifest"):
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
    meta.pop("weights_sha256")
    path.with_suffix(".json").write_text(json.dumps(meta))
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable weights archive"):
        vae.load_model("tutorial", path=path, fallback=False)


def test_unknown_preset_is_a_clear_error():
    """An unknown preset name lists the choices."""
    with pytest.raises(ValueError, match="tutorial"):
        vae.load_model("resnet")


# ----------------------------------------------------------------------------- training


def test_short_training_lowers_loss_and_terms_add_up(sample):
    """Three tiny epochs: the loss falls, and every report has loss == recon + beta * KL."""
    reports = []
    model = vae.train(sample.train.images[:1000], preset="tutorial", epochs=3, beta=0.5,
                      callback=reports.append)
    losses = [row["loss"] for row in model.history]
    assert losses[-1] < losses[0]
    assert reports and all(r["loss"] == pytest.approx(r["recon"] + 0.5 * r["kl"])
                           for r in reports)
    assert reports[-1]["epoch"] == 3 and reports[-1]["step"] == reports[-1]["steps"] == 10


def test_callback_returning_false_stops_training(sample):
    """A callback returning False (the page's Cancel) ends training after that report."""
    model = vae.train(sample.train.images[:1000], preset="tutorial", epochs=5,
                      callback=lambda p: False)
    assert model.manifest["stopped_early"] and model.manifest["steps"] == 10


def test_training_command_retrains_a_preset_to_an_output(tmp_path):
    """`python -m genlib.train vae` for a few steps writes a loadable .npz + manifest."""
    out = tmp_path / "w" / "vae_tutorial.npz"
    vae.cli(["--preset", "tutorial", "--latent-dim", "3", "--epochs", "1", "--max-steps", "4",
             "--output", str(out), "--quiet"])
    model = vae.load_model("tutorial", path=out, fallback=False)
    assert model.latent_dim == 3 and model.manifest["steps"] == 4
    assert model.manifest["data_source"].startswith("MNIST sample")
    assert np.isfinite(model.manifest["test_negative_elbo"])


# ----------------------------------------------------------------------------- import cost


def test_importing_genlib_vae_does_not_import_tensorflow():
    """Loading a shipped model and decoding never imports TensorFlow or Keras."""
    code = ("import sys, genlib.vae as v; m = v.load_model('conv'); m.decode([[0.0] * "
            "m.latent_dim]); m.encode(m.decode([[0.0] * m.latent_dim])); "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


# ----------------------------------------------------------------------------- uploads


def _encode(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    return buf.getvalue()


def test_upload_of_a_dark_on_light_photo_recovers_the_digit(sample):
    """A big JPEG of an MNIST digit, black ink on white, off-centre, comes back MNIST-like."""
    digit = sample.test.images[3]
    big = np.asarray(Image.fromarray((digit * 255).astype(np.uint8)).resize((280, 280)))
    canvas = np.zeros((500, 700), np.uint8)
    canvas[40:320, 300:580] = big
    got = prepare_digit(_encode(255 - canvas, "JPEG"))
    assert got.dtype == np.float32 and got.shape == (28, 28)
    assert got.min() >= 0 and got.max() <= 1
    corr = np.corrcoef(got.ravel(), digit.ravel())[0, 1]
    assert corr > 0.85, corr


def test_upload_of_light_on_dark_png_keeps_polarity(sample):
    """A light-on-dark PNG (MNIST's own look) is not inverted."""
    digit = sample.test.images[7]
    got = prepare_digit(_encode((digit * 255).astype(np.uint8), "PNG"))
    assert np.corrcoef(got.ravel(), digit.ravel())[0, 1] > 0.9


def test_upload_centres_the_centre_of_mass():
    """A blob in a corner ends up with its centre of mass within a pixel of (14, 14)."""
    img = np.full((100, 100), 255, np.uint8)
    img[5:40, 60:75] = 0
    got = prepare_digit(_encode(img, "PNG"))
    yy, xx = np.indices(got.shape)
    assert abs((yy * got).sum() / got.sum() - 14) <= 1
    assert abs((xx * got).sum() / got.sum() - 14) <= 1
    assert max(np.ptp(np.flatnonzero(got.any(0))), np.ptp(np.flatnonzero(got.any(1)))) < 20


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"hello, this is a text file" * 10, "not an image"),
    (_encode(np.full((50, 50), 200, np.uint8), "PNG"), "no digit"),
])
def test_malformed_uploads_give_clear_messages(data, message):
    """Empty files, non-images and blank images raise ValueError with a readable message."""
    with pytest.raises(ValueError, match=message):
        prepare_digit(data)


def test_huge_image_is_refused_before_decoding():
    """An image declaring 100 megapixels is refused from its header, without decoding it."""
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, format="PNG")  # tiny file, huge canvas
    with pytest.raises(ValueError, match="megapixels"):
        prepare_digit(buf.getvalue())


def test_truncated_image_is_a_clear_error(sample):
    """A PNG cut in half is reported as damaged."""
    data = _encode((sample.test.images[0] * 255).astype(np.uint8), "PNG")
    with pytest.raises(ValueError, match="damaged|truncated|not an image"):
        prepare_digit(data[: len(data) // 2])
