"""The playground's data: the land mask, the toys' supports, splits, users' CSVs."""

import time

import numpy as np
import pytest

from genlib import playground_data as pdata

LAND = {"Paris": (2.35, 48.85), "Sahara": (10.0, 23.0), "Amazon": (-60.0, -3.0),
        "Siberia": (100.0, 60.0), "Australia": (134.0, -25.0), "Greenland": (-40.0, 72.0),
        "Denver": (-105.0, 39.7), "Kinshasa": (15.3, -4.3), "Tokyo": (139.7, 35.7)}
OCEAN = {"Pacific": (-150.0, 0.0), "North Atlantic": (-40.0, 30.0), "Indian": (80.0, -20.0),
         "Southern": (0.0, -55.0), "Mediterranean": (18.0, 35.0), "Tasman Sea": (160.0, -40.0),
         "Null Island": (0.0, 0.0), "Arctic": (0.0, 88.0)}


@pytest.mark.parametrize("place", LAND)
def test_known_land_is_land(place):
    """Continents' interiors and big cities are land in the shipped mask."""
    lon, lat = LAND[place]
    assert pdata.is_land([lon], [lat])[0]


@pytest.mark.parametrize("place", OCEAN)
def test_known_ocean_is_ocean(place):
    """Open oceans and seas are not land."""
    lon, lat = OCEAN[place]
    assert not pdata.is_land([lon], [lat])[0]


def test_antarctica_and_out_of_range_are_not_land():
    """Antarctica is left out of the map; impossible coordinates are never land."""
    assert not pdata.is_land([0.0, 200.0, np.nan], [-80.0, 0.0, 0.0]).any()


def test_land_share_is_close_to_earths():
    """About 29% of the Earth is land; the flat map without Antarctica shows 20-30%."""
    mask, cell = pdata.land_mask()
    assert mask.shape == (int(180 / cell), int(360 / cell))
    assert 0.20 <= mask.mean() <= 0.30


@pytest.mark.parametrize("name", list(pdata.DATASETS))
def test_real_points_lie_on_their_support(name):
    """Train and held-out points are on the known support (the toys' band is 3 sigma wide)."""
    d = pdata.make_dataset(name, 3000, 0.1, seed=1)
    assert d.on_support(d.train).mean() >= 0.99
    assert d.on_support(d.held_out).mean() >= 0.99


@pytest.mark.parametrize("name", list(pdata.DATASETS))
def test_far_points_are_off_support(name):
    """A point far outside the shape is off-support for every dataset."""
    d = pdata.make_dataset(name, 500, 0.1, seed=0)
    assert not d.on_support([[30.0, 30.0]])[0]


def test_toy_supports_exclude_their_holes():
    """The ring's centre, the spaces between the eight Gaussians, the light squares."""
    assert not pdata.on_support("ring", [[0.0, 0.0]], 0.1)[0]
    assert not pdata.on_support("eight", [[0.0, 0.0], [2.5 * np.cos(np.pi / 8),
                                                       2.5 * np.sin(np.pi / 8)]], 0.1).any()
    assert not pdata.on_support("checker", [[0.75, -0.75]], 0.0)[0]  # a light square
    assert pdata.on_support("checker", [[0.75, 0.75]], 0.0)[0]  # a dark one


def test_split_sizes_and_seed():
    """n points split by the held-out share; the same seed gives the same points."""
    a = pdata.make_dataset("moons", 1000, 0.05, seed=3, held_out=0.2)
    b = pdata.make_dataset("moons", 1000, 0.05, seed=3, held_out=0.2)
    c = pdata.make_dataset("moons", 1000, 0.05, seed=4, held_out=0.2)
    assert a.train.shape == (800, 2) and a.held_out.shape == (200, 2)
    np.testing.assert_array_equal(a.train, b.train)
    assert not np.allclose(a.train, c.train)


