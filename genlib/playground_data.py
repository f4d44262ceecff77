"""The 2-D playground's data: the world map (points on land), five toy shapes, users' CSVs.

Every dataset has a known **support** (where real points can be): land for the world map, a
band of ``3 * noise + SUPPORT_MARGIN`` around the noiseless shape for the toys; for a user's
CSV it is estimated from the points (see :func:`estimated_support`). The playground's A / B / C
classification (:mod:`genlib.playground_abc`) asks it.

Coordinates: the world map is longitude / 45 and latitude / 45 (x in [-4, 4]); the toys fit
in about [-3.5, 3.5]. Numpy and scipy only.
"""

from __future__ import annotations

import functools
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["DATASETS", "PointSet", "make_dataset", "from_points", "on_support", "is_land",
           "land_mask", "read_points_csv", "MAX_POINTS", "MAX_CSV_BYTES"]

MASK_PATH = Path(__file__).resolve().parent / "weights" / "land_mask.npz"
DEG = 45.0  # degrees per unit on the world map
DATASETS = {"world": "World map (points on land)", "ring": "Ring", "moons": "Two moons",
            "eight": "Eight Gaussians", "spiral": "Spiral", "checker": "Checkerboard"}
SUPPORT_MARGIN = 0.05
MAX_N = 20_000  # points per dataset (train + held-out)
MAX_POINTS = 100_000  # rows in a user's CSV
MAX_CSV_BYTES = 16 * 2**20
MIN_POINTS = 20
EXTENTS = {"world": (-4.0, 4.0, -1.45, 1.95)}
TOY_EXTENT = (-3.6, 3.6, -3.6, 3.6)


@dataclass(frozen=True)
class PointSet:
    """A dataset split in two: ``train`` (n_train, 2) and ``held_out`` (n_held, 2), float64.

    ``name`` is a key of :data:`DATASETS` or ``"upload"``; ``noise`` the toys' noise std;
    ``extent`` (x0, x1, y0, y1) what a canvas shows; ``source`` a line for the page.
    """

    name: str
    train: np.ndarray
    held_out: np.ndarray
    noise: float = 0.0
    extent: tuple = TOY_EXTENT
    source: str = ""
    support_radius: float | None = None  # an upload's estimated support (see estimated_support)

    def on_support(self, points) -> np.ndarray:
        """Boolean (m,): which points lie on this dataset's support."""
        if self.name == "upload":
            return _near(self.train, points, self.support_radius)
        return on_support(self.name, points, self.noise)


# ----------------------------------------------------------------------------- the land mask


@functools.lru_cache(maxsize=1)
def land_mask() -> tuple[np.ndarray, float]:
    """(mask (rows, cols) bool, cell size in degrees); row 0 is the band below 90 N, column 0
    the band east of 180 W. Built offline by ``tools/build_land_mask.py``."""
    try:
        with np.load(MASK_PATH) as f:
            shape = tuple(int(s) for s in f["shape"])
            mask = np.unpackbits(f["bits"])[: shape[0] * shape[1]].reshape(shape).astype(bool)
            cell = float(f["cell_deg"])
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"the land mask {MASK_PATH} cannot be read ({e}); rebuild it with "
                         "tools/build_land_mask.py") from None
    mask.setflags(write=False)
    return mask, cell


def is_land(lon, lat) -> np.ndarray:
    """True where (lon, lat) in degrees is land (Antarctica excluded); out of range: False."""
    mask, cell = land_mask()
    lon, lat = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    inside = (np.abs(lon) <= 180) & (np.abs(lat) <= 90) & np.isfinite(lon) & np.isfinite(lat)
    rows = np.clip(((90.0 - np.nan_to_num(lat)) / cell).astype(np.int64), 0, mask.shape[0] - 1)
    cols = np.clip(((np.nan_to_num(lon) + 180.0) / cell).astype(np.int64), 0, mask.shape[1] - 1)
    return mask[rows, cols] & inside


