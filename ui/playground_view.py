"""The 2-D playground's pictures: one canvas (land and ocean, a heat map, training points,
samples coloured A / B / C, arrows and lines) drawn with Pillow into a PNG, and the figures
the page shows per model. No Streamlit calls: the page draws; this computes and paints.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image, ImageDraw
from scipy.signal import fftconvolve

from genlib import playground_abc as abc
from genlib import playground_data as pdata

WIDTH = 640  # pixels; the height follows the dataset's extent
COLOURS = {"A": (214, 39, 40), "B": (255, 127, 14), "C": (44, 160, 44)}
TRAIN = (60, 60, 60)
LAND, OCEAN = (236, 228, 205), (200, 222, 240)
SUPPORT, OUTSIDE = (236, 236, 236), (255, 255, 255)
HEAT = np.array([106, 61, 154], np.float64)  # the heat map's colour at full strength
N_SAMPLES = 1000  # samples drawn and classified per model


def size_of(extent, width: int = WIDTH) -> tuple[int, int]:
    x0, x1, y0, y1 = extent
    return width, int(round(width * (y1 - y0) / (x1 - x0)))


def pixel_centres(extent, shape) -> np.ndarray:
    """(h * w, 2) data coordinates of the pixel centres, row 0 at the top."""
    x0, x1, y0, y1 = extent
    w, h = shape
    xs = x0 + (np.arange(w) + 0.5) * (x1 - x0) / w
    ys = y1 - (np.arange(h) + 0.5) * (y1 - y0) / h
    gx, gy = np.meshgrid(xs, ys)
    return np.column_stack([gx.ravel(), gy.ravel()])


@functools.lru_cache(maxsize=16)
def _background(name: str, noise: float, extent: tuple, width: int) -> np.ndarray:
    """(h, w, 3) uint8: land and ocean for the world map, the support in grey for a toy."""
    w, h = size_of(extent, width)
    on = pdata.on_support(name, pixel_centres(extent, (w, h)), noise).reshape(h, w)
    inside, outside = (LAND, OCEAN) if name == "world" else (SUPPORT, OUTSIDE)
    out = np.where(on[..., None], np.array(inside, np.uint8), np.array(outside, np.uint8))
    out.flags.writeable = False  # shared by every canvas: Canvas copies it
    return out


def background(points: pdata.PointSet, width: int = WIDTH) -> np.ndarray:
    if points.name == "upload":  # the estimated support, drawn the same way
        w, h = size_of(points.extent, width)
        on = points.on_support(pixel_centres(points.extent, (w, h))).reshape(h, w)
        return np.where(on[..., None], np.array(SUPPORT, np.uint8), np.array(OUTSIDE, np.uint8))
    return _background(points.name, float(points.noise), tuple(points.extent), width)


def heat_grid(values: np.ndarray, shape) -> np.ndarray:
    """Scale ``values`` (h * w,) to [0, 1] for a heat map (nan: nothing drawn)."""
    w, h = shape
    v = np.asarray(values, np.float64).reshape(h, w)
    finite = np.isfinite(v)
    if not finite.any():
        return np.zeros((h, w))
    lo, hi = np.min(v[finite]), np.max(v[finite])
    return np.where(finite, (v - lo) / (hi - lo) if hi > lo else 0.0, 0.0)


def density_heat(model, extent) -> np.ndarray:
    """A model's density on the canvas' pixels, in [0, 1] (square root for contrast).

    The KDE's is binned: training points counted per pixel, convolved with the kernel (exact
    up to one pixel; its ``score_samples`` on every pixel took ~1 s for 3,500 points).
    """
    w, h = size_of(extent)
    if hasattr(model, "kernel_cov_"):
        x0, x1, y0, y1 = extent
        counts, _, _ = np.histogram2d(model.points_[:, 1], model.points_[:, 0],
                                      bins=(h, w), range=((y0, y1), (x0, x1)))
        counts = counts[::-1]  # row 0 at the top
        px, py = (x1 - x0) / w, (y1 - y0) / h
        sd = np.sqrt(np.diag(model.kernel_cov_))
        rx, ry = [int(min(max(3 * s / p, 1), n)) for s, p, n in ((sd[0], px, w), (sd[1], py, h))]
        ox, oy = np.meshgrid(np.arange(-rx, rx + 1) * px, np.arange(ry, -ry - 1, -1) * py)
        d = np.column_stack([ox.ravel(), oy.ravel()])
        inv = np.linalg.inv(model.kernel_cov_)
        kernel = np.exp(-0.5 * np.einsum("ni,ij,nj->n", d, inv, d)).reshape(ox.shape)
        dens = np.maximum(fftconvolve(counts, kernel, mode="same"), 0.0)
    elif hasattr(model, "fast_log_density"):  # a mixture: k densities per pixel
        dens = _coarse_density(model, extent, (w, h))
    else:
        dens = np.exp(model.score_samples(pixel_centres(extent, (w, h)))).reshape(h, w)
    return np.sqrt(heat_grid(dens, (w, h)))


def _coarse_density(model, extent, shape, budget: float = 2e6) -> np.ndarray:
    """A mixture's density (h, w) from at most ``budget`` pixel-component pairs: on a
    coarser grid when k is large, stretched bilinearly (k = 100 on every pixel took ~0.5 s;
    the density is smooth on the scale of its components)."""
    w, h = shape
    k = len(model.weights_)
    cw = min(w, max(64, int(np.sqrt(budget / k * w / h))))
    ch = max(2, int(round(cw * h / w)))
    dens = np.exp(model.fast_log_density(pixel_centres(extent, (cw, ch)))).reshape(ch, cw)
    if cw == w:
        return dens
    img = Image.fromarray(dens.astype(np.float32), "F").resize((w, h), Image.BILINEAR)
    return np.asarray(img, np.float64)


def coarse_heat(f, extent, width: int = WIDTH, cells: int = 64) -> np.ndarray:
    """``f`` (points -> values) on a grid ``cells`` wide, stretched smoothly to the canvas'
    pixels (a network on all ~400,000 pixels took seconds per redraw)."""
    w, h = size_of(extent, width)
    cw, ch = cells, max(2, int(round(cells * h / w)))
    v = np.asarray(f(pixel_centres(extent, (cw, ch))), np.float64).reshape(ch, cw)
    img = Image.fromarray(np.clip(v, 0, 1).astype(np.float32), "F").resize((w, h),
                                                                         Image.BILINEAR)
    return np.asarray(img, np.float64)


class Canvas:
    """Paint in data coordinates onto a background; ``png()`` at the end."""

    def __init__(self, extent, base: np.ndarray, heat: np.ndarray | None = None,
                 heat_colour=HEAT):
        self.extent = extent
        rgb = np.asarray(base)
        if rgb.dtype != np.uint8:
            rgb = np.clip(rgb, 0, 255).astype(np.uint8)
        if heat is not None:  # 32 levels: smooth enough, and the PNG is 3-4x smaller
            # alpha 0..0.75 blended by Pillow in uint8 (the same in float64 took ~9 ms of a
            # 448 x 448 redraw, 4 times a second while training)
            levels = np.round(np.clip(heat, 0, 1) * 32)
            alpha = Image.fromarray((levels * (0.75 * 255 / 32) + 0.5).astype(np.uint8), "L")
            solid = Image.new("RGB", alpha.size, tuple(int(v) for v in heat_colour))
            rgb = np.asarray(Image.composite(solid, Image.fromarray(rgb, "RGB"), alpha))
        self.rgb = np.array(rgb)
        self.h, self.w = self.rgb.shape[:2]
        self._drawn = False  # PIL holds strokes not yet in self.rgb

    @property
    def draw(self) -> ImageDraw.ImageDraw:
        """PIL's pen on the current picture (for lines and arrows)."""
        if not self._drawn:
            self.image = Image.fromarray(self.rgb, "RGB")
            self._pen = ImageDraw.Draw(self.image)
            self._drawn = True
        return self._pen

    def to_px(self, xy) -> np.ndarray:
        x0, x1, y0, y1 = self.extent
        xy = np.asarray(xy, np.float64)
        return np.column_stack([(xy[:, 0] - x0) / (x1 - x0) * self.w,
                                (y1 - xy[:, 1]) / (y1 - y0) * self.h])

    def points(self, xy, colour, radius: float = 2.0) -> None:
        """Round dots, stamped with numpy (PIL's ellipse per point cost ~20 us each)."""
        self._flush()
        px = self.to_px(xy)
        keep = np.all(np.isfinite(px), axis=1)
        px = np.floor(px[keep]).astype(np.int64)
        r = int(np.ceil(radius))
        oy, ox = np.mgrid[-r:r + 1, -r:r + 1]
        disk = ox ** 2 + oy ** 2 <= radius ** 2 + 0.5
        xs = (px[:, 0:1] + ox[disk][None]).ravel()
        ys = (px[:, 1:2] + oy[disk][None]).ravel()
        inside = (xs >= 0) & (xs < self.w) & (ys >= 0) & (ys < self.h)
        self.rgb[ys[inside], xs[inside]] = colour

    def _flush(self) -> None:
        """Bring PIL's drawing into the numpy array (lines are drawn by PIL)."""
        if self._drawn:
            self.rgb = np.array(self.image)
            self._drawn = False

    def lines(self, polylines, colour, width: int = 1) -> None:
        for line in polylines:
            px = self.to_px(line)
            if np.all(np.isfinite(px)):
                self.draw.line([tuple(p) for p in np.clip(px, -1e4, 1e4)], fill=colour,
                               width=width)

    def arrows(self, starts, vectors, colour, length: float = 0.25) -> None:
        """Arrows from ``starts`` along ``vectors`` (scaled so the longest is ``length``)."""
        v = np.asarray(vectors, np.float64)
        norm = np.linalg.norm(v, axis=1)
        scale = length / max(float(np.nanmax(norm)) if len(norm) else 0.0, 1e-12)
        ends = np.asarray(starts, np.float64) + v * scale
        p0, p1 = self.to_px(starts), self.to_px(ends)
        for a, b in zip(p0, p1):
            if np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
                self.draw.line([tuple(a), tuple(b)], fill=colour, width=1)
                self.draw.ellipse((b[0] - 1.5, b[1] - 1.5, b[0] + 1.5, b[1] + 1.5), fill=colour)

    def png(self) -> bytes:
        self._flush()
        buf = io.BytesIO()
        # compress_level 1: fast, the canvas is redrawn 4 times a second
        Image.fromarray(self.rgb, "RGB").save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    def jpeg(self) -> bytes:
        """A JPEG for frames shown a quarter of a second (while training): ~0.7 ms to encode
        where the PNG takes ~7 ms, and cheaper for the browser to decode. Full colour
        resolution (no 4:2:0 subsampling), so a 2-pixel red dot stays red."""
        self._flush()
        buf = io.BytesIO()
        Image.fromarray(self.rgb, "RGB").save(buf, format="JPEG", quality=90, subsampling=0)
        return buf.getvalue()


