"""Every Vega-Lite chart GenLab draws, as plain dicts (one idiom for every page).

Why dicts, not Altair: Altair validated a JSON schema on every redraw (~0.5 s per chart per
rerun here); a dict costs nothing and any Vega-Lite renderer takes it. Charts that redraw
live are drawn on a canvas, with at most ~150 points a line: a redraw of the GAN's two line
charts costs Chromium 41% less CPU than SVG with 300 points.

genlib computes the numbers; this module only turns them into specs. Sections: shared,
Gaussian explorer, VAE, GAN. Each page's helper functions live in its own section.
"""

from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------- shared

CANVAS = {"embedOptions": {"renderer": "canvas"}}  # as "usermeta": draw on a canvas, not SVG
FONTS = {"axis": {"labelFontSize": 15, "titleFontSize": 17},
         "legend": {"labelFontSize": 16, "titleFontSize": 16, "symbolStrokeWidth": 3}}


def records(columns: dict, **decimals) -> list[dict]:
    """Columns -> a list of per-row dicts of plain Python values (rounded where asked)."""
    names = list(columns)
    rows = zip(*(list(np.asarray(columns[k]).tolist()) for k in names))
    return [{k: round(v, decimals[k]) if k in decimals else v for k, v in zip(names, row)}
            for row in rows]


# ----------------------------------------------------------------------------- Gaussian explorer
# (section: Gaussian explorer; end of section)

# The explorer's live charts: the browser draws them, so a slider move costs the server only
# the arithmetic (a matplotlib redraw is 0.1-1 s here). Its PNG downloads (matplotlib) are in
# ui/gaussian_view.py and share these colours and the pdf's y range.

PDF_BLUE, X_RED, NUMPY_GREY, Z_GREEN = "#1f4e9c", "#d1495b", "#8a8f98", "#2a9d55"
# Set on each axis (not in "config"), where Streamlit's chart theme cannot override them.
_G_AXIS = {"labelFontSize": 15, "titleFontSize": 16, "titleFontWeight": "normal",
           "labelColor": "#333333", "titleColor": "#111111"}
_G_YAXIS = {**_G_AXIS, "minExtent": 62, "maxExtent": 62}  # equal widths align stacked x axes


def pdf_top(dist, pdf: np.ndarray) -> float:
    """The top of a pdf chart: its peak, but not a spike where the pdf blows up at an edge."""
    top = np.nanmax(pdf) if np.isfinite(pdf).any() else 1.0
    if dist.family in ("gamma", "beta", "lognormal"):  # pdfs that can blow up at an edge
        top = min(top, 4 * np.nanpercentile(pdf, 95))
    return 1.12 * float(top)


def _g_chart(layers: list, title: str = "", height: int = 240, **extra) -> dict:
    spec = {"height": height, "layer": layers, **extra}
    if title:
        spec["title"] = {"text": title, "fontSize": 17, "fontWeight": "normal", "anchor": "start",
                         "color": "#111111"}
    return spec


def _g_xy(x: str, y: str, xdomain, ydomain=None, xtitle="x", ytitle="", **kw) -> dict:
    xs = {"field": x, "type": "quantitative", "title": xtitle, "axis": _G_AXIS,
          "scale": {"domain": [float(v) for v in xdomain], "nice": False, "zero": False}}
    ys = {"field": y, "type": "quantitative", "title": ytitle, "axis": _G_YAXIS}
    if ydomain is not None:
        ys["scale"] = {"domain": [float(v) for v in ydomain], "nice": False, "zero": False}
    return {"x": xs, "y": ys, **kw}


def _g_rows(**columns) -> list[dict]:
    """Float columns -> chart rows, rounded to 8 decimals (shorter JSON, same picture)."""
    return records({k: np.asarray(v, dtype=np.float64) for k, v in columns.items()},
                   **dict.fromkeys(columns, 8))


