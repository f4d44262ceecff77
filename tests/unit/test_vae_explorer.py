"""ui.vae_explorer and the VAE section of ui.charts: the page's pictures, cache and charts."""

import io

import numpy as np
import pytest
from PIL import Image

from genlib import vae
from genlib.digit_upload import prepare_digit
from ui import charts, vae_explorer


@pytest.fixture(scope="module")
def conv():
    return vae.load_model("conv")


@pytest.fixture(scope="module")
def sample():
    from genlib import load_mnist

    return load_mnist("sample")


def _encode(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    return buf.getvalue()


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_latent_grid_png_shows_the_grid_and_frames_the_current_cell(conv):
    """Grey levels within one step of the decoded grid; a red frame around the cell nearest z."""
    from genlib.images import tile, to_uint8

    z = np.zeros(conv.latent_dim, np.float32)
    z[2], z[5] = 1.2, -3.0  # column 7 (0-based) of 11 (1.2 on -3..3), the bottom row
    grid = vae.latent_grid(conv, z, (2, 5), n=11)
    rgb = _rgb(vae_explorer.latent_grid_png(conv, z, (2, 5), n=11, scale=1, grid=grid))
    assert vae.grid_cell(grid[1], z, (2, 5)) == (10, 7)
    red = np.all(rgb == (209, 73, 91), axis=2)
    rows, cols = np.flatnonzero(red.any(1)), np.flatnonzero(red.any(0))
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (298, 327, 208, 239)
    gray = to_uint8(tile(grid[0], 11, pad=2, pad_value=1.0)).astype(int)
    assert np.abs(rgb[~red][:, 0] - gray[~red]).max() <= 1
    assert (rgb[~red][:, 0] == rgb[~red][:, 1]).all()
    doubled = vae_explorer.latent_grid_png(conv, z, (2, 5), n=11, scale=2, grid=grid)
    np.testing.assert_array_equal(_rgb(doubled)[::2, ::2], rgb)  # scale 2: pixels doubled


@pytest.fixture(scope="module")
def explorer(conv, sample):
    return vae_explorer.Explorer(conv, sample, max_train=1000, max_test=500)


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
    assert png == vae_explorer.latent_grid_png(conv, z, dims, n=11, scale=2)
    z2 = z.copy()
    z2[dims[0]] = 2.0  # along the grid: only the frame moves
    moved = explorer.grid_png(dims, z2)
    assert explorer.grid_decodes == before + 1 and moved != png
    assert moved == vae_explorer.latent_grid_png(conv, z2, dims, n=11, scale=2)
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
    np.testing.assert_array_equal(x, conv.sample(100, rng=7).images)
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
    inline = charts.scatter_spec(explorer.test_z, explorer.test_labels, (2, 5))
    assert {k: v for k, v in inline.items() if k != "data"} == spec
    first = inline["data"]["values"][0]
    assert first == {"x": round(float(explorer.test_z[0, 2]), 4),
                     "y": round(float(explorer.test_z[0, 5]), 4),
                     "digit": str(int(explorer.test_labels[0]))}
    assert len(columns["x"]) == len(columns["digit"]) == 500
    spec, columns = explorer.history_chart()
    values = charts.history_spec(explorer.model.history)["data"]["values"]
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
    memo, calls = vae_explorer._LRU(2), []
    for key in ("a", "b", "a", "c", "a", "b"):
        memo.get(key, lambda k=key: calls.append(k) or k.upper())
    assert calls == ["a", "b", "c", "b"] and list(memo.items) == ["a", "b"]


def test_chart_specs_use_the_shared_fonts(explorer):
    """Both VAE charts carry ui.charts' FONTS (the history legend sits below the lines)."""
    scatter, _ = explorer.scatter_chart((0, 1))
    assert scatter["config"] == charts.FONTS
    history, _ = explorer.history_chart()
    assert history["config"]["axis"] == charts.FONTS["axis"]
    assert history["config"]["legend"] == {**charts.FONTS["legend"], "orient": "bottom",
                                           "symbolSize": 400}


def test_spread_strip_is_darker_where_the_codes_are():
    """A strip over [-SPAN, SPAN]: darkest near the values, white far from them."""
    strip = vae_explorer.spread_strip(np.full(100, 1.5))
    assert strip.shape == (10, 300) and strip.dtype == np.float32
    assert np.argmin(strip[0]) == pytest.approx(225, abs=2)  # 1.5 on -3..3 over 300 bins
    assert strip.max() == pytest.approx(1.0) and strip.min() == pytest.approx(0.15)