def test_noise_widens_the_toys():
    """More noise: points spread further from the noiseless ring."""
    tight = pdata.make_dataset("ring", 2000, 0.02, 0).train
    loose = pdata.make_dataset("ring", 2000, 0.3, 0).train
    spread = [np.std(np.linalg.norm(p, axis=1)) for p in (tight, loose)]
    assert spread[1] > 5 * spread[0]


@pytest.mark.parametrize("kw", [{"name": "mars"}, {"n": 5}, {"n": 10**9}, {"noise": -1},
                                {"noise": float("nan")}, {"held_out": 0.99}, {"seed": -1}])
def test_bad_dataset_arguments_are_refused(kw):
    """A clear ValueError for an unknown name, a bad n, noise, share or seed."""
    args = {"name": "ring", "n": 500, "noise": 0.1, "seed": 0, "held_out": 0.3, **kw}
    with pytest.raises(ValueError):
        pdata.make_dataset(**args)


# ----------------------------------------------------------------------------- CSVs

def _csv(rows, header="x,y"):
    return ((header + "\n") if header else "").encode() + "".join(
        f"{x},{y}\n" for x, y in rows).encode()


def test_csv_with_header_is_read():
    """x,y rows under a header line are read as float points, in order."""
    rows = np.random.default_rng(0).normal(size=(50, 2))
    points = pdata.read_points_csv(_csv(rows), "mine.csv")
    np.testing.assert_allclose(points, rows)


def test_csv_without_header_and_with_semicolons_and_extra_columns():
    """No header, semicolons, a third column: the first two columns are x and y."""
    text = "".join(f"{i};{2 * i};label\n" for i in range(30)).encode()
    points = pdata.read_points_csv(text)
    np.testing.assert_allclose(points[:, 1], 2 * points[:, 0])


@pytest.mark.parametrize("data, words", [
    (b"x,y\n" + b"1,2\n" * 30 + b"3,hello\n", "'hello' is not a number"),
    (b"x\n" + b"1\n" * 30, "one column"),
    (b"x,y\n" + b"1,2\n" * 30 + b"3,NaN\n", "missing or non-finite"),
    (b"x,y\n" + b"1,2\n" * 30 + b"3,\n", "missing or non-finite"),
    (b"x,y\n1,2\n3,4\n", "at least 20"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not a text CSV"),
    (b"x,y\n" + b"\xff\xfe1,2\n" * 30, "not a text CSV"),
])
def test_bad_csvs_name_the_problem(data, words):
    """Text, one column, NaN, too few rows, binary: a ValueError saying which and where."""
    with pytest.raises(ValueError, match=words):
        pdata.read_points_csv(data, "bad.csv")


def test_ten_million_rows_are_refused_at_once():
    """A 10-million-row file is refused by its size before any parsing (well under a second)."""
    data = b"1,2\n" * 10_000_000
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="at most"):
        pdata.read_points_csv(data, "huge.csv")
    assert time.perf_counter() - t0 < 5  # generous: the size check reads nothing


def test_more_rows_than_the_limit_stop_the_reading():
    """A small file with too many rows is refused when the limit is passed, not at its end."""
    data = b"1,2\n" * (pdata.MAX_POINTS + 1)
    with pytest.raises(ValueError, match=f"more than {pdata.MAX_POINTS:,} points"):
        pdata.read_points_csv(data, "long.csv")


def test_uploaded_points_are_rescaled_and_their_support_estimated():
    """Points in any units fit the canvas; 99% of held-out points are on the estimated
    support; a far point is not."""
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(1000, 2)) * [300.0, 100.0] + [5000.0, -20.0]
    d = pdata.from_points(raw, seed=0)
    assert np.abs(np.vstack([d.train, d.held_out])).max() <= 3.0 + 1e-9
    assert d.on_support(d.held_out).mean() >= 0.98
    assert not d.on_support([[3.5, 3.5]])[0]


def test_identical_points_are_refused():
    """Every point the same: nothing to learn, and said so."""
    with pytest.raises(ValueError, match="the same"):
        pdata.from_points(np.ones((50, 2)))