def crosshair_charts(dist, z: float) -> tuple[dict, dict]:
    """Two specs on the same x axis for a :class:`genlib.distributions.Dist`: the pdf with the
    area z shaded left of x = ppf(z) and x marked under it; the cdf with the crosshair from z
    across and down to x."""
    x = dist.point(z)  # checks 0 < z < 1
    z = float(z)
    lo, hi = dist.plot_range()
    xs, pdf = dist.curve(lo, hi, 300)
    pdf = np.nan_to_num(pdf, nan=0.0)
    top = pdf_top(dist, pdf)
    pdf = np.minimum(pdf, top)
    xc = min(max(x, lo), hi)
    px = min(float(np.nan_to_num(dist.pdf(x), nan=0.0, posinf=top)), top)
    curve = {"values": _g_rows(x=xs, p=pdf, F=dist.cdf(xs))}
    mark = {"values": [{"x": xc, "z": z, "p": px, "zero": 0.0, "lo": lo}]}
    right = xc > (lo + hi) / 2

    def on_pdf(x_field, y_field):
        return _g_xy(x_field, y_field, (lo, hi), (0, top), "", "pdf  p(x)")

    def on_cdf(x_field, y_field):
        return _g_xy(x_field, y_field, (lo, hi), (-0.02, 1.04), "x", "cdf  z = F(x)")

    pdf_spec = _g_chart([
        {"data": curve, "transform": [{"filter": f"datum.x <= {xc!r}"}],
         "mark": {"type": "area", "color": X_RED, "opacity": 0.22},
         "encoding": on_pdf("x", "p")},
        {"data": curve, "mark": {"type": "line", "color": PDF_BLUE, "strokeWidth": 3},
         "encoding": on_pdf("x", "p")},
        {"data": mark, "mark": {"type": "rule", "color": X_RED, "strokeWidth": 3},
         "encoding": {**on_pdf("x", "zero"), "y2": {"field": "p"}}},
        {"data": mark, "mark": {"type": "point", "filled": True, "color": X_RED, "size": 140,
                                "opacity": 1},
         "encoding": on_pdf("x", "zero")},
    ], f"{dist}", height=230)
    dashed = {"type": "rule", "color": X_RED, "strokeWidth": 3, "strokeDash": [9, 5]}
    cdf_spec = _g_chart([
        {"data": curve, "mark": {"type": "line", "color": PDF_BLUE, "strokeWidth": 3},
         "encoding": on_cdf("x", "F")},
        {"data": mark, "mark": dashed,
         "encoding": {**on_cdf("lo", "z"), "x2": {"field": "x"}}},
        {"data": mark, "mark": dashed,
         "encoding": {**on_cdf("x", "z"), "y2": {"field": "zero"}}},
        {"data": {"values": [{"x": lo, "y": z, "c": Z_GREEN}, {"x": xc, "y": z, "c": X_RED},
                             {"x": xc, "y": 0.0, "c": X_RED}]},
         "mark": {"type": "point", "filled": True, "size": 140, "opacity": 1},
         "encoding": {**on_cdf("x", "y"),
                      "color": {"field": "c", "type": "nominal", "scale": None}}},
        {"data": mark, "mark": {"type": "text", "color": Z_GREEN, "fontSize": 16,
                                "fontWeight": "bold", "align": "left", "dx": 10, "dy": -12},
         "encoding": {**on_cdf("lo", "z"),
                      "text": {"value": f"z = {z:.4f}"}}},
        {"data": mark, "mark": {"type": "text", "color": X_RED, "fontSize": 16,
                                "fontWeight": "bold", "align": "right" if right else "left",
                                "dx": -10 if right else 10, "dy": -14},
         "encoding": {**on_cdf("x", "zero"),
                      "text": {"value": f"x = ppf(z) = {x:.5g}"}}},
    ], height=250)
    return pdf_spec, cdf_spec


def _g_hist_rows(x, lo: float, hi: float, bins: int) -> tuple[list[dict], int]:
    counts, edges = np.histogram(x, bins=bins, range=(lo, hi))
    return (_g_rows(a=edges[:-1], b=edges[1:], d=counts / (len(x) * (edges[1] - edges[0]))),
            int(len(x) - counts.sum()))