def samples_canvas(points: pdata.PointSet, samples, labels, heat=None, heat_colour=HEAT,
                   show_train: bool = True, width: int = WIDTH) -> Canvas:
    """The standard picture: background, heat map, training points, samples by class."""
    c = Canvas(points.extent, background(points, width), heat, heat_colour)
    if show_train:
        c.points(points.train[:3000], TRAIN, 1.0)
    for k in "CBA":  # off-support last: on top, where the eye should go
        sel = np.asarray(labels) == k
        c.points(np.asarray(samples)[sel], COLOURS[k], 2.2)
    return c


def figures(name: str, samples, points: pdata.PointSet, threshold: float,
            loglik: float | None = None, tree=None) -> dict:
    """A row of the A / B / C table: shares, held-out log-likelihood, verdict."""
    result = abc.classify(samples, points, threshold, tree)
    s = result.shares
    return {"Model": name, "A: off-support": s["A"], "B: copy": s["B"], "C: good": s["C"],
            "Held-out log-lik / point": loglik, "Verdict": abc.verdict(
                s, name, "in the ocean" if points.name == "world" else "off the support"),
            "_labels": result.labels}


def velocity_grid(extent, n: int = 17) -> np.ndarray:
    """Points where the flow's arrows start: an n x n grid inside the canvas."""
    x0, x1, y0, y1 = extent
    mx, my = (x1 - x0) / (2 * n), (y1 - y0) / (2 * n)
    gx, gy = np.meshgrid(np.linspace(x0 + mx, x1 - mx, n), np.linspace(y0 + my, y1 - my, n))
    return np.column_stack([gx.ravel(), gy.ravel()])