def _world(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform on land (cells weighted by their area, cos latitude, as a globe's
    land is not; a flat map is what the canvas shows, so uniform on the flat map)."""
    mask, cell = land_mask()
    rows, cols = np.nonzero(mask)
    pick = rng.integers(0, len(rows), n)
    lat = 90.0 - (rows[pick] + rng.random(n)) * cell
    lon = -180.0 + (cols[pick] + rng.random(n)) * cell
    return np.column_stack([lon, lat]) / DEG


# ----------------------------------------------------------------------------- the toys

def _curve(name: str) -> np.ndarray:
    """Dense points on the noiseless shape (for sampling and for the support)."""
    return _curves()[name]


@functools.lru_cache(maxsize=1)
def _curves() -> dict:
    t = np.linspace(0.0, 1.0, 6000)
    theta = np.pi * t
    upper = np.column_stack([np.cos(theta), np.sin(theta)])
    lower = np.column_stack([1.0 - np.cos(theta), 0.5 - np.sin(theta)])
    moons = (np.vstack([upper, lower]) - [0.5, 0.25]) * 1.8
    a = np.linspace(np.pi / 2, 4 * np.pi, 12000)
    spiral = 0.28 * a[:, None] * np.column_stack([np.cos(a), np.sin(a)])
    angles = np.arange(8) * np.pi / 4
    eight = 2.5 * np.column_stack([np.cos(angles), np.sin(angles)])
    return {"moons": moons, "spiral": spiral, "eight": eight}


_CELLS = np.array([(i, j) for i in range(-2, 2) for j in range(-2, 2) if (i + j) % 2 == 0],
                  np.float64) * 1.5  # the checkerboard's 8 dark squares (lower-left corners)
_SQUARE = 1.5


def _toy(name: str, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    if name == "ring":
        a = rng.uniform(0, 2 * np.pi, n)
        clean = 2.5 * np.column_stack([np.cos(a), np.sin(a)])
    elif name == "checker":
        clean = _CELLS[rng.integers(0, len(_CELLS), n)] + rng.random((n, 2)) * _SQUARE
    elif name == "spiral":  # uniform along the arc: the curve's points are denser inside
        curve = _curve("spiral")
        seg = np.linalg.norm(np.diff(curve, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        at = rng.random(n) * cum[-1]
        clean = np.column_stack([np.interp(at, cum, curve[:, i]) for i in range(2)])
    elif name == "moons":
        curve = _curve("moons")
        clean = curve[rng.integers(0, len(curve), n)]
    elif name == "eight":
        clean = _curve("eight")[rng.integers(0, 8, n)]
    else:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return clean + noise * rng.standard_normal((n, 2))


def support_tolerance(noise: float) -> float:
    """How far from the noiseless shape a point may be and still count as on the support."""
    return 3.0 * float(noise) + SUPPORT_MARGIN


def on_support(name: str, points, noise: float = 0.0) -> np.ndarray:
    """Boolean (m,): on the known support of dataset ``name`` with this noise."""
    p = _as_points(points, "points")
    if name == "world":
        return is_land(p[:, 0] * DEG, p[:, 1] * DEG)
    tol = support_tolerance(noise)
    if name == "ring":
        return np.abs(np.linalg.norm(p, axis=1) - 2.5) <= tol
    if name == "checker":
        lo = _CELLS[None, :, :]
        gap = np.maximum(np.maximum(lo - p[:, None, :], 0.0), p[:, None, :] - (lo + _SQUARE))
        return np.min(np.linalg.norm(gap, axis=2), axis=1) <= tol
    if name in ("moons", "spiral", "eight"):
        return _near(_curve(name), p, tol)
    raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


def _near(reference: np.ndarray, points: np.ndarray, radius: float) -> np.ndarray:
    dist, _ = cKDTree(reference).query(points, k=1)
    return dist <= radius


# ----------------------------------------------------------------------------- datasets

def _check(n, noise, held_out, seed) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not MIN_POINTS <= n <= MAX_N:
        raise ValueError(f"n must be a whole number from {MIN_POINTS} to {MAX_N:,}, got {n!r}")
    if not (isinstance(noise, int | float) and math.isfinite(noise) and 0 <= noise <= 1):
        raise ValueError(f"noise must be a number from 0 to 1, got {noise!r}")
    if not (isinstance(held_out, int | float) and 0.05 <= held_out <= 0.8):
        raise ValueError(f"the held-out share must be from 0.05 to 0.8, got {held_out!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")


def make_dataset(name: str, n: int = 2000, noise: float = 0.1, seed: int = 0,
                 held_out: float = 0.3) -> PointSet:
    """``n`` points of dataset ``name``, split into train and held-out (share ``held_out``).

    The world map's points are uniform on land whatever ``noise`` says (it has no noiseless
    shape to blur); the toys get Gaussian noise of std ``noise``.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    _check(n, noise, held_out, seed)
    rng = np.random.default_rng(seed)
    if name == "world":
        points, noise = _world(int(n), rng), 0.0
    else:
        points = _toy(name, int(n), float(noise), rng)
    return _split(name, points, held_out, rng, float(noise), EXTENTS.get(name, TOY_EXTENT),
                  DATASETS[name])