def sample_charts(dist, z, x, x_direct) -> list[dict]:
    """Three histograms (as densities over all n points): the zs over U(0, 1), x = ppf(z) and
    numpy's draws, each of the latter with the pdf drawn over it."""
    n = len(x)
    bins = int(np.clip(np.sqrt(n), 10, 60))
    lo, hi = dist.plot_range()
    xs, pdf = dist.curve(lo, hi, 300)
    curve = {"values": _g_rows(x=xs, p=np.nan_to_num(pdf))}
    specs = []
    for sample, title, color, a, b, name in (
            (z, f"the latent: {n:,} z ~ U(0, 1)", Z_GREEN, 0.0, 1.0, "z"),
            (x, "the data: x = ppf(z)", X_RED, lo, hi, "x"),
            (x_direct, "numpy's own sampler", NUMPY_GREY, lo, hi, "x")):
        rows, off = _g_hist_rows(sample, a, b, bins)
        layers = [{"data": {"values": rows},
                   "mark": {"type": "rect", "color": color, "opacity": 0.55},
                   "encoding": {**_g_xy("a", "d", (a, b), None, name, "density"),
                                "x2": {"field": "b"}, "y2": {"datum": 0}}}]
        if name == "z":
            layers.append({"data": {"values": [{"a": 0.0, "b": 1.0, "d": 1.0}]},
                           "mark": {"type": "rule", "color": "black", "strokeWidth": 2.5},
                           "encoding": {**_g_xy("a", "d", (0, 1), None, name, "density"),
                                        "x2": {"field": "b"}}})
        else:
            layers.append({"data": curve, "mark": {"type": "line", "color": PDF_BLUE,
                                                   "strokeWidth": 3},
                           "encoding": _g_xy("x", "p", (lo, hi), None, name, "density")})
        if off:
            title += f" ({off:,} off the chart)"
        specs.append(_g_chart(layers, title, height=320))
    return specs


_G_SYMBOL = {"mu": "μ", "sigma": "σ"}


def likelihood_charts(profiles) -> list[dict]:
    """One chart per :class:`genlib.distributions.Profile` (from ``likelihood_profiles``): the
    log-likelihood relative to its maximum, the MLE (red), the true value (dashed) and the
    95% likelihood interval (shaded)."""
    specs = []
    for prof in profiles:
        name = _G_SYMBOL[prof.param]
        other = _G_SYMBOL["sigma" if prof.param == "mu" else "mu"]
        grid, ll = prof.grid, prof.ll
        keep = ll > -25  # the rest is far below the chart
        dom = (grid[0], grid[-1])
        ydom, ytitle = (-20, 1.5), "log-likelihood − max"
        specs.append(_g_chart([
            {"data": {"values": [{"a": dom[0], "b": dom[1], "lo": -1.92, "hi": 0.0}]},
             "mark": {"type": "rect", "color": PDF_BLUE, "opacity": 0.1},
             "encoding": {**_g_xy("a", "lo", dom, ydom, name, ytitle), "x2": {"field": "b"},
                          "y2": {"field": "hi"}}},
            {"data": {"values": _g_rows(t=grid[keep], ll=ll[keep])},
             "mark": {"type": "line", "color": PDF_BLUE, "strokeWidth": 3, "clip": True},
             "encoding": _g_xy("t", "ll", dom, ydom, name, ytitle)},
            {"data": {"values": [{"t": prof.hat}]}, "mark": {"type": "rule", "color": X_RED,
                                                             "strokeWidth": 3},
             "encoding": {"x": _g_xy("t", "t", dom, None, name)["x"]}},
            {"data": {"values": [{"t": prof.true}]},
             "mark": {"type": "rule", "color": "black", "strokeWidth": 2, "strokeDash": [7, 4]},
             "encoding": {"x": _g_xy("t", "t", dom, None, name)["x"]}},
        ], f"in {name}, at {other} = {other}̂ = {prof.other_hat:.4g}: MLE {name}̂ = "
           f"{prof.hat:.4g} (red), true {name} = {prof.true:g} (dashed)", height=320))
    return specs


# ----------------------------------------------------------------------------- VAE
# (section: VAE; end of section)
# The VAE page's charts are static (drawn once per model), so they keep Vega-Lite's default
# SVG renderer. Each comes as (spec without data, columns) for ``st.vega_lite_chart(
# pyarrow.table(columns), spec)``: turning a list of per-point dicts into a table costs the
# renderer ~5 ms for 2,000 points; ``*_spec`` inlines the data for any other renderer.


def scatter_chart(z: np.ndarray, labels: np.ndarray, dims=(0, 1),
                  height: int = 560) -> tuple[dict, dict]:
    """Vega-Lite scatter of latent points ``z`` (n, d) in two dims, coloured by digit class.

    Returns (spec without data, columns: numeric arrays, strings as lists).
    """
    i, j = (int(k) for k in dims)
    z = np.asarray(z)
    columns = {"x": np.asarray(z[:, i], np.float32), "y": np.asarray(z[:, j], np.float32),
               "digit": [str(k) for k in np.asarray(labels).astype(int).tolist()]}
    axis = {"type": "quantitative", "scale": {"domain": [-4, 4]}}
    spec = {"height": height,
            "mark": {"type": "circle", "size": 45, "opacity": 0.75},
            "encoding": {"x": {"field": "x", "title": f"z{i + 1}", **axis},
                         "y": {"field": "y", "title": f"z{j + 1}", **axis},
                         "color": {"field": "digit", "type": "nominal", "title": "Digit",
                                   "scale": {"scheme": "category10"}},
                         "tooltip": [{"field": "digit", "type": "nominal"}]},
            "config": FONTS}
    return spec, columns


