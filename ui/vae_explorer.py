"""The VAE page's picture cache and picture helpers (numpy and PIL; no Streamlit calls).

The page keeps one :class:`Explorer` per (model, dataset) in ``st.cache_resource`` and asks it
for pictures by small keys. The numbers come from :mod:`genlib.vae` (``latent_grid``,
``grid_cell``, ``interpolate``, ``class_means``); this module only turns them into PNGs,
strips and charts (:mod:`ui.charts`), and remembers them.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from genlib.vae import VAE, class_means, grid_cell, interpolate, latent_grid
from ui import charts

__all__ = ["Explorer", "latent_grid_png", "spread_strip", "with_point", "SPAN", "STEP"]

SPAN = 3.0  # the sliders and the latent grid span +/- SPAN prior standard deviations
STEP = 0.05  # slider step

# grey levels 0..254 then (index 255) the mark's colour, appended per picture
_GRID_PALETTE = bytes(np.repeat(np.round(np.arange(255) * 255 / 254), 3).astype(np.uint8))


def latent_grid_png(model: VAE, z, dims=(0, 1), n: int = 13, span: float = SPAN,
                    scale: int = 2, mark=(209, 73, 91), grid=None, cell=None) -> bytes:
    """:func:`genlib.vae.latent_grid` as a PNG, the cell nearest to ``z`` outlined in ``mark``.

    ``grid``: an (images, values) pair from :func:`~genlib.vae.latent_grid` to reuse (it does
    not depend on z along ``dims``, so moving one of those two sliders only moves the outline).
    ``cell``: the (row, col) to outline instead of the one nearest to ``z``.

    A palette PNG (255 grey levels and the mark's colour): one byte per pixel instead of
    three, so encoding takes about a third of the time of an RGB image.
    """
    from PIL import Image

    from genlib.images import tile, upscale

    images, values = grid if grid is not None else latent_grid(model, z, dims, n, span)
    pad = 2
    # grey level g in [0, 1] -> palette index 0..254 (index 255 is the mark)
    index = (np.clip(tile(images, n, pad=pad, pad_value=1.0), 0.0, 1.0) * 254.0 + 0.5
             ).astype(np.uint8)
    row, col = grid_cell(values, z, dims) if cell is None else cell
    top, left = row * (28 + pad), col * (28 + pad)
    y0, y1 = max(top - pad, 0), min(top + 28 + pad, index.shape[0])
    x0, x1 = max(left - pad, 0), min(left + 28 + pad, index.shape[1])
    inner = index[y0 + pad:y1 - pad, x0 + pad:x1 - pad].copy()
    index[y0:y1, x0:x1] = 255  # a frame in the padding around the cell
    index[y0 + pad:y1 - pad, x0 + pad:x1 - pad] = inner
    image = Image.fromarray(upscale(index, scale), mode="P")
    image.putpalette(_GRID_PALETTE + bytes(int(c) for c in mark))
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def with_point(spec: dict, z, dims, label: str = "your digit") -> dict:
    """A scatter spec from :func:`ui.charts.scatter_chart` with one more point, ``z`` in
    ``dims``, drawn as a large black-edged star over the cloud (its own inline data)."""
    i, j = (int(k) for k in dims)
    z = np.clip(np.asarray(z, np.float64).ravel(), -3.9, 3.9)  # stay inside the axes
    base = {k: v for k, v in spec.items() if k not in ("height", "config")}
    enc = spec["encoding"]
    point = {"data": {"values": [{"x": float(z[i]), "y": float(z[j]), "what": label}]},
             "mark": {"type": "point", "shape": "diamond", "size": 420, "filled": True,
                      "color": "#111111", "stroke": "#ffffff", "strokeWidth": 2, "opacity": 1},
             "encoding": {"x": {**enc["x"]}, "y": {**enc["y"]},
                          "tooltip": [{"field": "what", "type": "nominal", "title": " "}]}}
    return {"height": spec.get("height", 560), "config": spec.get("config", {}),
            "layer": [base, point]}


def spread_strip(values, lo: float = -SPAN, hi: float = SPAN, width: int = 300,
                 height: int = 10) -> np.ndarray:
    """A (height, width) strip in [0, 1], darker where ``values`` are dense along [lo, hi]."""
    counts, _ = np.histogram(np.clip(values, lo, hi), bins=width, range=(lo, hi))
    kernel = np.exp(-0.5 * (np.arange(-12, 13) / 4.0) ** 2)
    density = np.convolve(counts, kernel, mode="same")
    density = density / density.max() if density.max() > 0 else density
    return np.tile(1.0 - 0.85 * density, (height, 1)).astype(np.float32)


class _LRU:
    """A small thread-safe least-recently-used memo: ``get(key, make)``."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = int(size), OrderedDict(), threading.Lock()
        self.misses = 0

    def get(self, key, make):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            self.misses += 1
        value = make()  # outside the lock: two threads may both compute, both get a value
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def _frozen(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays[0] if len(arrays) == 1 else arrays


class Explorer:
    """What the latent-space explorer shows of one model on one dataset, each picture made once.

    Pure numpy and PIL. The page keeps one Explorer per (model, dataset) (Streamlit's
    cache_resource) and asks it for pictures by small keys: nothing is hashed or copied per
    rerun, and a slider move only computes what it changed. Shared between sessions, so
    every array it returns is read-only; the memos are bounded and thread-safe.

    Attributes (from the mean encodings of up to ``max_train`` training and ``max_test``
    held-out digits, a seeded subset)
    ----------
    model : the :class:`~genlib.vae.VAE`
    train_z, test_z : (n, latent_dim) mean encodings; test_labels : (n,) their classes
    means : (10, latent_dim) class means of the training encodings
    order : dims by the variance of the training encodings, largest first
    active, unused : dims whose variance is above / at most 0.01 (Burda et al.'s "active
        units"); ``active`` is ``order`` if none is
    outside : share of training digits encoded outside the sliders' +/-SPAN box
    strips : one :func:`spread_strip` PNG per dim
    """

    GRID_N = 11

    def __init__(self, model: VAE, data, max_train: int = 10_000, max_test: int = 2_000):
        from genlib.images import tile, to_png

        self._tile, self._png = tile, to_png
        self.model, self.data = model, data
        rng = np.random.default_rng(0)
        tr = np.sort(rng.permutation(len(data.train))[:max_train])
        te = np.sort(rng.permutation(len(data.test))[:max_test])
        self.train_z = _frozen(model.encode(data.train.images[tr])[0])
        self.test_z = _frozen(model.encode(data.test.images[te])[0])
        self.test_labels = _frozen(np.array(data.test.labels[te]))
        self.means = _frozen(class_means(self.train_z, data.train.labels[tr]))
        activity = self.train_z.var(axis=0)
        self.order = [int(i) for i in np.argsort(-activity, kind="stable")]
        self.active = [i for i in self.order if activity[i] > 0.01] or list(self.order)
        self.unused = [i for i in self.order if i not in self.active]
        self.outside = float(np.mean(np.any(np.abs(self.train_z) > SPAN, axis=1)))
        self.strips = [to_png(spread_strip(self.train_z[:, i])) for i in range(model.latent_dim)]
        self._grids, self._grid_pngs = _LRU(4), _LRU(32)
        self._pictures, self._extras = _LRU(32), _LRU(32)

    # -- the latent grid

    @property
    def grid_decodes(self) -> int:
        """How many grids were decoded so far (each costs 121 decoder passes)."""
        return self._grids.misses

    def grid(self, dims, z) -> tuple[np.ndarray, np.ndarray]:
        """:func:`~genlib.vae.latent_grid` (n = 11) over ``dims``, the other dims at ``z``.

        The grid does not depend on z along ``dims``: moving one of those two sliders
        reuses it.
        """
        dims, rest = self._grid_key(dims, z)
        return self._grids.get((dims, rest), lambda: _frozen(*latent_grid(
            self.model, np.array(rest, np.float32), dims, n=self.GRID_N)))

    def grid_png(self, dims, z, scale: int = 2) -> bytes:
        """:func:`latent_grid_png` of :meth:`grid` with the cell nearest to ``z`` outlined.

        A move along the grid's own dims within a cell costs nothing; to another cell, one
        PNG encoding and no decoding.
        """
        dims, rest = self._grid_key(dims, z)
        images, values = self.grid(dims, z)
        cell = grid_cell(values, z, dims)
        return self._grid_pngs.get((dims, rest, cell, scale), lambda: latent_grid_png(
            self.model, z, dims, n=self.GRID_N, scale=scale, grid=(images, values), cell=cell))

    def _grid_key(self, dims, z) -> tuple[tuple[int, int], tuple]:
        i, j = (int(k) for k in dims)
        z = np.asarray(z, np.float32).ravel()
        if z.shape != (self.model.latent_dim,):
            raise ValueError(f"z must have {self.model.latent_dim} values, got {z.shape}")
        rest = z.copy()
        rest[[i, j]] = 0
        return (i, j), tuple(rest.tolist())

    # -- the other pictures (PNG bytes, seeded: the same inputs give the same picture)

    def samples(self, seed: int, prior: str = "model") -> tuple[np.ndarray, bytes]:
        """100 draws from the prior with ``seed`` and their 10 x 10 grid PNG (scale 3);
        ``prior`` "model" (the model's own: a learned mixture if it has one) or "standard"."""
        def make():
            x = _frozen(self.model.sample(100, rng=seed, prior=prior).images)
            return x, self._png(self._tile(x, 10), scale=3)
        return self._pictures.get(("samples", int(seed), prior), make)

    def held_out_digits(self, seed: int) -> list[int]:
        """Indices of one seeded held-out digit per class, 0 to 9."""
        def make():
            rng, labels, idx = np.random.default_rng(seed), self.data.test.labels, []
            for k in range(10):
                if not np.any(labels == k):
                    raise ValueError(f"the held-out digits have no {k}s")
                idx.append(int(rng.choice(np.flatnonzero(labels == k))))
            return tuple(idx)
        return list(self._pictures.get(("held_out", int(seed)), make))

    def reconstructions_png(self, seed: int) -> bytes:
        """:meth:`held_out_digits` (top row) over their reconstructions (bottom), scale 4."""
        def make():
            x = self.data.test.images[self.held_out_digits(seed)]
            return self._png(self._tile(np.concatenate([x, self.model.reconstruct(x)]), 10),
                             scale=4)
        return self._pictures.get(("reconstructions", int(seed)), make)

    def interpolation_png(self, start: int, end: int, endpoints: str = "class means",
                          seed: int = 0, steps: int = 12) -> bytes:
        """:func:`~genlib.vae.interpolate` from class ``start`` to ``end`` as a strip PNG (scale 4).

        ``endpoints``: "class means", or anything else for the two classes' digits in
        :meth:`held_out_digits` (``seed``).
        """
        means = endpoints == "class means"

        def make():
            if means:
                for k in (start, end):
                    if np.isnan(self.means[k]).any():
                        raise ValueError(f"the training digits have no {k}s: pick two digits "
                                         "they have")
                za, zb = self.means[start], self.means[end]
            else:
                idx = self.held_out_digits(seed)
                za, zb = self.model.encode(self.data.test.images[[idx[start], idx[end]]])[0]
            return self._png(self._tile(interpolate(self.model, za, zb, steps), steps), scale=4)
        key = ("interpolation", int(start), int(end), means, None if means else int(seed), steps)
        return self._pictures.get(key, make)

    def your_digit(self, key, data: bytes) -> tuple[np.ndarray, np.ndarray, bytes]:
        """An uploaded image (``key`` names it, e.g. its upload id) as MNIST: the 28 x 28
        digit, its mean encoding, and the PNG of it over its reconstruction (scale 4).
        Raises ValueError (a message for a user) for a file that is not a usable image."""
        def make():
            from genlib.digit_upload import prepare_digit

            digit = prepare_digit(data)
            mean = self.model.encode(digit)[0][0]
            pair = np.stack([digit, self.model.decode(mean)[0]])
            return _frozen(digit), _frozen(mean), self._png(self._tile(pair, 1), scale=4)
        return self._pictures.get(("upload", key), make)

    def encode_digit(self, key, digit) -> tuple[np.ndarray, bytes]:
        """A 28 x 28 digit already prepared (a drawing or an upload; ``key`` names it): its
        mean encoding and the PNG of it over its reconstruction (scale 4)."""
        def make():
            x = np.asarray(digit, np.float32).reshape(28, 28)
            mean = self.model.encode(x)[0][0]
            pair = np.stack([x, self.model.decode(mean)[0]])
            return _frozen(mean), self._png(self._tile(pair, 1), scale=4)
        return self._pictures.get(("digit", key), make)

    # -- charts and files

    def scatter_chart(self, dims) -> tuple[dict, dict]:
        """:func:`ui.charts.scatter_chart` of the held-out encodings in ``dims``."""
        i, j = (int(k) for k in dims)
        return self._pictures.get(("scatter", i, j), lambda: charts.scatter_chart(
            self.test_z, self.test_labels, (i, j)))

    def history_chart(self) -> tuple[dict, dict]:
        """:func:`ui.charts.history_chart` of the model's training history."""
        return self._pictures.get(("history",), lambda: charts.history_chart(self.model.history))

    def weights_file(self) -> bytes:
        """The model's weights file as it is on disk (for a download button)."""
        return self._pictures.get(("weights",), lambda: Path(self.model.path).read_bytes())

    def memo(self, key, make):
        """Keep anything else derived from this model and dataset (e.g. a UI's conversion of
        a chart's columns): ``make()`` runs once per ``key`` (32 kept)."""
        return self._extras.get(key, make)