def _split(name, points, held_out, rng, noise, extent, source, **kw) -> PointSet:
    order = rng.permutation(len(points))
    n_held = max(1, int(round(len(points) * held_out)))
    return PointSet(name, points[order[n_held:]], points[order[:n_held]], noise, extent,
                    source, **kw)


def estimated_support(train: np.ndarray, held_out: np.ndarray) -> float:
    """An upload's support radius: a point is on it when it is within the 99th percentile of
    the held-out points' distances to their nearest training point (so 99% of real held-out
    points are on it), at least 1% of the data's spread."""
    dist, _ = cKDTree(train).query(held_out, k=1)
    spread = float(np.ptp(np.vstack([train, held_out]), axis=0).max())
    return max(float(np.quantile(dist, 0.99)), 0.01 * spread)


def from_points(points, seed: int = 0, held_out: float = 0.3, source: str = "upload"
                ) -> PointSet:
    """A user's points, rescaled to fit the canvas (centred; the longest side spans 6 units,
    aspect kept), split like :func:`make_dataset`; its support is estimated."""
    p = _as_points(points, source)
    if len(p) < MIN_POINTS:
        raise ValueError(f"{source}: {len(p)} points; the playground needs at least {MIN_POINTS}")
    _check(MIN_POINTS, 0.0, held_out, seed)
    lo, hi = p.min(axis=0), p.max(axis=0)
    span = float((hi - lo).max())
    if span <= 0:
        raise ValueError(f"{source}: every point is the same; nothing to learn")
    p = (p - (lo + hi) / 2) * (6.0 / span)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(p))
    n_held = max(2, int(round(len(p) * held_out)))
    train, held = p[order[n_held:]], p[order[:n_held]]
    return PointSet("upload", train, held, 0.0, (-3.6, 3.6, -3.6, 3.6), source,
                    support_radius=estimated_support(train, held))


def _as_points(points, where: str) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"{where}: points must have shape (m, 2), got {p.shape}")
    return p


# ----------------------------------------------------------------------------- users' CSVs

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_MISSING = {"", "nan", "na", "n/a", "null", "none", "inf", "+inf", "-inf", "infinity",
            "-infinity"}


def read_points_csv(data: bytes, where: str = "the file") -> np.ndarray:
    """Parse a CSV of x, y (an optional header line; commas, semicolons, tabs or spaces).

    Read line by line and stopped as soon as it holds more than :data:`MAX_POINTS` rows, so
    a 10-million-row file costs no more than a small one. Extra columns after the first two
    are ignored. Raises ValueError naming the row and the reason otherwise.
    """
    if len(data) > MAX_CSV_BYTES:
        raise ValueError(f"{where} is {len(data) / 2**20:.1f} MB; the playground reads at most "
                         f"{MAX_CSV_BYTES // 2**20} MB ({MAX_POINTS:,} points)")
    if b"\x00" in data[:4096]:
        raise ValueError(f"{where} is not a text CSV file (it holds binary data)")
    try:
        text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
        rows, header_seen = [], False
        for line_no, line in enumerate(text, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = [f.strip().strip('"').strip("'") for f in re.split(r"[,;\t ]+", line)]
            if len(fields) < 2:
                raise ValueError(f"{where}, line {line_no}: one column ({_shown(line)}); "
                                 "the playground needs two numbers per line, x and y")
            x, y = fields[0], fields[1]
            if not rows and not header_seen and not (_NUMBER.match(x) and _NUMBER.match(y)) \
                    and x.lower() not in _MISSING and y.lower() not in _MISSING:
                header_seen = True  # a header line such as "x,y"
                continue
            for value in (x, y):
                if value.lower() in _MISSING:
                    raise ValueError(f"{where}, line {line_no}: a missing or non-finite value "
                                     f"({_shown(value) or 'empty'}); every point needs finite "
                                     "x and y")
                if not _NUMBER.match(value):
                    raise ValueError(f"{where}, line {line_no}: {_shown(value)} is not a number")
            rows.append((float(x), float(y)))
            if len(rows) > MAX_POINTS:
                raise ValueError(f"{where} has more than {MAX_POINTS:,} points; the playground "
                                 f"reads at most {MAX_POINTS:,} (take a random subset)")
    except UnicodeDecodeError:
        raise ValueError(f"{where} is not a text CSV file (it is not UTF-8 text)") from None
    if len(rows) < MIN_POINTS:
        raise ValueError(f"{where} has {len(rows)} points; the playground needs at least "
                         f"{MIN_POINTS} lines of x, y")
    points = np.asarray(rows, np.float64)
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{where}: a value is too large to be a finite number")
    return points


def _shown(text: str) -> str:
    return repr(text if len(text) <= 30 else text[:30] + "...")