def scatter_spec(z: np.ndarray, labels: np.ndarray, dims=(0, 1), height: int = 560) -> dict:
    """:func:`scatter_chart` as one spec with its data inline (any Vega-Lite renderer)."""
    spec, columns = scatter_chart(z, labels, dims, height)
    return {"data": {"values": records(columns, x=4, y=4)}, **spec}


def history_chart(history: list[dict], height: int = 360) -> tuple[dict, dict]:
    """Vega-Lite lines of a VAE's per-epoch reconstruction and KL terms (held-out dashed).

    ``history``: rows with epoch, recon, kl (and val_recon, val_kl), as
    :attr:`genlib.vae.VAE.history`. Returns (spec without data, columns), as
    :func:`scatter_chart`.
    """
    parts = {"recon": ("reconstruction", "training"), "kl": ("KL", "training"),
             "val_recon": ("reconstruction", "held-out"), "val_kl": ("KL", "held-out")}
    rows = [(row["epoch"], float(row[k]), term, split, k)
            for row in history for k, (term, split) in parts.items() if k in row]
    columns = {"epoch": np.array([r[0] for r in rows], np.int64),
               "nats": np.array([r[1] for r in rows], np.float64),
               **{name: [r[c] for r in rows] for c, name in enumerate(("term", "split", "series"),
                                                                      start=2)}}
    spec = {"height": height,
            "mark": {"type": "line", "strokeWidth": 3},
            "encoding": {"x": {"field": "epoch", "type": "quantitative"},
                         "y": {"field": "nats", "type": "quantitative",
                               "title": "nats per digit", "scale": {"type": "log"}},
                         "color": {"field": "term", "type": "nominal", "title": None,
                                   "scale": {"range": ["#d1495b", "#1f4e9c"]}},
                         "strokeDash": {"field": "split", "type": "nominal", "title": None,
                                        "sort": ["training", "held-out"]},
                         "detail": {"field": "series"}},
            "config": {**FONTS, "legend": {**FONTS["legend"], "orient": "bottom",
                                           "symbolSize": 400}}}
    return spec, columns


def history_spec(history: list[dict], height: int = 360) -> dict:
    """:func:`history_chart` as one spec with its data inline."""
    spec, columns = history_chart(history, height)
    return {"data": {"values": records(columns)}, **spec}



# ----------------------------------------------------------------------------- GAN
# (section: GAN; end of section)
# The GAN page redraws these while training runs on the same 2 cores as the browser: on a
# canvas, at most 150 points a line (see the module docstring for the measured savings).


def gan_history_chart(history: dict, series: dict, y_title: str, rule: float | None = None,
                  height: int = 220, max_points: int = 150) -> dict:
    """Lines of ``history[key]`` against step, one per ``series`` {key: (label, colour)},
    thinned to at most ``max_points`` points; a dashed grey ``rule`` if given."""
    steps = np.asarray(history["step"])
    stride = max(1, -(-len(steps) // max_points))  # ceil: never more than max_points
    values = [{"step": int(st), "series": label, "value": float(v)}
              for key, (label, _) in series.items()
              for st, v in zip(steps[::stride], np.asarray(history[key])[::stride])]
    labels = [label for label, _ in series.values()]
    colours = [colour for _, colour in series.values()]
    layers = [{"mark": {"type": "line", "strokeWidth": 1.5}, "encoding": {
        "x": {"field": "step", "type": "quantitative", "title": "step"},
        "y": {"field": "value", "type": "quantitative", "title": y_title},
        "color": {"field": "series", "type": "nominal", "title": None,
                  "scale": {"domain": labels, "range": colours},
                  "legend": {"orient": "bottom"}}}}]
    if rule is not None:
        layers.append({"mark": {"type": "rule", "color": "#888888", "strokeDash": [6, 4]},
                       "encoding": {"y": {"datum": rule}}})
    return {"data": {"values": values}, "height": height, "layer": layers, "usermeta": CANVAS}


def gan_shares_chart(shares, threshold: float = 0.04, height: int = 200) -> dict:
    """Bars of each digit's share, digits under ``threshold`` in red, the threshold dashed."""
    values = [{"digit": str(k), "share": float(v), "rare": bool(v < threshold)}
              for k, v in enumerate(np.asarray(shares))]
    return {"data": {"values": values}, "height": height, "usermeta": CANVAS, "layer": [
        {"mark": {"type": "bar"}, "encoding": {
            "x": {"field": "digit", "type": "ordinal", "title": "digit",
                  "axis": {"labelAngle": 0}},
            "y": {"field": "share", "type": "quantitative", "title": "share",
                  "axis": {"format": "%"}},
            "color": {"field": "rare", "type": "nominal", "legend": None,
                      "scale": {"domain": [False, True], "range": ["#1f4e9c", "#d62728"]}},
            "tooltip": [{"field": "digit"}, {"field": "share", "format": ".1%"}]}},
        {"mark": {"type": "rule", "color": "#888888", "strokeDash": [6, 4]},
         "encoding": {"y": {"datum": threshold}}}]}


# ----------------------------------------------------------------------------- Diffusion
# (section: Diffusion; end of section)
# The Diffusion page's charts are small and static per setting: default SVG renderer.

DF_SIGNAL, DF_NOISE = "#1f4e9c", "#d1495b"


def diffusion_schedule_chart(t_now: float, height: int = 220, n: int = 101) -> dict:
    """The straight path's signal share 1 - t and noise share t against t, t_now marked."""
    t = np.linspace(0.0, 1.0, n)
    values = ([{"t": round(float(v), 3), "share": round(1 - float(v), 3), "part": "signal 1 − t"}
               for v in t]
              + [{"t": round(float(v), 3), "share": round(float(v), 3), "part": "noise t"}
                 for v in t])
    return {"data": {"values": values}, "height": height, "layer": [
        {"mark": {"type": "line", "strokeWidth": 3}, "encoding": {
            "x": {"field": "t", "type": "quantitative", "title": "t"},
            "y": {"field": "share", "type": "quantitative", "title": "share of x_t"},
            "color": {"field": "part", "type": "nominal", "title": None,
                      "scale": {"domain": ["signal 1 − t", "noise t"],
                                "range": [DF_SIGNAL, DF_NOISE]},
                      "legend": {"orient": "bottom"}}}},
        {"mark": {"type": "rule", "color": "#444444", "strokeDash": [6, 4]},
         "encoding": {"x": {"datum": float(t_now)}}}], "config": FONTS}


def diffusion_snr_chart(t_now: float, height: int = 220, n: int = 99) -> dict:
    """log10 of the signal-to-noise ratio ((1 - t) / t)^2 against t, t_now marked."""
    t = np.linspace(0.01, 0.99, n)
    values = [{"t": round(float(v), 3), "log10 SNR": round(float(2 * np.log10((1 - v) / v)), 3)}
              for v in t]
    return {"data": {"values": values}, "height": height, "layer": [
        {"mark": {"type": "line", "strokeWidth": 3, "color": "#6a4c93"}, "encoding": {
            "x": {"field": "t", "type": "quantitative", "title": "t"},
            "y": {"field": "log10 SNR", "type": "quantitative",
                  "title": "log10 signal-to-noise"}}},
        {"mark": {"type": "rule", "color": "#444444", "strokeDash": [6, 4]},
         "encoding": {"x": {"datum": float(t_now)}}}], "config": FONTS}


def diffusion_prior_chart(groups: dict, dims=(0, 1), height: int = 420) -> dict:
    """Latent points of several groups {name: (n, d)} in two dims, one colour per group."""
    i, j = (int(k) for k in dims)
    colours = ["#8a8f98", DF_NOISE, DF_SIGNAL]
    values = [{"x": round(float(p[i]), 3), "y": round(float(p[j]), 3), "group": name}
              for name, pts in groups.items() for p in np.asarray(pts)]
    axis = {"type": "quantitative", "scale": {"domain": [-4, 4]}}
    return {"data": {"values": values}, "height": height,
            "mark": {"type": "circle", "size": 22, "opacity": 0.55},
            "encoding": {"x": {"field": "x", "title": f"z{i + 1}", **axis},
                         "y": {"field": "y", "title": f"z{j + 1}", **axis},
                         "color": {"field": "group", "type": "nominal", "title": None,
                                   "scale": {"domain": list(groups),
                                             "range": colours[:len(groups)]},
                                   "legend": {"orient": "bottom"}}},
            "config": FONTS}
